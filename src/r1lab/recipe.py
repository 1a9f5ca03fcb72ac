"""Compose a recipe with Hydra and split it into the sections the rest of r1lab consumes.

A recipe is a YAML under `recipes/`, named by its path without `.yaml` (`r1_zero/tiny`). Hydra's
compose API is used (not `@hydra.main`), so no run directory is created and every rank composes
the same config. Overrides are Hydra's `key=value`; a dotted key that the recipe does not set yet
(`trainer.beta=0.04`) is added rather than rejected, and then validated against TRL's own config
classes by `r1lab.check`, which names the closest valid key on a typo.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from r1lab.errors import RecipeError, closest
from r1lab.paths import cache_dir, recipes_dir

KINDS = ("sft", "grpo")
SCALAR_KEYS = ("kind", "accelerate")
SECTIONS = ("kind", "accelerate", "model", "data", "rewards", "trainer", "slurm", "evaluate")
# Folders of recipes/ that hold config groups or accelerate files, not runnable recipes.
GROUP_DIRS = {"model", "data", "reward", "trainer", "accelerate", "hydra"}

if not OmegaConf.has_resolver("r1lab_cache"):
    OmegaConf.register_new_resolver("r1lab_cache", lambda sub="": str(cache_dir() / sub))


@dataclass
class Recipe:
    """A composed, resolved recipe. `trainer` goes verbatim into TRL's SFTConfig/GRPOConfig."""

    name: str
    kind: str
    model: dict[str, Any]
    data: dict[str, Any]
    trainer: dict[str, Any]
    rewards: dict[str, Any] = field(default_factory=dict)
    accelerate: str = "cpu"
    slurm: dict[str, Any] = field(default_factory=dict)
    evaluate: dict[str, Any] = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)

    @property
    def output_dir(self) -> str:
        return self.trainer.get("output_dir") or f"runs/{self.name}"

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("name", *SECTIONS, "overrides")}

    def to_yaml(self) -> str:
        return OmegaConf.to_yaml(OmegaConf.create(self.to_dict()))


def list_recipes() -> list[str]:
    """Every runnable recipe name under recipes/ (group folders excluded)."""
    root = recipes_dir()
    names = []
    for path in sorted(root.rglob("*.yaml")):
        rel = path.relative_to(root)
        if rel.parts[0] not in GROUP_DIRS and len(rel.parts) > 1:
            names.append(str(rel.with_suffix("")))
    return names


def normalize_name(name: str) -> str:
    """Accept `r1_zero/tiny`, `r1_zero/tiny.yaml` and `recipes/r1_zero/tiny.yaml`."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml"):
        path = path.with_suffix("")
    if path.is_absolute():
        try:
            path = path.relative_to(recipes_dir())
        except ValueError:
            pass
    parts = path.parts
    if parts and parts[0] == "recipes":
        path = Path(*parts[1:])
    return str(path)


_OVERRIDE = re.compile(r"^(?P<key>[A-Za-z_][\w\-]*(\.[\w\-]+)+)=(?P<value>.*)$", re.S)


def _hydra_overrides(overrides: list[str]) -> list[str]:
    """`trainer.x=1` -> `++trainer.x=1`: set or add; validation happens after composition."""
    out = []
    for item in overrides:
        if "=" not in item:
            raise RecipeError(
                f"override '{item}' is not key=value (example: trainer.learning_rate=1e-6)"
            )
        out.append(f"++{item}" if _OVERRIDE.match(item) else item)
    return out


def compose(name: str, overrides: list[str] | None = None) -> Recipe:
    """Compose recipe `name` with `overrides` into a `Recipe`; RecipeError on any bad input."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    overrides = list(overrides or [])
    name = normalize_name(name)
    known = list_recipes()
    if name not in known:
        hint = closest(name, known)
        raise RecipeError(
            f"unknown recipe '{name}'{hint}. Recipes are YAML files under {recipes_dir()} named by "
            f"their path without .yaml; available: {', '.join(known)}"
        )
    # `accelerate=ddp` names a file in recipes/accelerate/, which Hydra would take for a config
    # group; scalar top-level keys are therefore set after composition.
    scalars = {
        k: v for k, v in (o.split("=", 1) for o in overrides if "=" in o) if k in SCALAR_KEYS
    }
    hydra_overrides = [o for o in overrides if o.split("=", 1)[0] not in SCALAR_KEYS]
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(recipes_dir()), version_base="1.3"):
            cfg = hydra_compose(config_name=name, overrides=_hydra_overrides(hydra_overrides))
        data = {**OmegaConf.to_container(cfg, resolve=True), **scalars}
    except (HydraException, OmegaConfBaseException) as err:
        raise RecipeError(f"recipe '{name}' with overrides {overrides}: {err}") from None
    finally:
        GlobalHydra.instance().clear()
    return from_dict(name, data, overrides)


def from_dict(name: str, data: dict[str, Any], overrides: list[str] | None = None) -> Recipe:
    """Validate the top level of a composed recipe and build the `Recipe`."""
    data = dict(data)
    data.pop("name", None)
    data.pop("overrides", None)
    unknown = [k for k in data if k not in SECTIONS]
    if unknown:
        key = unknown[0]
        raise RecipeError(
            f"recipe '{name}': unknown top-level key '{key}'{closest(key, SECTIONS)}; "
            f"valid keys: {', '.join(SECTIONS)}"
        )
    kind = data.get("kind")
    if kind not in KINDS:
        raise RecipeError(f"recipe '{name}': kind must be one of {KINDS}, got {kind!r}")
    for section in ("model", "data", "trainer"):
        if not isinstance(data.get(section), dict):
            raise RecipeError(f"recipe '{name}': section '{section}:' is missing or not a mapping")
    return Recipe(
        name=name,
        kind=kind,
        model=data["model"],
        data=data["data"],
        trainer=data["trainer"],
        rewards=data.get("rewards") or {},
        accelerate=data.get("accelerate") or "cpu",
        slurm=data.get("slurm") or {},
        evaluate=data.get("evaluate") or {},
        overrides=list(overrides or []),
    )


def load_saved(path: str | Path) -> Recipe:
    """Reload the `recipe.yaml` a run wrote next to its checkpoints."""
    data = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    return from_dict(data.get("name", Path(path).parent.name), data, data.get("overrides"))
