"""Inference-time scaling, read from an evaluation's saved samples: accuracy against the number of
samples (pass@1, maj@k and pass@k for k = 1, 2, 4, ... up to each benchmark's k), as the table
`scaling.md` and the picture `scaling.png` that `r1lab evaluate` writes beside `results.md`.

Nothing is generated: `r1lab.metrics.summarize` computes each benchmark's `scaling` rows from its
per-sample results, so the curve of any finished evaluation can be redrawn from its JSON.
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
            vote = f"{100 * row['maj@k']:.1f}" if "maj@k" in row else "–"
            lines.append(
                f"| {name} | {row['k']} | {100 * row['pass@1']:.1f} | {vote} | "
                f"{100 * row['pass@k']:.1f} |"
            )
    return "\n".join(lines) + "\n"


def plot(reports: dict[str, dict[str, Any]], path: str | Path) -> None:
    """One panel per benchmark: pass@1 (flat), maj@k and pass@k against k on a log-2 axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(reports)
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.4), squeeze=False)
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
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)
