"""`r1lab launch <kind> <recipe> [k=v ...]`: what `make <kind>` runs.

Submits to Slurm (`r1lab.slurm`) when `sbatch` is on PATH and LOCAL is not 1; otherwise runs
here: under `accelerate launch` with the recipe's accelerate config when the kind is launched by
accelerate and the config asks for several processes, else in one process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from r1lab import run_dir
from r1lab.checks.run import check_run
from r1lab.checks.trainer import precision
from r1lab.errors import RecipeError
from r1lab.kind import KINDS, Kind, require_kind
from r1lab.recipe import Recipe, compose
from r1lab.run_facts import RunFacts


def local_command(kind: Kind, recipe: Recipe, num_processes: int) -> list[str]:
    return run_command(RunFacts(recipe, kind), num_processes)


def run_command(facts: RunFacts, num_processes: int) -> list[str]:
    """The command that runs the recipe here: N processes under `accelerate launch`, or one."""
    kind, recipe = facts.kind, facts.recipe
    module = ["-m", kind.module, recipe.name, *recipe.overrides]
    if kind.launcher != "accelerate" or num_processes <= 1:
        return [sys.executable, *module]
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(facts.accelerate.path),
        "--num_processes",
        str(num_processes),
        # the trainer's precision, whatever the file says: DeepSpeed refuses a mismatch
        "--mixed_precision",
        precision(recipe.trainer),
        *module,
    ]


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in KINDS:
        raise RecipeError(
            f"usage: r1lab launch {'|'.join(KINDS)} <recipe> [key=value ...] [--fresh]"
        )
    kind = KINDS[argv[0]]
    fresh = "--fresh" in argv
    recipe = compose(argv[1], [a for a in argv[2:] if a != "--fresh"])
    require_kind(recipe.name, recipe.kind, kind.name)
    on_slurm = bool(shutil.which("sbatch")) and os.environ.get("LOCAL") != "1"
    if kind.launch is not None:  # a kind with its own way (pipeline: stages, or a job chain)
        return kind.launch(recipe, on_slurm, fresh)
    if fresh:  # once, here, before any process of the run starts
        run_dir.clear(recipe.output_dir)
    facts = RunFacts(recipe, kind)  # found once: what follows reads them, never again
    if on_slurm:
        from r1lab.slurm import nodes_from_env, submit

        submit(facts, nodes_from_env())
        return 0
    num_processes = facts.accelerate.num_processes
    check_run(facts, num_processes=num_processes).raise_if_failed()
    cmd = run_command(facts, num_processes)
    print("[r1lab] " + " ".join(cmd), flush=True)
    return subprocess.call(cmd)
