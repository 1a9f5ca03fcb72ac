"""The `evaluate` kind: a model on the R1 benchmarks (or a dataset of yours), numbers you can trust.

Run:
    r1lab evaluate evaluate/r1 model.model_name_or_path=<model> [--benchmark aime24 ...]
    r1lab evaluate <model folder or Hub id> --benchmark aime24 math_500   (recipe evaluate/r1)
    make evaluate RECIPE=evaluate/r1 ARGS="model.model_name_or_path=..." [NODES=n]
    r1lab evaluate <sft or grpo recipe> [--out dir/heldout.json]   (its model on its held-out
                                          split, one more benchmark: r1lab.heldout)

Each benchmark (`r1lab.benchmarks`) is sampled k times per problem with the R1 protocol (T 0.6,
top_p 0.95, up to 32,768 new tokens, the model's chat template) through a generation backend
(vllm, openai, hf), graded by the verifier training uses, and summarised by `r1lab.metrics`.
In the output dir (runs/<recipe>, runs/<recipe>/<model> with --model):

    <benchmark>/samples/shard-*.parquet   the samples (resumable shards, as `generate` writes)
    <benchmark>/greedy/samples/...        one greedy sample per problem (`greedy: true`)
    <benchmark>/budget-<n>/samples/...    k samples per problem, thinking capped at n tokens
                                          (`budgets: [n, ...]` or --budgets: a budget sweep)
    <benchmark>/results.parquet           one row per sample: prompt_id, sample, correct, answer,
                                          completion_tokens, finish_reason, format
    <benchmark>.json                      metrics, how they were made, per-problem results
    scaling.md scaling.png                accuracy against samples: pass@1, maj@k, pass@k, k = 1..k;
                                          with budgets, accuracy and mean tokens against the budget
    results.md                            the table, with the paper's figures beside (last)

A rerun generates only missing shards and rescores from the saved samples, so the metrics can
always be recomputed without generating again. On N Slurm nodes, node r generates shards r, r+N,
... of every benchmark; node 0 then scores.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from r1lab import lineage, run_dir, run_start, scaling
from r1lab.atomic import atomic_write
from r1lab.benchmarks import Benchmark, parse_benchmarks, prompts_of
from r1lab.checks.context import Context, longest_tokens
from r1lab.checks.findings import Finding, Findings, error, ok
from r1lab.checks.generation import check_generation
from r1lab.errors import RecipeError, exit_on_error
from r1lab.evaluation_report import GREEDY, budget_folder, results_table, write_report
from r1lab.generation.budget import capped
from r1lab.generation.settings import NOT_GENERATION, GenerateConfig, provenance
from r1lab.generation.shards import (
    SampleSet,
    log,
    node_position,
)
from r1lab.heldout import default_model, heldout_recipe, with_arguments
from r1lab.kind import Kind
from r1lab.metrics import pass_at_k
from r1lab.recipe import Recipe, compose, from_dict, list_recipes, normalize_name
from r1lab.run_facts import RunFacts

DEFAULT_RECIPE = "evaluate/r1"
# the settings that samples already made must share with a rerun (not the r1lab version)
ADMITTED = ("model", "model_settings", "backend", "sampling", "benchmark")
__all__ = ["KIND", "evaluate", "main", "pass_at_k"]  # pass_at_k(n, c, k): r1lab.metrics'


def benchmarks(recipe: Recipe) -> list[Benchmark]:
    return recipe.parsed["benchmarks"]


def parse_generate(section: Any, recipe: dict[str, Any] | None = None) -> GenerateConfig:
    """`generate:` as the generate kind reads it, less `num_samples`: k is per benchmark."""
    section = dict(section or {})
    if "num_samples" in section:
        raise RecipeError(
            "generate.num_samples: an evaluate recipe takes its samples per problem from each "
            "benchmark: benchmarks.<name>.k (or --k for all)"
        )
    return GenerateConfig.from_recipe({**section, "num_samples": 1}, recipe)


# ---- checks ------------------------------------------------------------------------------------


def check_evaluate_generation(ctx: Context) -> Findings:
    """The generate: settings, as the generate kind checks them."""
    cfg = ctx.recipe.parsed["generate"]
    yield from check_generation(ctx, cfg)
    yield ok(f"generate: samples on {cfg.backend}, shards of {cfg.shard_size} prompts")


def check_benchmarks(ctx: Context) -> Findings:
    """At least one benchmark; each one's verifier builds; local sources exist."""
    from r1lab.rewards import get_reward

    benches = benchmarks(ctx.recipe)
    if not benches:
        raise RecipeError(
            "benchmarks: none named; e.g. benchmarks: [aime24, math_500] or --benchmark aime24"
        )
    cfg = ctx.recipe.parsed["generate"]
    for bench in benches:
        for n in bench.budgets:
            budget_point(bench, cfg, n)
        if cfg.temperature == 0 and bench.k > 1:
            raise RecipeError(
                f"benchmarks.{bench.name}.k={bench.k} at generate.temperature=0: greedy samples "
                "are all the same; use k=1 (--k 1) for greedy evaluation"
            )
        name, params = bench.reward()
        get_reward(name, **params)
        path = Path(bench.source).expanduser()
        if bench.data is None and bench.source.startswith(("/", "./", "../", "~")) or path.suffix:
            if not path.exists():
                raise RecipeError(f"benchmarks.{bench.name}.source: no file at '{bench.source}'")
    if ctx.model_folder and ctx.model_context:
        for bench in benches:
            if bench.data or bench.source == "synthetic" or Path(bench.local_source()).exists():
                yield prompt_fits(ctx, bench, cfg)
    yield ok(
        "benchmarks: " + ", ".join(f"{b.name} (k={b.k}, {b.style}, {b.source})" for b in benches)
    )


def prompt_fits(ctx: Context, bench: Benchmark, cfg: GenerateConfig) -> Finding:
    """The longest prompt of a local benchmark + max_new_tokens within the model's context."""
    from r1lab.prompts import format_prompt

    prompts = [format_prompt(p["question"], bench.template) for p in bench.problems()]
    longest = longest_tokens(ctx.tokenizer, prompts)
    limit = min(int(ctx.model_context), cfg.max_model_len or int(ctx.model_context))
    if longest + cfg.max_new_tokens > limit:
        return error(
            f"benchmarks.{bench.name}: its longest prompt ({longest} tokens) + "
            f"generate.max_new_tokens ({cfg.max_new_tokens}) = {longest + cfg.max_new_tokens} "
            f"exceeds the model's context ({limit} tokens); lower generate.max_new_tokens, or "
            "leave this benchmark out for this model"
        )
    return ok(f"benchmarks.{bench.name}: prompts fit the context ({longest} tokens at most)")


# ---- the run -----------------------------------------------------------------------------------


def settings(recipe: Recipe, bench: Benchmark, cfg: GenerateConfig) -> dict[str, Any]:
    """What the benchmark's samples depend on: a rerun with other values must not mix with them."""
    from r1lab import __version__

    made = {k: v for k, v in dataclasses.asdict(bench).items() if k != "budgets"}
    return {
        "model": str(recipe.model["model_name_or_path"]),
        "revision": recipe.model.get("model_revision"),  # passed to vllm / transformers
        "model_settings": dict(recipe.model),
        "backend": cfg.backend,
        "sampling": json.loads(cfg.provenance()),
        "benchmark": made,  # not its budget sweep: each budget is a sample set of its own
        "r1lab": __version__,
    }


def budget_point(bench: Benchmark, cfg: GenerateConfig, n: int) -> GenerateConfig:
    """The generate: settings of the benchmark's budget `n`: k samples, the thinking capped at n."""
    try:
        budget = capped(cfg.budget, n, cfg.backend)
    except RecipeError as err:
        raise RecipeError(f"benchmarks.{bench.name}.budgets: {n}: {err}") from None
    return dataclasses.replace(cfg, num_samples=bench.k, budget=budget)


def sample_sets(recipe: Recipe, bench: Benchmark, cfg: GenerateConfig) -> list[SampleSet]:
    """The benchmark's k samples per problem in its folder, then (`greedy: true`) its greedy one
    and (`budgets:`) its k samples at each thinking budget, each in a folder of its own."""
    out = Path(recipe.output_dir) / bench.name
    runs = [(out, dataclasses.replace(cfg, num_samples=bench.k))]
    if bench.greedy:
        runs.append((out / GREEDY, dataclasses.replace(cfg, num_samples=1, temperature=0.0)))
    runs += [(budget_folder(out, n), budget_point(bench, cfg, n)) for n in bench.budgets]
    return [
        SampleSet(o, c, settings(recipe, bench, c), ADMITTED, provenance(recipe, c))
        for o, c in runs
    ]


def evaluate(recipe: Recipe) -> dict[str, dict[str, Any]]:
    """Generate what is missing (this node's shards), then on node 0 score every benchmark."""
    from r1lab.rewards import get_reward

    cfg, out = recipe.parsed["generate"], Path(recipe.output_dir)
    rank, _ = node_position()
    planned = [(bench, sample_sets(recipe, bench, cfg)) for bench in benchmarks(recipe)]
    engine: list[Any] = []  # one engine for every benchmark and budget, started when first needed

    def generator(samples: SampleSet) -> Any:
        if not engine:
            engine.append(cfg.load(recipe.model, rank))
        return samples.cfg.held(engine[0])  # at the sample set's own budget

    plans = []
    for bench, sets in planned:
        problems, (name, params) = bench.problems(), bench.reward()
        reward = get_reward(name, **params)  # the verifier, built once for samples and greedy
        rows, schema = prompts_of(problems, bench.template)
        asked = {row["prompt_id"]: row["prompt"] for row in rows}
        for samples in sets:
            samples.admit_settings(write=rank == 0)
        for samples in sets:
            if not samples.generate(rows, schema, lambda s=samples: generator(s)):
                return {}
        plans.append((bench, problems, asked, reward, sets))
    if rank != 0:
        return {}
    reports = {}
    made_by = lineage.make(recipe, out, benchmarks=sorted(b.name for b, *_ in plans))
    for bench, problems, asked, reward, sets in plans:
        if not all(samples.wait(len(problems)) for samples in sets):
            return {}
        made = sets[0].settings
        reports[bench.name] = write_report(
            bench, problems, asked, reward, sets[0].out, made, made_by
        )
    curves = scaling.table(reports)  # accuracy against samples, before the table that ends a run
    atomic_write(out / "scaling.md", lambda tmp: Path(tmp).write_text(curves))
    atomic_write(out / "scaling.png", lambda tmp: scaling.plot(reports, tmp))
    table = results_table(reports)
    atomic_write(out / "results.md", lambda tmp: Path(tmp).write_text(table))
    lineage.save(out, made_by)
    print(table, flush=True)
    log(f"results: {out / 'results.md'}, per benchmark {out}/<benchmark>.json, scaling.md/.png")
    return reports


# ---- command line ------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="r1lab evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("target", help="an evaluate recipe, a training recipe, or a model")
    parser.add_argument("overrides", nargs="*", help="recipe overrides, key=value")
    parser.add_argument("--model", default=None, help="the model to evaluate (folder or Hub id)")
    parser.add_argument("--benchmark", nargs="+", default=None, help="only these benchmarks")
    parser.add_argument("--k", type=int, default=None, help="samples per problem, every benchmark")
    parser.add_argument("--num-problems", type=int, default=None, help="the first n problems")
    parser.add_argument("--temperature", type=float, default=None)
    parser.add_argument(
        "--budgets",
        nargs="+",
        default=None,
        help="thinking budgets (max_think_tokens) to sample each benchmark at: the budget curve",
    )
    parser.add_argument(
        "--out", default=None, help="training recipes: the held-out metrics' file (DIR/NAME.json)"
    )
    parser.add_argument("--fresh", action="store_true", help="delete the output dir first")
    args = parser.parse_intermixed_args(argv)
    if args.benchmark:  # `--benchmark aime24 k=v`: what follows the names is overrides
        args.overrides += [b for b in args.benchmark if "=" in b]
        args.benchmark = [b for b in args.benchmark if "=" not in b]
    if args.budgets:  # likewise `--budgets 8 16 k=v`
        args.overrides += [b for b in args.budgets if "=" in b]
        try:
            args.budgets = [int(b) for b in args.budgets if "=" not in b]
        except ValueError:
            parser.error(f"--budgets takes whole numbers (max_think_tokens), got {args.budgets}")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    recipe = recipe_of(args)
    run_start.begin(RunFacts(recipe, KIND), args.fresh, ignore=KIND.rerun_may_change)
    evaluate(recipe)
    return 0


def recipe_of(args: argparse.Namespace) -> Recipe:
    """The one evaluate recipe that the command line asks for: an evaluate recipe, a model on
    evaluate/r1, a training recipe's model on evaluate/r1's benchmarks (`--benchmark`), or a
    training recipe's held-out split (r1lab.heldout)."""
    name, recipes = normalize_name(args.target), list_recipes()
    target, model = args.target, args.model
    if name not in recipes:
        folder = name.split("/", 1)[0]
        if any(r.startswith(folder + "/") for r in recipes) and not Path(target).exists():
            compose(target)  # `evaluate/rr`: a mistyped recipe, not a model; says which
        model, target = model or target, DEFAULT_RECIPE  # a model
    first = compose(target, [] if args.benchmark else args.overrides)
    trained = first.kind != KIND.name
    base = (
        compose(DEFAULT_RECIPE if trained else target, args.overrides) if args.benchmark else first
    )
    options = {
        "k": args.k,
        "num_problems": args.num_problems,
        "temperature": args.temperature,
        "budgets": args.budgets,
    }
    if not trained:
        data = with_arguments(base, model, args.benchmark, None, **options)
    elif args.benchmark:  # its model on evaluate/r1's benchmarks, prompted as trained
        template = first.data.get("template", "r1_zero")
        data = with_arguments(
            base, model or default_model(first), args.benchmark, template, **options
        )
    else:  # its held-out split, one more benchmark
        data = heldout_recipe(first, model, args.out, **options)
    return from_dict(base.name, data, base.overrides)


def finished(recipe: Recipe) -> bool:
    """Every benchmark scored and the table written, by this very recipe."""
    out = Path(recipe.output_dir)
    scored = all((out / f"{bench.name}.json").exists() for bench in benchmarks(recipe))
    return scored and (out / "results.md").exists() and run_dir.same_recipe(recipe)


KIND = Kind(
    name="evaluate",
    help="benchmarks (AIME, MATH-500, GPQA, LCB) or a training run's held-out split: pass@1, maj@k",
    module="r1lab.kinds.evaluate",
    run=main,
    config_class=None,
    sections={"generate": parse_generate, "benchmarks": parse_benchmarks},
    checks=(check_evaluate_generation, check_benchmarks),
    launcher="python",
    loads_model=lambda recipe: recipe.parsed["generate"].backend != "openai",
    reads_data=False,
    finished=finished,
    # each benchmark's samples are admitted on their own, by their sampling provenance
    rerun_may_change=(*NOT_GENERATION, "benchmarks", "model", "generate"),
)

if __name__ == "__main__":
    exit_on_error(lambda: main(sys.argv[1:]))
