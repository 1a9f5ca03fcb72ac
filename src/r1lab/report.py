"""The demo's report: before/after table and plots of reward, accuracy, format and length over steps.

Reads TRL's own `trainer_state.json` log history, so any GRPO run can be plotted the same way.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

FORMAT_KEY = "rewards/format/mean"
PLOTS = {
    "reward": ("reward", "total reward (weighted)"),
    "accuracy": ("rewards/accuracy/mean", "accuracy reward (sampled, train prompts)"),
    "format": (FORMAT_KEY, "format reward (think/answer tags)"),
    "length": ("completions/mean_length", "mean completion length (tokens)"),
}
FRACTION_WORDS = ("accuracy", "format")
MAX_FRACTION_REWARD = 1.2  # accuracy 1.0 + format 0.2: the r1_zero total stays in [0, 1.2]
MARGIN = 0.05


def log_history(run_dir: str | Path) -> list[dict[str, Any]]:
    state = Path(run_dir) / "trainer_state.json"
    return json.loads(state.read_text())["log_history"] if state.exists() else []


def points(history: list[dict[str, Any]], key: str) -> list[tuple[float, float]]:
    """(step, value) for every log entry that has `key`."""
    return [(h["step"], h[key]) for h in history if key in h and "step" in h]


def smoothing_window(n: int) -> int:
    """About a tenth of the points: enough to show the trend, short enough to keep its turns."""
    return max(1, n // 10)


def moving_average(values: Sequence[float], window: int) -> list[float]:
    """Trailing mean of the last `window` values (fewer at the start).

    Each logged step averages a handful of samples, so the raw curve is mostly noise; the trailing
    mean uses no later steps, so the smoothed curve never shows a change before it happened.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    out = []
    for i in range(len(values)):
        recent = values[max(0, i - window + 1) : i + 1]
        out.append(sum(recent) / len(recent))
    return out


def is_fraction(key: str, values: Sequence[float]) -> bool:
    """Whether `key` is a rate in [0, 1]: accuracy, format, or a total reward that stays near it."""
    if any(word in key for word in FRACTION_WORDS):
        return True
    return key == "reward" and all(0 <= v <= MAX_FRACTION_REWARD for v in values)


def y_limits(key: str, values: Sequence[float]) -> tuple[float, float] | None:
    """Y-range that does not exaggerate: 0 to 1 for fractions, from 0 for lengths; else None (auto).

    Matplotlib's automatic range stretches a move from 0.40 to 0.45 over the whole plot height.
    """
    if not values:
        return None
    low, high = min(values), max(values)
    if is_fraction(key, values):
        low, high = min(0.0, low), max(1.0, high)
        pad = MARGIN * (high - low)
        return low - pad, high + pad
    if "length" in key:
        return 0.0, (1 + MARGIN) * (high if high > 0 else 1.0)
    return None


def format_note(history: list[dict[str, Any]]) -> str | None:
    """A sentence when the format reward never changed (a flat curve says nothing); else None."""
    found = points(history, FORMAT_KEY)
    values = [v for _, v in found]
    if not values or max(values) - min(values) > 1e-9:
        return None
    value = values[0]
    text = f"The format reward was {value:g} at every one of the {len(values)} logged steps"
    if value == 1.0:
        text += ": the base already writes the tags, so GRPO had no format left to learn"
    return text + "; its flat curve is not plotted."


def plot(history: list[dict[str, Any]], key: str, title: str, out: Path) -> bool:
    """One PNG of `key` against the step, raw points faint under the smoothed curve; False if absent."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    found = points(history, key)
    if not found:
        return False
    steps, values = (list(column) for column in zip(*found, strict=True))
    window = smoothing_window(len(values))
    smooth = moving_average(values, window)
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
    ax.plot(steps, values, marker=".", linewidth=0.8, alpha=0.25, color="C0", label="logged")
    ax.plot(steps, smooth, linewidth=2, color="C0", label=f"mean of the last {window} logged")
    limits = y_limits(key, values)
    if limits is not None:
        ax.set_ylim(*limits)
    ax.set_xlabel("GRPO step")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
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
    note = format_note(history)
    if note is not None:
        lines += [note, ""]
    for name, (key, title) in PLOTS.items():
        if key == FORMAT_KEY and note is not None:
            continue
        if plot(history, key, title, out / f"{name}.png"):
            lines.append(f"![{title}]({name}.png)")
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n")
    return report
