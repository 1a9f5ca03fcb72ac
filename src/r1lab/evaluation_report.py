"""What an evaluation writes once its samples are in: each benchmark's saved samples scored
(`r1lab.scoring`), summarised (`r1lab.metrics`) and saved as results.parquet and <benchmark>.json,
and the table of every benchmark that ends a run (results.md)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from r1lab.atomic import atomic_write
from r1lab.benchmarks import STYLES, Benchmark, paper_figures
from r1lab.generation.shards import load_samples, shard_totals
from r1lab.metrics import shown_ks, summarize
from r1lab.scoring import score

RESULTS, GREEDY = "results.parquet", "greedy"


def budget_folder(out: Path, max_think_tokens: int) -> Path:
    """Where a benchmark's samples at one thinking budget live, beside its greedy ones."""
    return out / f"budget-{max_think_tokens}"


def write_report(
    bench: Benchmark,
    problems: list[dict[str, Any]],
    asked: dict[int, Any],
    reward: Callable[..., list[float | None]],
    out: Path,
    made: dict[str, Any],
    made_by: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Score the saved samples (`r1lab.scoring.score`: `asked`, each problem's prompt; `reward`,
    the verifier), then save the per-sample results and the benchmark's JSON (with `made_by`: the
    lineage of what was evaluated). Nothing is written for samples that cannot be summarised."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def grade(folder: Path) -> list[dict[str, Any]]:
        return score(bench, problems, asked, reward, load_samples(folder))

    generation = shard_totals(out)
    folders = [out, out / GREEDY] if bench.greedy else [out]  # graded alike, greedy last
    results, *greedy = [grade(folder) for folder in folders]
    metrics = summarize(results, bench.k, len(problems), STYLES[bench.style].same)
    questions = {p["prompt_id"]: p["question"] for p in problems}
    for row in metrics["per_problem"]:  # what pairs two models' problems (r1lab.report)
        row["question"] = str(questions[row["prompt_id"]])
    if greedy:
        metrics["greedy"] = summarize(greedy[0], 1, len(problems), None)["pass@1"]
    if bench.budgets:  # accuracy and length against the thinking budget
        metrics["budgets"] = budget_curve(bench, len(problems), grade, out, made, metrics)
    report = {
        **made,
        "benchmark": bench.name,
        "settings": made.get("benchmark"),
        "generation": generation,
        # the paper's figures describe the whole benchmark: none beside a subset
        "paper": paper_figures(made["model"], bench.name) if bench.num_problems is None else {},
        **metrics,
        **({"lineage": made_by} if made_by is not None else {}),
    }
    path = out.parent / f"{bench.name}.json"
    atomic_write(out / RESULTS, lambda tmp: pq.write_table(pa.Table.from_pylist(results), tmp))
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(report, indent=2)))
    return report


def budget_curve(
    bench: Benchmark,
    num_problems: int,
    grade: Callable[[Path], list[dict[str, Any]]],
    out: Path,
    made: dict[str, Any],
    metrics: dict[str, Any],
) -> list[dict[str, Any]]:
    """A row per thinking budget, its samples graded (`grade`: a folder's result rows) and
    summarised as the benchmark's own (`metrics`) are, those last: the samples at
    `generate.budget`'s cap (None: unbounded), the reference of the curve."""
    rows = []
    for n in bench.budgets:
        summary = summarize(
            grade(budget_folder(out, n)), bench.k, num_problems, STYLES[bench.style].same
        )
        rows.append(budget_row(n, summary, bench.k))
    cap = ((made.get("sampling") or {}).get("budget") or {}).get("max_think_tokens")
    return [*rows, budget_row(cap, metrics, bench.k)]


def budget_row(max_think_tokens: int | None, metrics: dict[str, Any], k: int) -> dict[str, Any]:
    """One point of the budget curve: the cap, and what the k samples under it scored."""
    keep = ("pass@1", "pass@1_stderr", "mean_completion_tokens", "truncated", "format")
    row = {"max_think_tokens": max_think_tokens, **{m: metrics[m] for m in keep if m in metrics}}
    if f"maj@{k}" in metrics:  # as the scaling rows name it
        row["maj@k"] = metrics[f"maj@{k}"]
    return row


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
