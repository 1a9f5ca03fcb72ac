"""The registry of kinds: one line per kind. Everything that varies by kind is read from here."""

from __future__ import annotations

from r1lab import evaluate, generate, grpo, grpo_async, pipeline, sft
from r1lab.errors import RecipeError, closest
from r1lab.kind import Kind

KINDS: dict[str, Kind] = {
    sft.KIND.name: sft.KIND,
    grpo.KIND.name: grpo.KIND,
    grpo_async.KIND.name: grpo_async.KIND,
    generate.KIND.name: generate.KIND,
    evaluate.KIND.name: evaluate.KIND,
    pipeline.KIND.name: pipeline.KIND,
}


def get_kind(name: object) -> Kind:
    if not isinstance(name, str) or name not in KINDS:
        hint = closest(name, KINDS) if isinstance(name, str) else ""
        raise RecipeError(f"kind must be one of {', '.join(KINDS)}, got {name!r}{hint}")
    return KINDS[name]


def require_kind(recipe_name: str, recipe_kind: str, wanted: str) -> None:
    """The one message for a recipe run by the wrong command."""
    if recipe_kind != wanted:
        raise RecipeError(
            f"recipe '{recipe_name}' is a {recipe_kind} recipe, not {wanted}: run "
            f"`make {recipe_kind} RECIPE={recipe_name}` or `r1lab {recipe_kind} {recipe_name}`"
        )
