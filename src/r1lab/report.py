"""The demo's report: the models side by side, the R1 paper's four findings as measured on this
run (held or not), per-stage training curves and the final model's lineage.

Reads the held-out evaluations (`heldout.json`) and TRL's own `trainer_state.json` log history,
so any run can be plotted the same way.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
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


def plot(
    history: list[dict[str, Any]], key: str, title: str, out: Path, xlabel: str = "GRPO step"
) -> bool:
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
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return True


@dataclass(frozen=True)
class Model:
    """One model of the demo: its label, its held-out metrics and the run that trained it."""

    label: str
    metrics: dict[str, Any]
    run_dir: Path
    # (file name, log key) of the curves to plot; None: GRPO's if the run logged rewards, else SFT's
    curves: tuple[tuple[str, str], ...] | None = None


@dataclass(frozen=True)
class Finding:
    claim: str
    measured: str
    verdict: str  # held | held, within noise | did not hold


def _se(metrics: dict[str, Any]) -> float:
    return float(metrics.get("pass@1_stderr") or 0.0)


def verdict(delta: float, noise: float) -> str:
    """`held` when the gain is over twice its standard error, `held, within noise` when it is
    positive but smaller, `did not hold` otherwise: a small positive gain is not called a win."""
    if delta <= 0:
        return "did not hold"
    return "held" if delta > 2 * noise else "held, within noise (< 2 s.e.)"


def compare(claim: str, better: Model, worse: Model) -> Finding:
    a, b = better.metrics["pass@1"], worse.metrics["pass@1"]
    noise = (_se(better.metrics) ** 2 + _se(worse.metrics) ** 2) ** 0.5
    measured = (
        f"pass@1 {100 * a:.1f}% vs {100 * b:.1f}% ({100 * (a - b):+.1f} pts; s.e. of the "
        f"difference {100 * noise:.1f})"
    )
    return Finding(claim, measured, verdict(a - b, noise))


def findings(models: dict[str, Model]) -> list[Finding]:
    """DeepSeek-R1's four findings, on the demo's models (keys base, r1_zero, cold_start, grpo)."""
    base, zero, distilled, both = (models[k] for k in ("base", "r1_zero", "cold_start", "grpo"))
    k = zero.metrics["k"]
    vote, single = zero.metrics[f"maj@{k}"], zero.metrics["pass@1"]
    wins = sum(m.metrics[f"maj@{m.metrics['k']}"] > m.metrics["pass@1"] for m in models.values())
    vote_finding = Finding(
        f"(b) majority vote over {k} samples beats pass@1 (R1-Zero model)",
        f"maj@{k} {100 * vote:.1f}% vs pass@1 {100 * single:.1f}% ({100 * (vote - single):+.1f} "
        f"pts); maj@{k} > pass@1 for {wins} of the {len(models)} models",
        "held" if vote > single else "did not hold",
    )
    best_alone = max((distilled, zero), key=lambda m: m.metrics["pass@1"])
    alone = compare(
        "(d) SFT -> GRPO beats SFT alone and GRPO alone (against the better of the two)",
        both,
        best_alone,
    )
    return [
        compare("(a) R1-Zero GRPO raises sampled pass@1 over the base", zero, base),
        vote_finding,
        compare(
            "(c) distillation beats R1-Zero GRPO on the student (SFT of the base on the R1-Zero "
            "model's verified traces vs that R1-Zero model)",
            distilled,
            zero,
        ),
        alone,
    ]


GRPO_CURVES = (
    ("reward", "reward"),
    ("accuracy", "rewards/accuracy/mean"),
    ("length", "completions/mean_length"),
)
SFT_CURVES = (("loss", "loss"),)


def write(
    out_dir: str | Path,
    models: dict[str, Model],
    command: str,
    lineage_text: str = "",
    setup: str = "",
) -> Path:
    """`report.md` in `out_dir`: the models, the findings, the curves of every stage, lineage."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    first = next(iter(models.values())).metrics
    k, temperature = first["k"], first["settings"]["temperature"]
    lines = [
        "# r1lab demo: DeepSeek-R1's three recipes on the tiny world",
        "",
        f"Held-out test problems: {first['problems']} (disjoint from training by construction), "
        f"{k} samples each at T={temperature}; every model scored by the same verifier and seed.",
        f"Reproduce: `{command}`",
        *([setup] if setup else []),
        "",
        f"| model | pass@1 (± s.e.) | maj@{k} | pass@{k} | greedy | format | mean tokens |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for model in models.values():
        m = model.metrics
        cells = [
            f"{100 * m['pass@1']:.1f}% ± {100 * _se(m):.1f}",
            *(
                f"{100 * m[key]:.1f}%" if key in m else "-"
                for key in (f"maj@{m['k']}", f"pass@{m['k']}", "greedy", "format")
            ),
            f"{m.get('mean_completion_tokens', 0):.1f}",
        ]
        lines.append(f"| {model.label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## The paper's findings, as measured on this run",
        "",
        "| finding | measured | on this run |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {f.claim} | {f.measured} | {f.verdict} |" for f in findings(models)]
    lines += ["", "## Training curves, per stage", ""]
    for name, model in models.items():
        history = log_history(model.run_dir)
        rl = any("reward" in h for h in history)
        curves = model.curves or (GRPO_CURVES if rl else SFT_CURVES)
        for curve, key in curves:
            path = out / f"{name}-{curve}.png"
            if plot(history, key, f"{model.label}: {key}", path, "GRPO step" if rl else "SFT step"):
                lines.append(f"![{name} {curve}]({name}-{curve}.png)")
        note = format_note(history)  # None unless the run logged a format reward
        if note:
            lines.append(f"\n{model.label}: {note}\n")
    if lineage_text:
        lines += ["", "## Lineage of the last model (`r1lab show`)", "", "```", lineage_text, "```"]
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n")
    return report
