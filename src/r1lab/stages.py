"""A pipeline recipe's `stages:` section as typed stages, in the order they run: each a recipe
with overrides, or a held-out evaluation of an earlier stage's model (`r1lab.kinds.pipeline`
runs them). Each stage's `output` defaults to <pipeline output dir>/<stage>, so that later
stages can name it as `${stages.<name>.output}`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from r1lab.errors import RecipeError, closest
from r1lab.recipe import flatten, hydra_value

STAGE_KEYS = ("recipe", "overrides", "evaluate", "output")


@dataclass(frozen=True)
class Stage:
    """One stage as the recipe wrote it: a recipe with overrides, or a held-out evaluation."""

    name: str
    output: str
    recipe: str | None = None
    overrides: tuple[str, ...] = ()
    evaluate: str | None = None  # held-out evaluation of this earlier stage's model

    @property
    def what(self) -> str:
        if not self.evaluate:
            return str(self.recipe)
        protocol = f" as {self.recipe} evaluates" if self.recipe else ""
        return f"held-out evaluation of '{self.evaluate}'{protocol}"


def parse_overrides(where: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        bad = [v for v in value if not isinstance(v, str) or "=" not in v]
        if bad:
            raise RecipeError(f"{where}: a list of overrides holds 'key=value' strings, got {bad}")
        return tuple(value)
    if not isinstance(value, dict):
        raise RecipeError(f"{where}: expected a mapping of dotted key to value, got {value!r}")
    pairs = flatten("", value)
    for key, _ in pairs:
        if key == "trainer.output_dir":
            raise RecipeError(
                f"{where}: set the stage's output with `output:` (next to `recipe:`), not "
                "trainer.output_dir: later stages name it as ${stages.<name>.output}"
            )
    return tuple(f"{k}={hydra_value(v)}" for k, v in pairs)


def parse_stages(section: Any, recipe: dict[str, Any] | None = None) -> list[Stage]:
    """The `stages:` section as typed stages, in order; a RecipeError naming the stage otherwise."""
    if not isinstance(section, dict) or not section:
        raise RecipeError(
            "stages: expected a mapping of stage name to {recipe, overrides} (or {evaluate: "
            f"<earlier stage>}}), in the order they run; got {section!r}"
        )
    stages: list[Stage] = []
    for name, spec in section.items():
        where = f"stages.{name}"
        if not isinstance(spec, dict):
            raise RecipeError(f"{where}: expected {{recipe: <recipe>, overrides: {{...}}}}")
        for key in spec:
            if key not in STAGE_KEYS:
                raise RecipeError(
                    f"{where}: unknown key '{key}'{closest(key, STAGE_KEYS)}; valid keys: "
                    f"{', '.join(STAGE_KEYS)}"
                )
        if not spec.get("recipe") and not spec.get("evaluate"):
            raise RecipeError(
                f"{where}: give `recipe:` (a recipe to run) or `evaluate: <earlier stage>` (its "
                "model on a held-out split: its own recipe's, or that of `recipe:` if given)"
            )
        target = spec.get("evaluate")
        if target is not None:
            earlier = {s.name: s for s in stages}
            if target not in earlier or earlier[target].recipe is None:
                raise RecipeError(
                    f"{where}: evaluate: '{target}' is not an earlier stage that trains a model"
                    f"{closest(str(target), earlier)}; earlier stages: {', '.join(earlier) or 'none'}"
                )
        stages.append(
            Stage(
                name=str(name),
                output=str(spec["output"]),
                recipe=spec.get("recipe"),
                overrides=parse_overrides(f"{where}.overrides", spec.get("overrides")),
                evaluate=target,
            )
        )
    return stages


def complete(name: str, raw: dict[str, Any]) -> None:
    """Each stage's `output` (default <pipeline output dir>/<stage>), so that interpolations
    such as ${stages.sft.output} resolve."""
    out = (raw.get("trainer") or {}).get("output_dir") or f"runs/{name}"
    stages = raw.get("stages")
    if isinstance(stages, dict):
        for stage, spec in stages.items():
            if isinstance(spec, dict):
                spec.setdefault("output", f"{out}/{stage}")
