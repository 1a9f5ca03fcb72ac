"""`make demo`: the whole R1-Zero idea on a laptop CPU in minutes.

tiny model -> base SFT (`base/tiny`, into its own output dir runs/base/tiny, so that the README's
next commands find it) -> evaluate -> R1-Zero GRPO (`r1_zero/tiny`) -> evaluate ->
`runs/demo/report.md`. Each stage runs the real entry points in a subprocess; a stage whose output
is complete is reused, so an interrupted demo picks up where it stopped (`--fresh` starts over).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path


def stage(title: str, cmd: list[str]) -> None:
    print(f"\n=== {title}\n$ {' '.join(cmd)}", flush=True)
    start = time.perf_counter()
    code = subprocess.call(cmd)
    if code:
        raise SystemExit(f"demo: stage '{title}' failed with exit code {code}")
    print(f"=== {title}: done in {time.perf_counter() - start:.0f} s", flush=True)


def done(run_dir: Path) -> bool:
    return (run_dir / "trainer_state.json").exists() and (run_dir / "config.json").exists()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="r1lab demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/demo")
    parser.add_argument("--fresh", action="store_true", help="delete earlier demo outputs first")
    parser.add_argument(
        "overrides", nargs="*", help="overrides for the GRPO recipe, e.g. trainer.max_steps=50"
    )
    args = parser.parse_args(argv)
    from r1lab.recipe import compose

    out = Path(args.out)
    base, grpo = Path(compose("base/tiny").output_dir), out / "r1_zero"
    for folder in (out, base) if args.fresh else ():
        shutil.rmtree(folder, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    r1lab = [sys.executable, "-m", "r1lab.cli"]
    start = time.perf_counter()

    stage("1/5 tiny tokenizer + model", [*r1lab, "tiny-model"])
    if not done(base):
        stage(
            "2/5 base SFT (stand-in for pretraining)",
            [*r1lab, "sft", "base/tiny"],
        )
    stage(
        "3/5 evaluate the base",
        [
            *r1lab,
            "evaluate",
            "r1_zero/tiny",
            *args.overrides,
            "--model",
            str(base),
            "--out",
            str(out / "eval_base.json"),
        ],
    )
    grpo_args = [f"model.model_name_or_path={base}", f"trainer.output_dir={grpo}", *args.overrides]
    if not done(grpo):
        stage("4/5 R1-Zero GRPO", [*r1lab, "grpo", "r1_zero/tiny", *grpo_args])
    stage(
        "5/5 evaluate after GRPO",
        [
            *r1lab,
            "evaluate",
            "r1_zero/tiny",
            *args.overrides,
            "--model",
            str(grpo),
            "--out",
            str(out / "eval_r1_zero.json"),
        ],
    )

    from r1lab.report import write

    before = json.loads((out / "eval_base.json").read_text())
    after = json.loads((out / "eval_r1_zero.json").read_text())
    report = write(out, before, after, grpo, "make demo")
    print(f"\n{report.read_text()}\nreport: {report}  (total {time.perf_counter() - start:.0f} s)")
    return 0
