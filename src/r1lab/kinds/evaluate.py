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
    <benchmark>/results.parquet           one row per sample: prompt_id, sample, correct, answer,
                                          completion_tokens, finish_reason, format
    <benchmark>.json                      metrics, how they were made, per-problem results
    scaling.md scaling.png                accuracy against samples: pass@1, maj@k, pass@k, k = 1..k
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
from r1lab.benchmarks import STYLES, Benchmark, paper_figures, parse_benchmarks
from r1lab.checks.context import Context, longest_tokens
from r1lab.checks.findings import Finding, Findings, error, ok
from r1lab.checks.generation import check_generation
from r1lab.errors import RecipeError, exit_on_error
from r1lab.generation.settings import NOT_GENERATION, GenerateConfig, provenance
from r1lab.generation.shards import (
    generate_shards,
    load_samples,
    log,
    node_position,
    num_shards,
    samples_schema,
    shard_totals,
    wait_for_shards,
)
from r1lab.kind import Kind
from r1lab.metrics import pass_at_k, shown_ks, summarize
from r1lab.recipe import Recipe
from r1lab.run_facts import RunFacts
from r1lab.scoring import score

DEFAULT_RECIPE = "evaluate/r1"
RESULTS, SETTINGS, GREEDY = "results.parquet", "settings.json", "greedy"
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


def prompts_of(problems: list[dict[str, Any]], template: str) -> tuple[list[dict[str, Any]], Any]:
    """The generation rows (prompt_id, prompt) and their shards' arrow schema."""
    from datasets import Dataset

    from r1lab.prompts import format_prompt

    rows = [
        {"prompt_id": p["prompt_id"], "prompt": format_prompt(p["question"], template)}
        for p in problems
    ]
    source = Dataset.from_list([{"prompt": r["prompt"]} for r in rows]).features.arrow_schema
    return rows, samples_schema(source)


def settings(recipe: Recipe, bench: Benchmark, cfg: GenerateConfig) -> dict[str, Any]:
    """What the benchmark's samples depend on: a rerun with other values must not mix with them."""
    from r1lab import __version__

    return {
        "model": str(recipe.model["model_name_or_path"]),
        "revision": recipe.model.get("model_revision"),  # passed to vllm / transformers
        "model_settings": dict(recipe.model),
        "backend": cfg.backend,
        "sampling": json.loads(cfg.provenance()),
        "benchmark": dataclasses.asdict(bench),
        "r1lab": __version__,
    }


def admit_benchmark(out: Path, made: dict[str, Any], write: bool) -> None:
    """The benchmark's folder holds samples of these settings, or none yet (every node checks;
    node 0 writes them)."""
    saved = out / SETTINGS
    if saved.exists():
        before = json.loads(saved.read_text())
        changed = [
            f"{key}: {before.get(key)!r} -> {made[key]!r}"
            for key in ("model", "model_settings", "backend", "sampling", "benchmark")
            if before.get(key) != made[key]
        ]
        if changed:
            raise RecipeError(
                f"{out} holds samples made otherwise ({'; '.join(changed)}); mixing them would "
                f"change the numbers silently. Use another trainer.output_dir, or delete {out}"
            )
    if write:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(saved, lambda tmp: Path(tmp).write_text(json.dumps(made, indent=2)))


def evaluate(recipe: Recipe) -> dict[str, dict[str, Any]]:
    """Generate what is missing (this node's shards), then on node 0 score every benchmark."""
    from r1lab.generation import load_generator

    cfg, out = recipe.parsed["generate"], Path(recipe.output_dir)
    rank, _ = node_position()
    model = str(recipe.model["model_name_or_path"])
    engine: list[Any] = []  # one engine for every benchmark, started when first needed

    def generator() -> Any:
        if not engine:
            engine.append(
                load_generator(cfg.backend, model, **cfg.backend_options(recipe.model, rank))
            )
        return engine[0]

    plans = []
    for bench in benchmarks(recipe):
        problems = bench.problems()
        rows, schema = prompts_of(problems, bench.template)
        bench_cfg = dataclasses.replace(cfg, num_samples=bench.k)
        bench_out = out / bench.name
        made = settings(recipe, bench, bench_cfg)
        admit_benchmark(bench_out, made, write=rank == 0)
        runs = [(bench_out, bench_cfg, made)]
        if bench.greedy:  # one greedy sample per problem, in a folder of its own
            greedy_cfg = dataclasses.replace(cfg, num_samples=1, temperature=0.0)
            runs.append((bench_out / GREEDY, greedy_cfg, settings(recipe, bench, greedy_cfg)))
            admit_benchmark(bench_out / GREEDY, runs[-1][2], write=rank == 0)
        for run_out, run_cfg, _ in runs:
            if not generate_shards(
                rows, schema, run_out, run_cfg, generator, provenance(recipe, run_cfg)
            ):
                return {}
        plans.append((bench, problems, [o for o, _, _ in runs], made))
    if rank != 0:
        return {}
    reports = {}
    total = {b.name: num_shards(len(p), cfg.shard_size) for b, p, _, _ in plans}
    for bench, problems, outs, made in plans:
        if not all(wait_for_shards(o, total[bench.name]) for o in outs):
            return {}
        made_by = lineage.make(recipe, out, benchmark=bench.name)
        reports[bench.name] = write_report(bench, problems, outs[0], made, made_by)
    curves = scaling.table(reports)  # accuracy against samples, before the table that ends a run
    atomic_write(out / "scaling.md", lambda tmp: Path(tmp).write_text(curves))
    atomic_write(out / "scaling.png", lambda tmp: scaling.plot(reports, tmp))
    table = results_table(reports)
    atomic_write(out / "results.md", lambda tmp: Path(tmp).write_text(table))
    lineage.record(recipe, out, benchmarks=sorted(reports))
    print(table, flush=True)
    log(f"results: {out / 'results.md'}, per benchmark {out}/<benchmark>.json, scaling.md/.png")
    return reports


def write_report(
    bench: Benchmark,
    problems: list[dict[str, Any]],
    out: Path,
    made: dict[str, Any],
    made_by: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Score the saved samples, save the per-sample results and the benchmark's JSON (with
    `made_by`: the lineage of what was evaluated)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    results = score(bench, problems, load_samples(out))
    atomic_write(out / RESULTS, lambda tmp: pq.write_table(pa.Table.from_pylist(results), tmp))
    metrics = summarize(results, bench.k, len(problems), STYLES[bench.style].same)
    questions = {p["prompt_id"]: p["question"] for p in problems}
    for row in metrics["per_problem"]:  # what pairs two models' problems (r1lab.report)
        row["question"] = str(questions[row["prompt_id"]])
    if bench.greedy:
        greedy = score(bench, problems, load_samples(out / GREEDY))
        metrics["greedy"] = summarize(greedy, 1, len(problems), None)["pass@1"]
    report = {
        **made,
        "benchmark": bench.name,
        "settings": made.get("benchmark"),
        "generation": shard_totals(out),
        # the paper's figures describe the whole benchmark: none beside a subset
        "paper": paper_figures(made["model"], bench.name) if bench.num_problems is None else {},
        **metrics,
        **({"lineage": made_by} if made_by is not None else {}),
    }
    path = out.parent / f"{bench.name}.json"
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(report, indent=2)))
    return report


def results_table(reports: dict[str, dict[str, Any]]) -> str:
    """Markdown: r1lab's figures with the paper's beside them where it has one."""
    head = (
        "| benchmark | problems | k | pass@1 (± s.e.) | paper pass@1 | maj@k | paper cons@64 "
        "| pass@k | mean tokens | truncated | format |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for name, r in reports.items():
        k, paper = r["k"], r.get("paper", {})
        vote = r.get(f"maj@{k}")
        passes = ", ".join(f"@{j} {100 * r['pass@k'][j]:.1f}" for j in shown_ks(k) if j > 1)
        lines.append(
            f"| {name} | {r['problems']} | {k} | {100 * r['pass@1']:.1f} ± "
            f"{100 * r['pass@1_stderr']:.1f} | {paper.get('pass@1', '–')} | "
            + (f"{100 * vote:.1f} (maj@{k})" if vote is not None else "–")
            + f" | {paper.get('cons@64', '–') if k == 64 else '–'} | {passes or '–'} | "
            f"{r['mean_completion_tokens']:.0f} | {100 * r['truncated']:.1f}% | "
            f"{100 * r.get('format', float('nan')):.1f}% |"
        )
    first = next(iter(reports.values()), {})
    sampling = first.get("sampling", {})
    made = (
        f"{first.get('model', '?')} (revision {first.get('revision') or '-'}) on "
        f"{first.get('backend', '?')}: temperature {sampling.get('temperature')}, top_p "
        f"{sampling.get('top_p')}, up to {sampling.get('max_new_tokens')} new tokens, seed "
        f"{sampling.get('seed')}; r1lab {first.get('r1lab', '?')}. Paper: DeepSeek-R1 "
        "(arXiv 2501.12948), for the whole benchmark only."
    )
    return f"{made}\n\n{head}" + "\n".join(lines) + "\n"


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
        "--out", default=None, help="training recipes: the held-out metrics' file (DIR/NAME.json)"
    )
    parser.add_argument("--fresh", action="store_true", help="delete the output dir first")
    args = parser.parse_intermixed_args(argv)
    if args.benchmark:  # `--benchmark aime24 k=v`: what follows the names is overrides
        args.overrides += [b for b in args.benchmark if "=" in b]
        args.benchmark = [b for b in args.benchmark if "=" not in b]
    return args


def main(argv: list[str]) -> int:
    from r1lab.recipe import compose, list_recipes, normalize_name

    args = parse_args(argv)
    args.template = None
    name, recipes = normalize_name(args.target), list_recipes()
    if name not in recipes:
        folder = name.split("/", 1)[0]
        if any(r.startswith(folder + "/") for r in recipes) and not Path(args.target).exists():
            compose(args.target)  # `evaluate/rr`: a mistyped recipe, not a model; says which
        args.model, args.target = args.model or args.target, DEFAULT_RECIPE  # a model
    first = compose(args.target, [] if args.benchmark else args.overrides)
    if first.kind != KIND.name and not args.benchmark:  # its held-out split, one more benchmark
        from r1lab import heldout

        recipe = heldout.evaluate_recipe(
            first,
            args.model,
            args.out,
            k=args.k,
            num_problems=args.num_problems,
            temperature=args.temperature,
        )
    elif first.kind != KIND.name:  # its model on evaluate/r1's benchmarks, prompted as trained
        from r1lab import heldout

        args.model = args.model or heldout.default_model(first)
        args.template = first.data.get("template", "r1_zero")
        recipe = with_arguments(compose(DEFAULT_RECIPE, args.overrides), args)
    else:
        recipe = with_arguments(
            compose(args.target, args.overrides) if args.benchmark else first, args
        )
    ignore = (*NOT_GENERATION, "benchmarks", "model", "generate")  # admitted per benchmark
    run_start.begin(RunFacts(recipe, KIND), args.fresh, ignore=ignore)
    evaluate(recipe)
    return 0


def with_arguments(recipe: Recipe, args: argparse.Namespace) -> Recipe:
    """The recipe with the command line's model, benchmarks, k, problems and temperature."""
    from r1lab.recipe import from_dict

    data = recipe.to_dict()
    if args.model:
        data["model"] = {**data["model"], "model_name_or_path": args.model}
        if not recipe.trainer.get("output_dir"):
            name = Path(args.model.rstrip("/")).name
            data["trainer"] = {**data["trainer"], "output_dir": f"runs/{recipe.name}/{name}"}
    section = data.get("benchmarks") or {}
    section = {n: {} for n in section} if isinstance(section, list) else dict(section)
    if args.benchmark:
        section = {n: section.get(n) or {} for n in args.benchmark}
    if args.template:
        section = {n: {"template": args.template, **(o or {})} for n, o in section.items()}
    for option, value in (("k", args.k), ("num_problems", args.num_problems)):
        if value is not None:
            section = {n: {**(o or {}), option: value} for n, o in section.items()}
    data["benchmarks"] = section
    if args.temperature is not None:
        data["generate"] = {**(data.get("generate") or {}), "temperature": args.temperature}
    return from_dict(recipe.name, data, recipe.overrides)


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
)

if __name__ == "__main__":
    exit_on_error(lambda: main(sys.argv[1:]))
