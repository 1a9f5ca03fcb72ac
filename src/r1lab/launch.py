"""`r1lab launch sft|grpo <recipe> [k=v ...]`: what `make sft|grpo` runs.

Submits to Slurm (`r1lab.slurm`) when `sbatch` is on PATH and LOCAL is not 1; otherwise runs
here, under `accelerate launch` with the recipe's accelerate config when it asks for several
processes, or in this process when it asks for one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from r1lab.check import accelerate_settings, check
from r1lab.errors import RecipeError
from r1lab.paths import recipes_dir
from r1lab.recipe import KINDS, Recipe, compose


def local_command(recipe: Recipe, num_processes: int) -> list[str]:
    module = ["-m", f"r1lab.{recipe.kind}", recipe.name, *recipe.overrides]
    if num_processes <= 1:
        return [sys.executable, *module]
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(recipes_dir() / "accelerate" / f"{recipe.accelerate}.yaml"),
        "--num_processes",
        str(num_processes),
        *module,
    ]


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in KINDS:
        raise RecipeError("usage: r1lab launch sft|grpo <recipe> [key=value ...]")
    kind, name, overrides = argv[0], argv[1], argv[2:]
    recipe = compose(name, overrides)
    if recipe.kind != kind:
        raise RecipeError(
            f"recipe '{recipe.name}' is a {recipe.kind} recipe: use `make {recipe.kind}`"
        )
    if shutil.which("sbatch") and os.environ.get("LOCAL") != "1":
        from r1lab.slurm import submit

        nodes = os.environ.get("NODES")
        submit(kind, recipe.name, overrides, int(nodes) if nodes else None)
        return 0
    num_processes = int(accelerate_settings(recipe).get("num_processes", 1) or 1)
    check(recipe, num_processes=num_processes).raise_if_failed()
    cmd = local_command(recipe, num_processes)
    print("[r1lab] " + " ".join(cmd), flush=True)
    return subprocess.call(cmd)
