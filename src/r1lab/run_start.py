"""The one start of a run in its own process (`r1lab <kind> <recipe> [k=v ...] [--fresh]`, what
`python -m r1lab.kinds.<kind>` and every launcher run): the arguments parsed and the recipe
composed, the right command for its kind, `--fresh`, every check, and the output dir admitting
the recipe. The trainer kinds, generate, evaluate and pipeline all start here."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from r1lab import run_dir
from r1lab.checks.run import check_run
from r1lab.errors import RecipeError
from r1lab.generation.shards import node_position
from r1lab.kind import Kind, require_kind
from r1lab.recipe import from_argv
from r1lab.run_facts import RunFacts


@dataclass
class Started:
    facts: RunFacts
    finished: int | None  # the step this very run finished at earlier: nothing to do


def parse(kind: Kind, argv: list[str], command: str | None = None) -> tuple[RunFacts, bool] | None:
    """(the run's facts, --fresh given) from `<recipe> [k=v ...] [--fresh]`; None after --help."""
    parsed = from_argv(command or kind.name, kind.help, argv)
    if parsed is None:
        return None
    recipe, fresh = parsed
    require_kind(recipe.name, recipe.kind, kind.name)
    return RunFacts(recipe, kind), fresh


def begin(
    facts: RunFacts, fresh: bool, running: bool = True, ignore: tuple[str, ...] = ()
) -> Started:
    """--fresh clears the output dir (once: refused under several processes, which `r1lab
    launch` clears for), every check, then the output dir admits the recipe (a different one is
    refused; see r1lab.run_dir) and gets its recipe.yaml from the first process."""
    recipe = facts.recipe
    first = node_position()[0] == 0 and int(os.environ.get("RANK", "0")) == 0
    if fresh:
        if int(os.environ.get("WORLD_SIZE") or 1) > 1:
            raise RecipeError(
                "--fresh with several processes: use `r1lab launch` (make), which clears the "
                "output dir once before the processes start"
            )
        if first:
            run_dir.clear(recipe.output_dir)
    check_run(facts, running=running).raise_if_failed()
    finished = run_dir.admit(recipe, ignore=ignore)
    if finished is None and first:
        run_dir.write_recipe(recipe, Path(recipe.output_dir))
    return Started(facts, finished)


def start(
    kind: Kind,
    argv: list[str],
    command: str | None = None,
    running: bool = True,
    ignore: tuple[str, ...] = (),
) -> Started | None:
    """`parse`, then `begin`: a kind command's whole start; None after --help."""
    parsed = parse(kind, argv, command)
    if parsed is None:
        return None
    facts, fresh = parsed
    return begin(facts, fresh, running, ignore)
