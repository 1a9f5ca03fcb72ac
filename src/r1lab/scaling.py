"""Inference-time scaling, read from an evaluation's saved samples: accuracy against the number of
samples (pass@1, maj@k and pass@k for k = 1, 2, 4, ... up to each benchmark's k) and, for a
benchmark with a budget sweep (`budgets:`), accuracy and mean tokens against the thinking budget,
as the table `scaling.md` and the picture `scaling.png` that `r1lab evaluate` writes beside
`results.md`.

Nothing is generated here: `r1lab.metrics.summarize` computes each benchmark's `scaling` rows from
its per-sample results and `r1lab.evaluation_report` its `budgets` rows from the samples of each
budget, so the curves of any finished evaluation can be redrawn from its JSON.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def table(reports: dict[str, dict[str, Any]]) -> str:
    """Markdown: one row per benchmark and k, pass@1 beside maj@k and pass@k."""
    lines = [
        "Accuracy against samples per problem (from the saved samples; maj@k: the vote of the "
        "first k samples; pass@k: unbiased, Chen et al. 2021).",
        "",
        "| benchmark | k | pass@1 | maj@k | pass@k |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, report in reports.items():
        for row in report["scaling"]:
            lines.append(
                f"| {name} | {row['k']} | {100 * row['pass@1']:.1f} | {vote(row)} | "
                f"{100 * row['pass@k']:.1f} |"
            )
    swept = {name: r["budgets"] for name, r in reports.items() if r.get("budgets")}
    if swept:
        lines += [
            "",
            "Accuracy against the thinking budget (s1 budget forcing: the thinking stops after "
            "max_think_tokens and the answer follows; `none`: unbounded; k samples per problem "
            "at each budget).",
            "",
            "| benchmark | max_think_tokens | pass@1 (± s.e.) | maj@k | mean tokens | truncated |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, rows in swept.items():
            for row in rows:
                lines.append(
                    f"| {name} | {budget_label(row)} | {100 * row['pass@1']:.1f} ± "
                    f"{100 * row['pass@1_stderr']:.1f} | {vote(row)} | "
                    f"{row['mean_completion_tokens']:.1f} | {100 * row['truncated']:.1f}% |"
                )
    return "\n".join(lines) + "\n"


def vote(row: dict[str, Any]) -> str:
    """A row's maj@k in points; "–" where there is no vote (code)."""
    return f"{100 * row['maj@k']:.1f}" if "maj@k" in row else "–"


def budget_label(row: dict[str, Any]) -> str:
    cap = row["max_think_tokens"]
    return "none" if cap is None else str(cap)


def plot(reports: dict[str, dict[str, Any]], path: str | Path) -> None:
    """One panel per benchmark: pass@1 (flat), maj@k and pass@k against k on a log-2 axis; below
    it, for a benchmark with a budget sweep, accuracy and mean tokens against the budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(reports)
    swept = any(reports[name].get("budgets") for name in names)
    fig, axes = plt.subplots(
        2 if swept else 1,
        len(names),
        figsize=(4 * len(names), 3.4 * (2 if swept else 1)),
        squeeze=False,
    )
    for ax, name in zip(axes[0], names, strict=True):
        rows = reports[name]["scaling"]
        ks = [r["k"] for r in rows]
        ax.plot(ks, [100 * r["pass@k"] for r in rows], "o-", label="pass@k")
        if all("maj@k" in r for r in rows):
            ax.plot(ks, [100 * r["maj@k"] for r in rows], "s-", label="maj@k")
        ax.plot(ks, [100 * r["pass@1"] for r in rows], "--", color="grey", label="pass@1")
        ax.set_xscale("log", base=2)
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.set_ylim(0, 100)
        ax.set_xlabel("samples per problem (k)")
        ax.set_ylabel("% of problems")
        ax.set_title(f"{name} ({reports[name]['problems']} problems)", fontsize="medium")
        ax.legend(loc="best", fontsize="small")
    if swept:
        for ax, name in zip(axes[1], names, strict=True):
            budget_panel(ax, name, reports[name].get("budgets") or [])
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)


def budget_panel(ax: Any, name: str, rows: list[dict[str, Any]]) -> None:
    """Accuracy (pass@1 ± s.e., maj@k) and mean tokens (right axis) at each thinking budget, the
    budgets evenly spaced in increasing order, `none` (unbounded) last."""
    if not rows:
        ax.axis("off")
        return
    rows = sorted(rows, key=lambda r: (r["max_think_tokens"] is None, r["max_think_tokens"] or 0))
    at = list(range(len(rows)))
    ax.errorbar(
        at,
        [100 * r["pass@1"] for r in rows],
        yerr=[100 * r["pass@1_stderr"] for r in rows],
        fmt="o-",
        capsize=3,
        label="pass@1",
    )
    if all("maj@k" in r for r in rows):
        ax.plot(at, [100 * r["maj@k"] for r in rows], "s-", label="maj@k")
    ax.set_xticks(at, [budget_label(r) for r in rows])
    ax.set_ylim(0, 100)
    ax.set_xlabel("thinking budget (max_think_tokens)")
    ax.set_ylabel("% of problems")
    ax.set_title(f"{name}: accuracy against the budget", fontsize="medium")
    tokens = ax.twinx()
    tokens.plot(at, [r["mean_completion_tokens"] for r in rows], "^:", color="grey")
    tokens.set_ylabel("mean tokens (grey, dotted)")
    tokens.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize="small")
