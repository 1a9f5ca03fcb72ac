"""`r1lab <command> ...`: one sub-command per entry in COMMANDS (one per kind, from `r1lab.kinds`,
plus the tools); bad input exits 2 with a message."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from r1lab.errors import RecipeError, closest, exit_on_error
from r1lab.kind import KINDS


def _recipe_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"r1lab {prog}", description=description)
    parser.add_argument("recipe", help="recipe name, e.g. r1_zero/tiny (a path under recipes/)")
    parser.add_argument(
        "overrides", nargs="*", help="Hydra overrides, e.g. trainer.learning_rate=1e-6"
    )
    return parser


def cmd_check(argv: list[str]) -> int:
    parser = _recipe_parser("check", "Validate a recipe in seconds, without loading a model.")
    parser.add_argument(
        "--num-processes", type=int, default=None, help="training processes of the run"
    )
    parser.add_argument(
        "--gpu",
        default=None,
        help="the GPU the memory plan assumes: h100-80gb (default), h200, b200, a100-80gb, "
        "a100-40gb, l40s, a10g, or <N>gb; also slurm.gpu in the recipe",
    )
    args = parser.parse_args(argv)
    from r1lab.checks.run import check
    from r1lab.recipe import compose

    start = time.perf_counter()
    recipe = compose(args.recipe, args.overrides)
    report = check(recipe, num_processes=args.num_processes, gpu=args.gpu)
    print(report.text() + f"\n  ({time.perf_counter() - start:.1f} s)")
    return 2 if report.errors else 0


def cmd_show(argv: list[str]) -> int:
    parser = _recipe_parser(
        "show", "Print the resolved recipe (or one value of it), or an output dir's lineage."
    )
    parser.add_argument("--get", default=None, help="a dotted key, e.g. trainer.use_vllm")
    args = parser.parse_args(argv)
    from r1lab import lineage
    from r1lab.recipe import compose

    if Path(args.recipe).is_dir():  # an output: what made it, back to the first input
        found = lineage.load(args.recipe)
        if found is None:
            raise RecipeError(
                f"{args.recipe} holds no {lineage.FILE}: it is not a finished r1lab output (each "
                "kind writes one when it finishes), or was made before r1lab recorded lineage"
            )
        print(lineage.text(found))
        return 0

    recipe = compose(args.recipe, args.overrides)
    if args.get is None:
        print(recipe.to_yaml(), end="")
        return 0
    effective = {**recipe.to_dict(), "output_dir": recipe.output_dir}
    effective["trainer"] = {**recipe.trainer, "output_dir": recipe.output_dir}
    value: object = effective
    for part in args.get.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, bool):
        value = str(value).lower()
    print("null" if value is None else value)
    return 0


def cmd_tiny_model(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="r1lab tiny-model", description="Build the tiny tokenizer + model."
    )
    from r1lab import tiny

    parser.add_argument("--out", default=None, help="folder (default: $R1LAB_CACHE/<shape>)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shape", default="tiny", choices=tiny.CACHED)
    args = parser.parse_args(argv)
    print(tiny.ensure(args.out, shape=args.shape, seed=args.seed))
    return 0


def cmd_select(argv: list[str]) -> int:
    from r1lab.kinds.generate import select_main

    return select_main(argv)


def cmd_demo(argv: list[str]) -> int:
    from r1lab.demo import main

    return main(argv)


def cmd_launch(argv: list[str]) -> int:
    from r1lab.launch import main

    return main(argv)


COMMANDS: dict[str, tuple[Callable[[list[str]], int], str]] = {
    "check": (cmd_check, "validate a recipe without loading a model"),
    "show": (cmd_show, "print the resolved recipe or one value"),
    **{name: (kind.run, kind.help) for name, kind in KINDS.items()},
    "launch": (cmd_launch, f"run {'|'.join(KINDS)} locally (accelerate) or submit it to Slurm"),
    "tiny-model": (cmd_tiny_model, "build the tiny tokenizer and model"),
    "select": (cmd_select, "rerun a generate recipe's selection on its saved samples"),
    "demo": (cmd_demo, "the three R1 recipes on the tiny world, compared: findings report"),
}


def usage() -> str:
    lines = ["usage: r1lab <command> [args]", "", "commands:"]
    lines += [f"  {name:<11} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        sys.exit(0 if argv else 2)
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(
            f"error: unknown command '{name}'{closest(name, COMMANDS)}\n\n{usage()}",
            file=sys.stderr,
        )
        sys.exit(2)
    exit_on_error(lambda: COMMANDS[name][0](rest))


if __name__ == "__main__":
    main()
