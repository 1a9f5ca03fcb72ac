"""What a kind of work declares about itself, so that nothing outside its module has to know it.

A recipe's `kind:` names one (`sft`, `grpo`); `r1lab.kinds` lists them. The CLI, `r1lab check`,
`r1lab launch`, `make <kind>`, Slurm's plan and `slurm/train-node.sh` read these fields instead of
branching on a kind's name. Adding a kind: a module that defines `KIND = Kind(...)` and one line in
`r1lab.kinds`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from r1lab.memory_plan import Workload

# A kind is declared below the recipes and the checks that read it (r1lab.recipe validates a
# recipe against its kind; r1lab.check runs a kind's checks), so this module names their types
# without importing them, not even for type checkers:
Recipe = Any  # an r1lab.recipe.Recipe
Check = Callable[[Any], Any]  # r1lab.check.Check: (Context) -> Findings


def _no_extras(recipe: Recipe) -> dict[str, Any]:
    return {}


def _same(kwargs: dict[str, Any], num_processes: int) -> dict[str, Any]:
    return kwargs


def _never(recipe: Recipe) -> bool:
    return False


def _always(recipe: Recipe) -> bool:
    return True


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

    def build_config(self, kwargs: dict[str, Any], num_processes: int | None = None) -> Any:
        """TRL's own config object from `trainer:` kwargs, as the N-process run will see it."""
        if (num_processes or 1) > 1 and not os.environ.get("WORLD_SIZE"):  # launched: TRL sees N
            kwargs = self.config_for_processes(dict(kwargs), int(num_processes or 1))
        if self.config_class is None:
            raise TypeError(f"kind {self.name} trains nothing and has no trainer config")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self.config_class()(**kwargs)
