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

import yaml
from omegaconf import OmegaConf

from r1lab.errors import RecipeError, closest, unknown_key
from r1lab.paths import cache_dir, recipes_dir

# Sections every kind has; a kind adds its own (`r1lab.kind.Kind.sections`, e.g. GRPO's `rewards`).
COMMON_SECTIONS = ("kind", "accelerate", "model", "data", "trainer", "slurm", "evaluate")
SCALAR_KEYS = ("kind", "accelerate")
# Folders of recipes/ that hold config groups or accelerate files, not runnable recipes.
GROUP_DIRS = {"model", "data", "reward", "trainer", "accelerate", "hydra"}

if not OmegaConf.has_resolver("r1lab_cache"):
    OmegaConf.register_new_resolver("r1lab_cache", lambda sub="": str(cache_dir() / sub))


@dataclass(frozen=True)
class RewardSpec:
    """One entry of a recipe's `rewards:` section: `{name: weight}` or `{name: {weight, **params}}`."""

    name: str
    weight: float
    params: dict[str, Any]


def parse_rewards(section: Any, recipe: dict[str, Any] | None = None) -> list[RewardSpec]:
    """The `rewards:` section as typed specs; a RecipeError with the right syntax otherwise.

    `data.solution_column` is the one place that says where the reference answer is: every
    reward that reads a reference gets it, unless the reward sets its own `solution_column`.
    """
    if not isinstance(section, dict):
        raise RecipeError(
            f"rewards: expected a mapping of reward name to weight, got {section!r}. To use a "
            f"reward group from recipes/reward/, write `reward@rewards={section}`; to add one "
            f"reward, `+rewards.<name>=<weight>` (e.g. +rewards.countdown=1.0)"
        )
    specs = []
    for name, value in section.items():
        params = dict(value) if isinstance(value, dict) else {}
        weight = params.pop("weight", 1.0) if isinstance(value, dict) else value
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            raise RecipeError(f"rewards.{name}: weight must be a number, got {weight!r}")
        specs.append(RewardSpec(str(name), float(weight), params))
    column = ((recipe or {}).get("data") or {}).get("solution_column", "solution")
    if column:
        from r1lab.rewards import accepts

        for spec in specs:
            if accepts(spec.name, "solution_column"):
                spec.params.setdefault("solution_column", column)
    return specs


@dataclass
class Recipe:
    """A composed, resolved recipe. `trainer` goes verbatim into the kind's TRL config class.

    `sections` holds the kind's own sections as written (for recipe.yaml); `parsed` the same
    sections as their parser made them (e.g. `rewards` -> list[RewardSpec]).
    """

    name: str
    kind: str
    model: dict[str, Any]
    data: dict[str, Any]
    trainer: dict[str, Any]
    accelerate: str = "cpu"
    slurm: dict[str, Any] = field(default_factory=dict)
    evaluate: dict[str, Any] = field(default_factory=dict)
    sections: dict[str, Any] = field(default_factory=dict)
    parsed: dict[str, Any] = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)

    @property
    def output_dir(self) -> str:
        return self.trainer.get("output_dir") or f"runs/{self.name}"

    @property
    def rewards(self) -> dict[str, Any]:
        return self.sections.get("rewards") or {}

    @property
    def reward_specs(self) -> list[RewardSpec]:
        return self.parsed.get("rewards", [])

    def to_dict(self) -> dict[str, Any]:
        common = {k: getattr(self, k) for k in COMMON_SECTIONS}
        return {"name": self.name, **common, **self.sections, "overrides": self.overrides}

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


def hydra_value(value: Any) -> str:
    """A composed value as a Hydra override's right-hand side."""
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{hydra_value(v)}" for k, v in value.items()) + "}"
    # Hydra's quoted strings unescape a backslash only in a run before a quote or at the end
    text = re.sub(r"(\\+)(?='|\Z)", r"\1\1", str(value))
    escaped = text.replace("'", "\\'")
    return f"'{escaped}'"


def flatten(prefix: str, value: Any) -> list[tuple[str, Any]]:
    """`{trainer: {max_steps: 5}}` -> [("trainer.max_steps", 5)]: a command line's overrides
    (`stages.x.overrides.trainer.max_steps=5`) arrive nested."""
    if isinstance(value, dict) and value:
        return [kv for k, v in value.items() for kv in flatten(f"{prefix}.{k}" if prefix else k, v)]
    return [(prefix, value)]


def yaml_error_message(err: yaml.YAMLError) -> str:
    """`file:line:col: what is wrong` for a recipe YAML that does not parse."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err)
    context = getattr(err, "context", None)
    where = f"{mark.name}:{mark.line + 1}:{mark.column + 1}" if mark else "a recipe file"
    detail = f" ({context})" if context else ""
    return (
        f"{where}: invalid YAML: {problem}{detail}. Check the indentation and that brackets and "
        "quotes are closed on that line or the one before"
    )


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
        raw = OmegaConf.to_container(cfg, resolve=False)
        _complete(name, raw)
        data = {**OmegaConf.to_container(OmegaConf.create(raw), resolve=True), **scalars}
    except (HydraException, OmegaConfBaseException) as err:
        raise RecipeError(f"recipe '{name}' with overrides {overrides}: {err}") from None
    except yaml.YAMLError as err:
        raise RecipeError(yaml_error_message(err)) from None
    finally:
        GlobalHydra.instance().clear()
    return from_dict(name, data, overrides)


def _complete(name: str, raw: dict[str, Any]) -> None:
    """The kind's defaults that interpolations may name, set before they resolve."""
    from r1lab.kind import KINDS

    kind = KINDS.get(raw.get("kind")) if isinstance(raw.get("kind"), str) else None
    if kind is not None and kind.complete is not None:
        kind.complete(name, raw)


def from_dict(name: str, data: dict[str, Any], overrides: list[str] | None = None) -> Recipe:
    """Validate the top level of a composed recipe (against its kind) and build the `Recipe`."""
    from r1lab.kind import KINDS, get_kind

    data = dict(data)
    data.pop("name", None)
    data.pop("overrides", None)
    try:
        kind = get_kind(data.get("kind"))
    except RecipeError as err:
        raise RecipeError(f"recipe '{name}': {err}") from None
    valid = (*COMMON_SECTIONS, *kind.sections)
    for key in data:
        owners = [k.name for k in KINDS.values() if key in k.sections]
        if key not in valid and owners:
            raise RecipeError(
                f"recipe '{name}': kind {kind.name} has no '{key}:' section (only "
                f"{', '.join(owners)} recipes do); remove it, or set kind: {owners[0]}"
            )
        if key not in valid:
            raise unknown_key(f"recipe '{name}', top level", key, valid)
    if kind.config_class is None:  # a kind that trains nothing: trainer.output_dir at most
        data["trainer"] = data.get("trainer") or {}
    if not kind.reads_data:  # the kind brings its own data (evaluate's benchmarks)
        data["data"] = data.get("data") or {}
    if not kind.common_sections:  # the kind runs other recipes (pipeline)
        data["model"] = data.get("model") or {}
    for section in ("model", "data", "trainer"):
        if not isinstance(data.get(section), dict):
            raise RecipeError(f"recipe '{name}': section '{section}:' is missing or not a mapping")
    sections = {key: data[key] for key in kind.sections if data.get(key) is not None}
    return Recipe(
        name=name,
        kind=kind.name,
        model=data["model"],
        data=data["data"],
        trainer=data["trainer"],
        accelerate=data.get("accelerate") or "cpu",
        slurm=data.get("slurm") or {},
        evaluate=data.get("evaluate") or {},
        sections=sections,
        parsed={key: parse(sections.get(key) or {}, data) for key, parse in kind.sections.items()},
        overrides=list(overrides or []),
    )


def from_argv(command: str, help_: str, argv: list[str]) -> tuple[Recipe, bool] | None:
    """`<recipe> [key=value ...] [--fresh]`, a kind command's arguments, as (composed recipe,
    --fresh given); None after printing the usage for -h/--help."""
    usage = f"usage: r1lab {command} <recipe> [key=value ...] [--fresh]   ({help_})"
    if argv and argv[0] in ("-h", "--help"):
        print(usage)
        return None
    rest = [a for a in argv if a != "--fresh"]
    if not rest or rest[0].startswith("-"):
        raise RecipeError(usage + "   --fresh: delete the output dir's earlier run first")
    return compose(rest[0], rest[1:]), "--fresh" in argv
