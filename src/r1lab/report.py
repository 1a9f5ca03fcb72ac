"""The demo's report: before/after table and plots of reward, accuracy and length over steps.

Reads TRL's own `trainer_state.json` log history, so any GRPO run can be plotted the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PLOTS = {
    "reward": ("reward", "total reward (weighted)"),
    "accuracy": ("rewards/accuracy/mean", "accuracy reward (sampled, train prompts)"),
    "length": ("completions/mean_length", "mean completion length (tokens)"),
}


def log_history(run_dir: str | Path) -> list[dict[str, Any]]:
    state = Path(run_dir) / "trainer_state.json"
    return json.loads(state.read_text())["log_history"] if state.exists() else []


def plot(history: list[dict[str, Any]], key: str, title: str, out: Path) -> bool:
    """One PNG of `key` against the step; False if the run never logged it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [(h["step"], h[key]) for h in history if key in h and "step" in h]
    if not points:
        return False
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
    ax.plot(*zip(*points, strict=True), marker=".", linewidth=1)
    ax.set_xlabel("GRPO step")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return True


def write(
    out_dir: str | Path,
    before: dict[str, Any],
    after: dict[str, Any],
    grpo_dir: str | Path,
    command: str,
) -> Path:
    """`report.md` with the before/after table and the plots, in `out_dir`."""
    out = Path(out_dir)
    k = after["k"]
    rows = [
        (f"pass@1 (mean of {k} samples, T={after['settings']['temperature']})", "pass@1"),
        (f"maj@{k} (majority vote)", f"maj@{k}"),
        (f"pass@{k}", f"pass@{k}"),
        ("greedy accuracy", "greedy"),
        ("format (think/answer tags)", "format"),
        ("mean completion tokens", "mean_completion_tokens"),
    ]
    lines = [
        "# r1lab demo: R1-Zero on the tiny world",
        "",
        f"Held-out test problems: {after['problems']} (disjoint from training by construction).",
        f"Reproduce: `{command}`",
        "",
        "| metric | base (SFT) | after R1-Zero GRPO | change |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label, key in rows:
        if key in before and key in after:
            delta = after[key] - before[key]
            pct = key != "mean_completion_tokens"
            fmt = (lambda v: f"{100 * v:.1f}%") if pct else (lambda v: f"{v:.1f}")
            sign = "+" if delta >= 0 else ""
            change = f"{sign}{100 * delta:.1f} pts" if pct else f"{sign}{delta:.1f}"
            lines.append(f"| {label} | {fmt(before[key])} | {fmt(after[key])} | {change} |")
    history = log_history(grpo_dir)
    lines += ["", "## Training curves (GRPO)", ""]
    for name, (key, title) in PLOTS.items():
        if plot(history, key, title, out / f"{name}.png"):
            lines.append(f"![{title}]({name}.png)")
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n")
    return report
