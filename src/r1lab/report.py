"""The demo's report: the models side by side, the R1 paper's four findings as measured on this
run (held or not), per-stage training curves and the final model's lineage.

Reads the held-out evaluations (`heldout.json`) and TRL's own `trainer_state.json` log history,
so any run can be plotted the same way.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1lab import step_time

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


def logged_every(steps: Sequence[float]) -> int | None:
    """The step interval between logged points when it is regular, else None."""
    gaps = {round(b - a) for a, b in zip(steps, steps[1:], strict=False)}
    return gaps.pop() if len(gaps) == 1 else None


def smoothing_label(window: int, every: int | None) -> str:
    """What the smoothed curve averages, in steps where the log interval is regular."""
    if every:
        return f"trailing mean over {window * every} steps ({window} logged points)"
    return f"trailing mean of {window} logged points"


TITLE_WIDTH = 55  # characters per title line that fit a 5-inch plot at font size 9


def wrap_title(title: str) -> str:
    """The title on as many lines as it needs to fit the plot's width."""
    import textwrap

    return "\n".join(textwrap.wrap(title, TITLE_WIDTH)) or title


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
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
    if window > 1:  # a one-point "mean" would only draw the raw curve again
        ax.plot(steps, values, marker=".", linewidth=0.8, alpha=0.25, color="C0", label="logged")
        label = smoothing_label(window, logged_every(steps))
        ax.plot(steps, moving_average(values, window), linewidth=2, color="C0", label=label)
    else:
        ax.plot(steps, values, marker=".", linewidth=1.2, color="C0", label="logged")
    limits = y_limits(key, values)
    if limits is not None:
        ax.set_ylim(*limits)
    ax.set_xlabel(xlabel)
    ax.set_title(wrap_title(title), fontsize=9)
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
    delta: float = 0.0  # the gain, as a fraction
    noise: float = 0.0  # its standard error


def _se(metrics: dict[str, Any]) -> float:
    """pass@1's standard error; NaN for an evaluation that saved none: unknown, never taken as 0
    (a model without noise would turn any gain over it into "held")."""
    value = metrics.get("pass@1_stderr")
    return float("nan") if value is None else float(value)


def per_problem(metrics: dict[str, Any], key: str = "pass@1") -> dict[str, float] | None:
    """Question -> `key` of each held-out problem; None for an evaluation that did not save them."""
    rows = metrics.get("per_problem")
    return {row["question"]: float(row[key]) for row in rows} if rows else None


def paired(better: dict[str, Any], worse: dict[str, Any], key: str = "pass@1"):
    """(difference, its s.e., "paired" | "unpaired") of `key` between two evaluations."""
    from r1lab.metrics import paired_difference

    a, b = per_problem(better, key), per_problem(worse, key)
    if a is not None and b is not None:
        return (*paired_difference(a, b), "paired")
    # an older heldout.json without per-problem scores: the two s.e. as if independent
    noise = (_se(better) ** 2 + _se(worse) ** 2) ** 0.5
    return better[key] - worse[key], noise, "unpaired"


def verdict(delta: float, noise: float) -> str:
    """`held` when the gain is over twice its standard error, `held, within noise` when it is
    positive but smaller, `did not hold` otherwise: a small positive gain is not called a win."""
    if delta <= 0:
        return "did not hold"
    if math.isnan(noise):
        return "not judged: no standard error saved"
    return "held" if delta > 2 * noise else "held, within noise (< 2 s.e.)"


def margin(finding: Finding) -> tuple[int, float]:
    """How far a finding holds, for taking the weaker of two: a loss first, then a gain whose
    noise is unknown, then by how far the gain is beyond 2 s.e."""
    if finding.delta <= 0:
        return 0, finding.delta
    if math.isnan(finding.noise):
        return 1, 0.0
    return 2, finding.delta - 2 * finding.noise


def compare(claim: str, better: Model, worse: Model) -> Finding:
    a, b = better.metrics["pass@1"], worse.metrics["pass@1"]
    delta, noise, how = paired(better.metrics, worse.metrics)
    measured = (
        f"pass@1 {100 * a:.1f}% vs {100 * b:.1f}% ({100 * delta:+.1f} pts; s.e. of the "
        f"{how} difference {100 * noise:.1f})"
    )
    return Finding(claim, measured, verdict(delta, noise), delta, noise)


def vote_gain(metrics: dict[str, Any]) -> tuple[float, float]:
    """maj@k - pass@1 of one model and its s.e., paired over its problems."""
    from r1lab.metrics import paired_difference

    k = metrics["k"]
    votes, single = per_problem(metrics, f"maj@{k}"), per_problem(metrics)
    if votes is None or single is None:  # an older heldout.json: no s.e. to give
        return metrics[f"maj@{k}"] - metrics["pass@1"], 0.0
    return paired_difference(votes, single)


def findings(models: dict[str, Model]) -> list[Finding]:
    """DeepSeek-R1's four findings on the demo's models (keys base, r1_zero, distilled,
    cold_start, grpo; `distilled` may be absent, then the cold-start model is the student)."""
    base, zero, cold, both = (models[k] for k in ("base", "r1_zero", "cold_start", "grpo"))
    distilled = models.get("distilled", cold)
    k = zero.metrics["k"]
    vote, single = zero.metrics[f"maj@{k}"], zero.metrics["pass@1"]
    gain, gain_se = vote_gain(zero.metrics)
    wins = sum(vote_gain(m.metrics)[0] > 0 for m in models.values())
    vote_finding = Finding(
        f"(b) majority vote over {k} samples beats pass@1 (R1-Zero model)",
        f"maj@{k} {100 * vote:.1f}% vs pass@1 {100 * single:.1f}% ({100 * gain:+.1f} pts; "
        f"s.e. {100 * gain_se:.1f}); maj@{k} > pass@1 for {wins} of the {len(models)} models",
        verdict(gain, gain_se),
        gain,
        gain_se,
    )
    # (d) must beat both, so it is judged against each and holds only if it holds against both
    over_sft = compare("", both, cold)
    over_rl = compare("", both, zero)
    weaker = min((over_sft, over_rl), key=margin)
    alone = Finding(
        "(d) SFT -> GRPO beats the cold-start SFT alone and R1-Zero GRPO alone",
        f"vs SFT alone: {over_sft.measured}; vs GRPO alone: {over_rl.measured}",
        weaker.verdict,
        weaker.delta,
        weaker.noise,
    )
    return [
        compare("(a) R1-Zero GRPO raises sampled pass@1 over the base", zero, base),
        vote_finding,
        compare(
            "(c) distillation beats R1-Zero GRPO on the student (SFT of the base on the "
            "teacher's verified traces vs R1-Zero GRPO from the same base)",
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


def percent(value: float | None) -> str:
    """A fraction in points, or "–" where an evaluation did not measure it (code has no vote)."""
    return "–" if value is None else f"{100 * value:.1f}"


def scaling_lines(models: dict[str, Model]) -> list[str]:
    """Inference-time scaling of every model, from its saved samples: maj@k / pass@k at each k."""
    curves = {m.label: m.metrics.get("scaling") for m in models.values()}
    if not all(curves.values()):  # an evaluation from before r1lab saved the curve
        return []
    ks = [row["k"] for row in next(iter(curves.values()))]
    lines = [
        "",
        "Inference-time scaling (the same samples, no new generation): maj@k / pass@k "
        "against k samples per problem.",
        "",
        "| model | " + " | ".join(f"k={k}" for k in ks) + " |",
        "| --- |" + " ---: |" * len(ks),
    ]
    for label, rows in curves.items():
        cells = [f"{percent(r.get('maj@k'))} / {100 * r['pass@k']:.1f}" for r in rows]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


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
    k, temperature = first["k"], first["sampling"]["temperature"]
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
            f"{100 * m['pass@1']:.1f}% ± {percent(m.get('pass@1_stderr'))}",
            *(
                f"{100 * value:.1f}%" if value is not None else "-"
                for value in (
                    m.get(f"maj@{m['k']}"),
                    (m.get("pass@k") or {}).get(str(m["k"])),  # JSON's keys are strings
                    m.get("greedy"),
                    m.get("format"),
                )
            ),
            f"{m.get('mean_completion_tokens', 0):.1f}",
        ]
        lines.append(f"| {model.label} | " + " | ".join(cells) + " |")
    lines += scaling_lines(models)
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
        times = step_time.table(history)  # GRPO stages: where a step's time went
        if times:
            lines += ["", f"{model.label}: where a GRPO step's time went", "", *times, ""]
    if lineage_text:
        lines += ["", "## Lineage of the last model (`r1lab show`)", "", "```", lineage_text, "```"]
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n")
    return report


def write_seeds(
    out_dir: str | Path, per_seed: dict[int, tuple[list[Finding], float]], command: str
) -> Path:
    """`seeds.md` in `out_dir`: each finding's gain in every training seed (± its paired s.e.),
    the mean ± s.d. over seeds, and in how many seeds it held beyond 2 s.e."""
    from statistics import mean, stdev

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seeds = sorted(per_seed)
    lines = [
        f"# r1lab demo over {len(seeds)} training seeds",
        "",
        f"Reproduce: `{command}`. Each cell: the finding's gain in pass@1 points (maj@k over "
        "pass@1 for (b); for (d) its smaller margin, over SFT alone or GRPO alone) ± the s.e. "
        "of the paired difference. Seed 0 is the default `make demo` run.",
        "",
        "| finding | " + " | ".join(f"seed {s}" for s in seeds) + " | mean ± s.d. | held |",
        "| --- | " + " | ".join("---:" for _ in seeds) + " | ---: | ---: |",
    ]
    for i, claim in enumerate(f.claim for f in per_seed[seeds[0]][0]):
        row = [per_seed[s][0][i] for s in seeds]
        deltas = [100 * f.delta for f in row]
        spread = stdev(deltas) if len(deltas) > 1 else 0.0
        held = sum(f.verdict == "held" for f in row)
        cells = [f"{100 * f.delta:+.1f} ± {100 * f.noise:.1f}" for f in row]
        lines.append(
            f"| {claim} | "
            + " | ".join(cells)
            + f" | {mean(deltas):+.1f} ± {spread:.1f} | {held} of {len(seeds)} |"
        )
    times = ", ".join(f"seed {s} {per_seed[s][1]:.0f} s" for s in seeds)
    lines += ["", f"Time per seed (stages that had finished before are skipped): {times}."]
    path = out / "seeds.md"
    path.write_text("\n".join(lines) + "\n")
    return path
