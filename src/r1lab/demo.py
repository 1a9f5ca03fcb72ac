"""`make demo`: DeepSeek-R1's three recipes on the tiny world, compared, on a laptop CPU.

It runs the pipeline `sft_grpo/tiny` (tiny model -> base SFT -> R1-Zero GRPO -> the R1-Zero
model's verified traces on vLLM -> the distilled student (SFT on all of them) and a cold start
(SFT on 2,000 for 2 epochs) -> GRPO from the cold start -> each model on the same held-out
problems), then writes `runs/demo/report.md`: the models, the paper's four findings as measured
on this run (paired s.e.), per-stage curves and the last model's lineage. `--seeds N` runs
training seeds 0..N-1 and writes `seeds.md`. Stages that finished are skipped, so an interrupted
demo picks up where it stopped (`--fresh` starts over) and the README's next commands find the
models where their recipes put them.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

PIPELINE = "sft_grpo/tiny"
MODELS = {  # stage -> label, in the report's order
    "base": "base (tiny SFT, our stand-in for pretraining)",
    "r1_zero": "R1-Zero: GRPO from the base (step 2)",
    "distilled": "distilled: SFT of the base on R1-Zero's verified traces, 4 epochs (step 1)",
    "cold_start": "cold start: SFT of the base on 2,000 of those traces, 2 epochs",
    "grpo": "SFT -> GRPO: GRPO from the cold start (step 3)",
}


SEED_KEYS = {"sft": "trainer.seed", "grpo": "trainer.seed", "generate": "generate.seed"}


def seed_overrides(recipe, seed: int, root: str) -> list[str]:
    """Pipeline overrides that rerun every stage with training seed `seed` into `root`/<stage>.

    The seed of every stage that draws random numbers while making a model (SFT and GRPO data
    order and sampling, the teacher's sampling) changes; the tiny model's random init and the
    evaluation protocol (problems, evaluation seed) stay, so the seeds differ in training alone.
    """
    from r1lab.kinds import pipeline

    stages = pipeline.stages_of(recipe)
    out = []
    for stage in stages:
        out.append(f"++stages.{stage.name}.output={root}/{stage.name}")
        if stage.recipe and not stage.evaluate:
            key = SEED_KEYS.get(pipeline.stage_recipe(stage, stages).kind)
            if key:
                out.append(f"++stages.{stage.name}.overrides.{key}={seed}")
    return out


def run_seed(recipe, fresh: bool):
    """Run (or pick up) the pipeline; the demo's models with their held-out metrics."""
    from r1lab.errors import RecipeError
    from r1lab.kinds import pipeline
    from r1lab.report import Model

    if fresh:
        pipeline.clear(recipe)
    pipeline.launch(recipe, on_slurm=False)
    stages = {s.name: s for s in pipeline.stages_of(recipe)}
    models = {}
    for name, label in MODELS.items():
        metrics = json.loads((Path(stages[f"eval_{name}"].output) / pipeline.HELDOUT).read_text())
        models[name] = Model(label, metrics, Path(stages[name].output))
    protocols = {
        json.dumps({k: m.metrics[k] for k in ("settings", "sampling", "backend")}, sort_keys=True)
        for m in models.values()
    }
    if len(protocols) > 1:  # a comparison across protocols would be a wrong number
        raise RecipeError(f"the demo's models were evaluated differently: {sorted(protocols)}")
    return models, stages


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="r1lab demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/demo", help="where the report goes")
    parser.add_argument("--fresh", action="store_true", help="delete the stages' outputs first")
    parser.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="training seeds 0..N-1 (seed 0 is the default run; seed s writes under "
        "<out>/seed<s>/); the findings over seeds go to <out>/seeds.md",
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        help=f"overrides for the {PIPELINE} pipeline, e.g. "
        "stages.r1_zero.overrides.trainer.max_steps=50",
    )
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds must be at least 1, got {args.seeds}")
    from r1lab import lineage
    from r1lab.checks.packages import installed
    from r1lab.recipe import compose
    from r1lab.report import findings, write, write_seeds

    overrides = list(args.overrides)
    if not installed("vllm"):  # the same traces from transformers, slower
        print("[r1lab demo] vLLM is not installed: the teacher samples with transformers")
        overrides.append("stages.traces.overrides.generate.backend=hf")
    start = time.perf_counter()
    base_recipe = compose(PIPELINE, overrides)
    command = "make demo" + (f' ARGS="{" ".join(args.overrides)}"' if args.overrides else "")
    setup = (
        "The teacher of the distilled student is the R1-Zero model itself (same size as the "
        "student): finding (c) shows the mechanism, not the paper's much stronger teacher."
    )
    per_seed = {}
    for seed in range(args.seeds):
        timer = time.perf_counter()
        recipe = base_recipe
        out = Path(args.out)
        if seed:
            out = out / f"seed{seed}"
            recipe = compose(PIPELINE, overrides + seed_overrides(base_recipe, seed, str(out)))
        models, stages = run_seed(recipe, args.fresh)
        last = lineage.load(stages["grpo"].output)
        report = write(out, models, command, lineage.text(last) if last else "", setup)
        per_seed[seed] = (findings(models), time.perf_counter() - timer)
        print(f"\n{report.read_text()}\nreport: {report}")
    if args.seeds > 1:
        summary = write_seeds(args.out, per_seed, command + f" SEEDS={args.seeds}")
        print(f"\n{summary.read_text()}\nseeds: {summary}")
    print(f"(total {time.perf_counter() - start:.0f} s)")
    return 0
