"""`make demo`: DeepSeek-R1's three recipes on the tiny world, compared, on a laptop CPU.

It runs the pipeline `sft_grpo/tiny` (tiny model -> base SFT -> R1-Zero GRPO -> the R1-Zero
model's verified traces on vLLM -> distilled student (cold-start SFT) -> GRPO from it -> each
model on the same held-out problems), then writes `runs/demo/report.md`: the four models, the
paper's four findings as measured on this run, per-stage curves and the last model's lineage.
Stages that finished are skipped, so an interrupted demo picks up where it stopped (`--fresh`
starts over) and the README's next commands find the models where their recipes put them.
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
    "cold_start": "distilled: SFT of the base on R1-Zero's verified traces (step 1)",
    "grpo": "SFT -> GRPO: GRPO from the distilled model (step 3)",
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="r1lab demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/demo", help="where the report goes")
    parser.add_argument("--fresh", action="store_true", help="delete the stages' outputs first")
    parser.add_argument(
        "overrides",
        nargs="*",
        help=f"overrides for the {PIPELINE} pipeline, e.g. "
        "stages.r1_zero.overrides.trainer.max_steps=50",
    )
    args = parser.parse_args(argv)
    from r1lab import lineage, pipeline
    from r1lab.check import installed
    from r1lab.errors import RecipeError
    from r1lab.recipe import compose
    from r1lab.report import Model, write

    overrides = list(args.overrides)
    if not installed("vllm"):  # the same traces from transformers, slower
        print("[r1lab demo] vLLM is not installed: the teacher samples with transformers")
        overrides.append("stages.traces.overrides.generate.backend=hf")
    recipe = compose(PIPELINE, overrides)
    if args.fresh:
        pipeline.clear(recipe)
    start = time.perf_counter()
    pipeline.launch(recipe, on_slurm=False)

    stages = {s.name: s for s in pipeline.stages_of(recipe)}
    models = {}
    for name, label in MODELS.items():
        metrics = json.loads((Path(stages[f"eval_{name}"].output) / pipeline.HELDOUT).read_text())
        models[name] = Model(label, metrics, Path(stages[name].output))
    protocols = {json.dumps(m.metrics["settings"], sort_keys=True) for m in models.values()}
    if len(protocols) > 1:  # a comparison across protocols would be a wrong number
        raise RecipeError(f"the demo's models were evaluated differently: {sorted(protocols)}")
    last = lineage.load(stages["grpo"].output)
    command = "make demo" + (f' ARGS="{" ".join(args.overrides)}"' if args.overrides else "")
    setup = (
        "The teacher of the distilled student is the R1-Zero model itself (same size as the "
        "student): finding (c) shows the mechanism, not the paper's much stronger teacher."
    )
    report = write(args.out, models, command, lineage.text(last) if last else "", setup)
    print(f"\n{report.read_text()}\nreport: {report}  (total {time.perf_counter() - start:.0f} s)")
    return 0
