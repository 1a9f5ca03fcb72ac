"""A run's output dir: what it holds, and whether a new run may write there.

A finished run (its `run_info.json` is written last) is never trained again by a rerun: the same
recipe is a no-op that says so. A different recipe is refused, with the keys that differ and the
ways out, so `recipe.yaml` always describes what trained the model next to it. A run that was cut
off resumes only under the recipe that started it. `--fresh` deletes the dir first.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from r1lab.atomic import atomic_write
from r1lab.errors import RecipeError
from r1lab.recipe import Recipe

# Sections that say where or how a run is executed or evaluated, not what is trained.
NOT_TRAINING = ("overrides", "slurm", "evaluate")


def training_identity(recipe: dict[str, Any], ignore: tuple[str, ...] = ()) -> dict[str, Any]:
    """The recipe as flat dotted keys, without what does not change the trained model (nor the
    sections or dotted keys in `ignore`: a generate run's `select:` changes which samples are
    kept, not how they are made)."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), item)
        else:
            flat[prefix] = value

    walk("", {k: v for k, v in recipe.items() if k not in NOT_TRAINING})
    skip = ("trainer.output_dir", *ignore)
    return {k: v for k, v in flat.items() if not any(k == s or k.startswith(s + ".") for s in skip)}


def differences(
    stored: dict[str, Any], current: dict[str, Any], ignore: tuple[str, ...] = ()
) -> list[str]:
    """`key: stored -> current` for every training key that differs."""
    a, b = training_identity(stored, ignore), training_identity(current, ignore)
    missing = object()
    return [
        f"{key}: {a.get(key, '(unset)')} -> {b.get(key, '(unset)')}"
        for key in sorted(set(a) | set(b))
        if a.get(key, missing) != b.get(key, missing)
    ]


def finished_step(output_dir: str | Path) -> int | None:
    """The final step of a finished run in `output_dir`, or None if none finished there."""
    info = Path(output_dir) / "run_info.json"
    if not info.exists():
        return None
    return int(json.loads(info.read_text()).get("global_step", 0))


def same_recipe(recipe: Recipe, ignore: tuple[str, ...] = ()) -> bool:
    """Whether the recipe.yaml in `recipe`'s output dir is `recipe` (keys in `ignore` aside)."""
    saved = Path(recipe.output_dir) / "recipe.yaml"
    return saved.exists() and not other_run(recipe, ignore)


def finished_training(recipe: Recipe) -> bool:
    """A trainer kind's run of this very recipe finished in its output dir (`Kind.finished`)."""
    return finished_step(recipe.output_dir) is not None and same_recipe(recipe)


def other_run(recipe: Recipe, ignore: tuple[str, ...] = ()) -> list[str]:
    """How the run in `recipe`'s output dir differs from `recipe` (`key: there -> here`, the keys
    in `ignore` aside); [] when the dir holds no run or a run of this very recipe."""
    saved = Path(recipe.output_dir) / "recipe.yaml"
    if not saved.exists():
        return []
    from omegaconf import OmegaConf

    stored = OmegaConf.to_container(OmegaConf.load(saved), resolve=True)
    return differences(stored, recipe.to_dict(), ignore)


def listed(changes: list[str], at_most: int) -> str:
    """The first `at_most` of `other_run`'s differences, `; `-joined, and how many more."""
    more = len(changes) - at_most
    return "; ".join(changes[:at_most]) + (f"; and {more} more" if more > 0 else "")


def admit(recipe: Recipe, ignore: tuple[str, ...] = ()) -> int | None:
    """None if `recipe` may train into its output dir (fresh or resuming its own run); the final
    step if the same recipe already finished there; RecipeError if another recipe's run is there."""
    out = Path(recipe.output_dir)
    saved = out / "recipe.yaml"
    if not saved.exists():
        return None
    changed = other_run(recipe, ignore)
    if changed:
        shown = listed(changed, 8)
        state = "a finished run" if finished_step(out) is not None else "a run (not finished)"
        raise RecipeError(
            f"{out} holds {state} of a different recipe ({saved}): {shown}. Continuing there "
            f"would mix two runs. Write this one elsewhere, trainer.output_dir={out}-2, or start "
            f"over there with --fresh (deletes {out})"
        )
    return finished_step(out)


def clear(output_dir: str | Path) -> None:
    """`--fresh`: delete a previous r1lab run's dir (one holding its recipe.yaml), nothing else."""
    out = Path(output_dir)
    if not out.exists():
        return
    if not (out / "recipe.yaml").exists():
        raise RecipeError(
            f"--fresh: {out} exists but holds no r1lab run (no recipe.yaml), so r1lab will not "
            "delete it; choose another trainer.output_dir"
        )
    shutil.rmtree(out)


def write_recipe(recipe: Recipe, out: Path) -> None:
    """recipe.yaml, atomically: other nodes read it (`admit`) while this one writes."""
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "recipe.yaml", lambda tmp: Path(tmp).write_text(recipe.to_yaml()))
