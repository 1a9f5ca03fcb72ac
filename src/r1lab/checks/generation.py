"""Checks of a generation run's `generate:` settings (the generate and evaluate kinds): the backend
can run here, a vLLM engine fits its GPUs, prompts plus new tokens fit the model's context."""

from __future__ import annotations

from typing import Any

from r1lab.checks.context import Context
from r1lab.checks.findings import Findings, ok, warning
from r1lab.checks.lengths import completion_fits
from r1lab.checks.memory import engine_plan
from r1lab.errors import RecipeError


def check_generation(ctx: Context, cfg: Any) -> Findings:
    """`cfg`: the run's r1lab.generation.settings.GenerateConfig."""
    if cfg.backend == "openai" and not cfg.base_url:
        raise RecipeError(
            "generate.base_url: the openai backend needs the server's URL, e.g. "
            "generate.base_url=http://localhost:8000/v1 (a list gives one per Slurm node)"
        )
    if cfg.backend == "vllm":
        try:
            import vllm  # noqa: F401
        except ImportError:
            from r1lab.generation.vllm_engine import vllm_missing_message

            if ctx.running:
                raise RecipeError(f"generate.backend=vllm: {vllm_missing_message()}") from None
            yield warning(f"generate.backend=vllm: {vllm_missing_message()}")
    if cfg.backend == "vllm":
        yield from engine_plan(
            ctx, cfg.tensor_parallel_size, cfg.gpu_memory_utilization, cfg.max_model_len
        )
    if cfg.backend != "openai" and ctx.lengths_checkable:
        yield completion_fits(ctx, "generate.max_new_tokens", cfg.max_new_tokens, cfg.max_model_len)
    if cfg.budget is not None:
        b = cfg.budget
        yield ok(
            f"generate.budget: thinking of {b.min_think_tokens or 0}.."
            f"{b.max_think_tokens if b.max_think_tokens is not None else 'any'} tokens "
            f"(up to {b.max_waits} x {b.wait_text!r} to extend it)"
        )
