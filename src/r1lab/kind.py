"""What a kind of work declares about itself, so that nothing outside its module has to know it.

A recipe's `kind:` names one (`sft`, `grpo`); `MODULES` below lists them. The CLI, `r1lab check`,
`r1lab launch`, `make <kind>`, Slurm's plan and `slurm/train-node.sh` read these fields instead of
branching on a kind's name. Adding a kind: a module in `r1lab/kinds/` that defines
`KIND = Kind(...)` and one line in `MODULES`.

Like torchtune's recipe registry, `MODULES` lists each kind by name and module path and imports
none of them until a kind is asked for, so the modules below the kinds (checks, recipes,
launchers) can look a kind up without importing every kind, and no kind module imports the list
back.
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from r1lab.errors import RecipeError, closest

if TYPE_CHECKING:
    from r1lab.memory_plan import Workload

# A kind is declared below the recipes and the checks that read it (r1lab.recipe validates a
# recipe against its kind; r1lab.checks runs a kind's checks), so this module names their types
# without importing them, not even for type checkers:
Recipe = Any  # an r1lab.recipe.Recipe
Check = Callable[[Any], Any]  # r1lab.checks.findings.Check: (Context) -> Findings


def _no_extras(recipe: Recipe) -> dict[str, Any]:
    return {}


def _same(kwargs: dict[str, Any], num_processes: int) -> dict[str, Any]:
    return kwargs


def _never(recipe: Recipe) -> bool:
    return False


def _always(recipe: Recipe) -> bool:
    return True


def _no_models(recipe: Recipe) -> dict[str, tuple[str, str | None]]:
    return {}


def _host_and_port(host: str, port: int | str) -> list[str]:
    return [f"trainer.vllm_server_host={host}", f"trainer.vllm_server_port={port}"]


@dataclass(frozen=True)
class Kind:
    name: str
    help: str  # one line for `r1lab --help`
    module: str  # entry point: `python -m <module> <recipe> [k=v ...]`, what launchers start
    run: Callable[[list[str]], int | None]  # `r1lab <name> <recipe> [k=v ...]` in this process
    # the TRL config class `trainer:` goes into (imported late); None: the kind trains nothing
    # (generate), its recipes need no `trainer:` section and skip the trainer checks
    config_class: Callable[[], type] | None
    # Recipe sections beyond the common ones, each with its parser (typed values, errors early);
    # a parser gets the section and the whole composed recipe (e.g. to read data.solution_column).
    sections: dict[str, Callable[[Any, dict[str, Any]], Any]] = field(default_factory=dict)
    checks: tuple[Check, ...] = ()  # the kind's own checks, run after the common ones
    # those of `checks` that read the data's columns: rerun once a Hub dataset has loaded
    column_checks: tuple[Check, ...] = ()
    # "accelerate": N processes under `accelerate launch`; "python": always one process.
    launcher: Literal["accelerate", "python"] = "accelerate"
    trains_on_completions: bool = False  # the data gets a `completion` column (SFT)
    config_extras: Callable[[Recipe], dict[str, Any]] = _no_extras  # e.g. GRPO's reward_weights
    # kwargs for a run of N processes when built in one (GRPO sizes its generation batch by it)
    config_for_processes: Callable[[dict[str, Any], int], dict[str, Any]] = _same
    vllm_server: Callable[[Recipe], bool] = _never  # needs a vLLM server node on Slurm
    # the overrides that point the trainer at that server: (host, port) -> ["trainer.k=v", ...]
    vllm_server_overrides: Callable[[str, int | str], list[str]] = _host_and_port
    # False: model.model_name_or_path names a model served elsewhere (generate on an endpoint),
    # so no local files are looked for
    loads_model: Callable[[Recipe], bool] = _always
    # False: the kind brings its own data (evaluate's benchmarks); `data:` is optional and the
    # data checks are skipped
    reads_data: bool = True
    # False: the kind runs other recipes (pipeline): no model/data/trainer of its own, and only
    # its own checks run (each stage's recipe gets the common ones)
    common_sections: bool = True
    # Whether `recipe`'s output is complete, so that a pipeline skips it (a rerun would do nothing)
    finished: Callable[[Recipe], bool] = _never
    # Recipe keys (sections or dotted keys) a rerun into an earlier output may change and still
    # continue it (generate's `select:`); any other difference is another run (r1lab.run_dir)
    rerun_may_change: tuple[str, ...] = ()
    # Fills defaults that interpolations may name, in the composed but unresolved recipe (a
    # pipeline's stage outputs, named as ${stages.<name>.output}): (recipe name, config) -> None
    complete: Callable[[str, dict[str, Any]], None] | None = None
    # How `r1lab launch` (make <kind>) runs it when not the default:
    # (recipe, on Slurm, --fresh) -> exit code
    launch: Callable[[Recipe, bool, bool], int] | None = None
    # One optimizer step as the memory plan counts it (r1lab.memory_plan.Workload), from the TRL
    # config: (recipe, config, bytes per activation, measured prompt tokens or None); None: the
    # kind trains nothing, or has no plan
    workload: Callable[[Recipe, Any, int, int | None], Workload] | None = None
    # The models the run reads besides model.model_name_or_path, by role: {"teacher": (ref,
    # revision or None)}; lineage records each as an input, with its own lineage when r1lab made it
    input_models: Callable[[Recipe], dict[str, tuple[str, str | None]]] = _no_models

    def build_config(self, kwargs: dict[str, Any], num_processes: int | None = None) -> Any:
        """TRL's own config object from `trainer:` kwargs, as the N-process run will see it."""
        if (num_processes or 1) > 1 and not os.environ.get("WORLD_SIZE"):  # launched: TRL sees N
            kwargs = self.config_for_processes(dict(kwargs), int(num_processes or 1))
        if self.config_class is None:
            raise TypeError(f"kind {self.name} trains nothing and has no trainer config")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self.config_class()(**kwargs)


# ---- the registry: one line per kind ----------------------------------------------------------

MODULES: dict[str, str] = {
    "sft": "r1lab.kinds.sft",
    "grpo": "r1lab.kinds.grpo",
    "grpo_async": "r1lab.kinds.grpo_async",
    "distill_online": "r1lab.kinds.distill_online",
    "generate": "r1lab.kinds.generate",
    "evaluate": "r1lab.kinds.evaluate",
    "pipeline": "r1lab.kinds.pipeline",
}


class Registry(MutableMapping[str, Kind]):
    """Kind name -> Kind, importing a kind's module the first time the kind is asked for."""

    def __init__(self, modules: dict[str, str]) -> None:
        self._modules = dict(modules)
        self._loaded: dict[str, Kind] = {}

    def __getitem__(self, name: str) -> Kind:
        if name not in self._loaded:
            if name not in self._modules:
                raise KeyError(name)
            self._loaded[name] = importlib.import_module(self._modules[name]).KIND
        return self._loaded[name]

    def __setitem__(self, name: str, kind: Kind) -> None:  # a kind added at run time (tests)
        self._loaded[name] = kind

    def __delitem__(self, name: str) -> None:
        if name not in self:
            raise KeyError(name)
        self._loaded.pop(name, None)
        self._modules.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter({**self._modules, **self._loaded})

    def __len__(self) -> int:
        return len({**self._modules, **self._loaded})

    def __contains__(self, name: object) -> bool:
        return name in self._modules or name in self._loaded


KINDS: Registry = Registry(MODULES)


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
