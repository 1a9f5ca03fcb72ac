"""The `generate` kind: a teacher writes n samples per prompt; verified selection keeps the good ones.

Run: `r1lab generate <recipe> [k=v ...]`, `make generate RECIPE=... [NODES=n]`; `r1lab select
<recipe> [select.k=v ...]` reruns only the selection, on the saved samples.

Prompts come from the recipe's `data:` (same sources and templates as training; a chat template
for instruct teachers), in a fixed order, cut into shards of `generate.shard_size` prompts. The
run's output dir (runs/<recipe> unless trainer.output_dir says otherwise) gets:

    samples/shard-00000.parquet ...  one row per sample: prompt_id, sample, the source columns,
                                     prompt, completion, finish_reason, token counts, provenance
                                     (a folder `datasets` loads, and a `data.source` for SFT)
    stats/shard-00000.json ...       each shard's generation time and tokens
    generation.json                  once every shard is there: totals, throughput, provenance
    selected.parquet prompts.parquet selection.json pass_rate.png   (see r1lab.selection)

A shard file is written atomically once all its samples exist, so after a kill (kill -9, a node
failure, a Slurm requeue) the same command generates only the missing shards: every sample is
there exactly once. Prompt i's samples are seeded with `generate.seed + i` (transformers: each
shard with its first prompt's), whichever node or rerun produced them. On N Slurm nodes (slurm/train-node.sh sets R1LAB_NODE_RANK and
R1LAB_NUM_NODES), node r takes shards r, r+N, ..., each with its own engine over its node's GPUs;
node 0 then waits for every shard and runs the selection.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from r1lab import lineage, run_dir, run_start
from r1lab.atomic import atomic_write
from r1lab.checks.context import Context
from r1lab.checks.findings import Findings, ok
from r1lab.checks.generation import check_generation
from r1lab.checks.run import load_checked
from r1lab.errors import RecipeError, exit_on_error
from r1lab.generation.settings import NOT_GENERATION, GenerateConfig, config, provenance
from r1lab.generation.shards import (
    MANIFEST,
    generate_shards,
    load_samples,
    node_position,
    num_shards,
    samples_schema,
    shard_totals,
    wait_for_shards,
)
from r1lab.kind import Kind
from r1lab.recipe import Recipe
from r1lab.selection import SelectConfig, check_select, check_select_columns

# ---- checks ------------------------------------------------------------------------------------


def check_generate(ctx: Context) -> Findings:
    """The backend can run here, the settings fit the model, nothing goes to a trainer."""
    cfg = config(ctx.recipe)
    extra = [k for k in ctx.recipe.trainer if k != "output_dir"]
    if extra:
        raise RecipeError(
            f"trainer: a generate recipe trains nothing, so trainer.{extra[0]} has no effect; "
            "only trainer.output_dir (where the samples go) is read. Generation settings go in "
            "generate: (e.g. generate.temperature)"
        )
    yield from check_generation(ctx, cfg)
    yield ok(
        f"generate: {cfg.num_samples} samples per prompt on {cfg.backend}, shards of "
        f"{cfg.shard_size} prompts"
    )


# ---- prompts and shards ------------------------------------------------------------------------


def prompt_rows(recipe: Recipe) -> tuple[list[dict[str, Any]], Any]:
    """The recipe's prompts in their fixed order, each row with its `prompt_id` and source columns,
    and the shards' arrow schema (the source's types, so every shard has the same columns)."""
    from r1lab.data import DataConfig, format_dataset

    data = DataConfig.from_recipe(recipe.data)
    raw = load_checked(recipe, data)
    prompts = format_dataset(raw, data, completions=False)
    rows = [{"prompt_id": i, **row} for i, row in enumerate(prompts.to_list())]
    return rows, samples_schema(prompts.features.arrow_schema)


# ---- the run -----------------------------------------------------------------------------------


def generate(recipe: Recipe) -> Path:
    """Generate this node's missing shards; on node 0, wait for all of them and select."""
    cfg, out = config(recipe), Path(recipe.output_dir)
    rank, _ = node_position()
    rows, schema = prompt_rows(recipe)
    made = generate_shards(
        rows, schema, out, cfg, lambda: cfg.generator(recipe.model, rank), provenance(recipe, cfg)
    )
    if not made or rank != 0 or not wait_for_shards(out, num_shards(len(rows), cfg.shard_size)):
        return out
    write_manifest(recipe, out, num_shards(len(rows), cfg.shard_size))
    select_saved(recipe)
    return out


def write_manifest(recipe: Recipe, out: Path, total: int) -> dict[str, Any]:
    """generation.json: totals over every shard, throughput, provenance."""
    cfg = config(recipe)
    manifest = {
        "recipe": recipe.name,
        "teacher": str(recipe.model["model_name_or_path"]),
        "backend": cfg.backend,
        "settings": asdict(cfg),
        "shards": total,
        **shard_totals(out),
    }
    atomic_write(out / MANIFEST, lambda tmp: Path(tmp).write_text(json.dumps(manifest, indent=2)))
    return manifest


def select_saved(recipe: Recipe) -> dict[str, Any]:
    """Selection on the saved samples (no generation): writes selected.parquet and its report."""
    from r1lab.data import DataConfig
    from r1lab.selection import select, summary_text, write_selection

    out = Path(recipe.output_dir)
    data = DataConfig.from_recipe(recipe.data)
    result = select(load_samples(out), recipe.parsed["select"], data.question_column)
    manifest = out / MANIFEST
    if manifest.exists():
        generation = json.loads(manifest.read_text())
        result.report["generation"] = {
            k: generation[k]
            for k in ("samples", "completion_tokens", "generation_seconds")
            if k in generation
        }
        result.report["generation"]["tokens_per_second"] = generation.get(
            "completion_tokens_per_second"
        )
    write_selection(out, result.kept, result.prompts, result.report)
    run_dir.write_recipe(recipe, out)
    lineage.record(recipe, out, kept=len(result.kept))
    print(summary_text(result.report), flush=True)
    if not result.kept:
        keep = [o for o in recipe.overrides if not o.lstrip("+").startswith("select.")]
        raise RecipeError(
            f"the selection kept no sample of {result.report['samples']} (report: "
            f"{out / 'selection.json'}); loosen the select: filters that dropped them, or check "
            "the teacher's samples in samples/. Rerun only the selection with `r1lab select "
            f"{' '.join([recipe.name, *keep])} select.<key>=<value>`"
        )
    print(f"[r1lab generate] SFT data: {out / 'selected.parquet'}", flush=True)
    return result.report


def start(argv: list[str], command: str) -> Recipe | None:
    """`r1lab generate|select <recipe> [k=v ...] [--fresh]` started; None after --help. `select`
    reruns the selection on the saved samples: it never clears them."""
    parsed = run_start.parse(KIND, argv, command)
    if parsed is None:
        return None
    facts, fresh = parsed
    generating = command == "generate"
    run_start.begin(facts, fresh and generating, running=generating, ignore=KIND.rerun_may_change)
    return facts.recipe


def main(argv: list[str]) -> int:
    recipe = start(argv, "generate")
    if recipe is not None:
        generate(recipe)
    return 0


def select_main(argv: list[str]) -> int:
    """`r1lab select <recipe> [select.k=v ...]`: selection again, on the saved samples."""
    recipe = start(argv, "select")
    if recipe is not None:
        select_saved(recipe)
    return 0


def finished(recipe: Recipe) -> bool:
    """Every shard generated and the selection made, by this very recipe (select: included)."""
    out = Path(recipe.output_dir)
    done = (out / MANIFEST).exists() and (out / "selected.parquet").exists()
    return done and run_dir.same_recipe(recipe)


KIND = Kind(
    name="generate",
    help="sample a teacher on the recipe's prompts (vllm|openai|hf), then select verified samples",
    module="r1lab.kinds.generate",
    run=main,
    config_class=None,
    sections={"generate": GenerateConfig.from_recipe, "select": SelectConfig.from_recipe},
    checks=(check_generate, check_select, check_select_columns),
    column_checks=(check_select_columns,),
    launcher="python",
    loads_model=lambda recipe: config(recipe).backend != "openai",
    finished=finished,
    rerun_may_change=NOT_GENERATION,
)

if __name__ == "__main__":
    exit_on_error(lambda: main(sys.argv[1:]))
