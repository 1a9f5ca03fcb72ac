"""Checks that prompts plus what the run generates or trains on fit the model's context."""

from __future__ import annotations

from r1lab.checks.context import Context
from r1lab.checks.findings import Finding, Findings, ok
from r1lab.errors import RecipeError


def check_max_length_fits_context(ctx: Context) -> Findings:
    """SFT: `trainer.max_length` within the model's context."""
    if not ctx.lengths_checkable:
        return
    context = int(ctx.model_context or 0)
    max_length = ctx.recipe.trainer.get("max_length", 1024)
    if max_length is not None and max_length > context:
        raise RecipeError(
            f"trainer.max_length={max_length} exceeds the model's context of {context} tokens; "
            f"set trainer.max_length<={context}"
        )
    yield ok(
        f"lengths fit the model's context ({context} tokens; longest prompt {ctx.longest_prompt})"
    )


def check_completion_fits_context(ctx: Context) -> Findings:
    """GRPO: the longest prompt plus `trainer.max_completion_length` within the model's context."""
    if ctx.lengths_checkable:
        completion = int(ctx.recipe.trainer.get("max_completion_length", 256))
        yield completion_fits(ctx, "trainer.max_completion_length", completion)


def completion_fits(ctx: Context, setting: str, tokens: int, limit: int | None = None) -> Finding:
    """The longest prompt plus `tokens` new ones (the value of `setting`) within the model's
    context (or `limit`, when smaller); call only when `ctx.lengths_checkable`."""
    context, longest = int(ctx.model_context or 0), ctx.longest_prompt
    context = min(context, limit or context)
    if longest + tokens > context:
        raise RecipeError(
            f"prompt ({longest} tokens, longest in the data) + {setting} ({tokens}) = "
            f"{longest + tokens} exceeds the model's context of {context} tokens; set "
            f"{setting}<={context - longest}"
        )
    return ok(f"lengths fit the model's context ({context} tokens; longest prompt {longest})")
