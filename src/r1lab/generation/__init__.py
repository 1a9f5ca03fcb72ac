"""Text generation behind one interface: `generate(prompts, n, sampling) -> completions`.

Evaluation and teacher generation (the `generate` kind) ask a `Generator` for `n` completions per
prompt and get each one's text with its metadata (finish reason, token counts), whatever the
backend. A prompt is a string (sent as is) or a list of chat messages (rendered with the model's
chat template). Backends, one module each:

- `vllm`: vLLM's offline engine (`vllm.LLM`) in this process, tensor parallel over the node's GPUs;
- `openai`: any OpenAI-compatible endpoint (vLLM's server, sglang, a hosted API);
- `hf`: transformers `generate`, wherever vLLM cannot install (and as fast on a small CPU run).
"""

from __future__ import annotations

from typing import Any

from r1lab.errors import RecipeError, closest
from r1lab.generation.base import (
    Completion,
    Generator,
    Sampling,
    render_prompt,
    request_seed,
    think_prefix,
)

# backend name -> "module:class", imported only when chosen (vLLM takes seconds to import)
BACKENDS: dict[str, str] = {
    "hf": "r1lab.generation.hf:TransformersGenerator",
    "vllm": "r1lab.generation.vllm_engine:VLLMGenerator",
    "openai": "r1lab.generation.openai_client:OpenAIGenerator",
}

__all__ = [
    "BACKENDS",
    "Completion",
    "Generator",
    "Sampling",
    "load_generator",
    "render_prompt",
    "request_seed",
    "think_prefix",
]


def check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise RecipeError(
            f"generation backend '{backend}'{closest(backend, BACKENDS)} is not one of "
            f"{', '.join(BACKENDS)}"
        )


def load_generator(backend: str, model: str, **options: Any) -> Generator:
    """A `Generator` for `model` (a folder, Hub id or served model name) on `backend`; a folder
    holding only a LoRA adapter is merged onto its base first (once, `r1lab.lora.resolve`)."""
    from r1lab.plugins import load_callable

    check_backend(backend)
    if backend != "openai":  # a served model's name is no folder
        from r1lab.lora import resolve

        model = resolve(model)
    return load_callable(BACKENDS[backend])(model, **options)
