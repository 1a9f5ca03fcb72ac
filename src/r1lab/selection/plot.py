"""The picture of a selection: how many prompts pass how often, and the band that was kept.

Apart from `r1lab.selection` because it decides nothing: it draws what the report says (and is
left out of mutation testing, where a colour or a figure size has no test that could judge it).
"""

from __future__ import annotations

from typing import Any


def pass_rate_histogram(report: dict[str, Any], path: str) -> None:
    """Prompts by pass rate (11 bins, 0.0 to 1.0), the kept band shaded, as a PNG at `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = report.get("config", {})
    fig, ax = plt.subplots(figsize=(6, 3.5))
    edges = [(i - 0.5) / 10 for i in range(12)]  # 11 bins centred on 0.0, 0.1, ..., 1.0
    ax.hist(report.get("pass_rates", []), bins=edges, color="tab:blue", edgecolor="white")
    above, below = cfg.get("pass_rate_above"), cfg.get("pass_rate_below")
    if above is not None or below is not None:
        low = -0.05 if above is None else above
        high = 1.05 if below is None else below
        ax.axvspan(
            low, high, color="tab:green", alpha=0.15, zorder=0, label="kept band (exclusive)"
        )
        for bound in (above, below):
            if bound is not None:
                ax.axvline(bound, color="tab:green", linestyle="--")
        ax.legend(loc="best", fontsize="small")
    ax.set_xlim(-0.05, 1.05)
    ax.set_xlabel("pass rate per prompt (fraction of its samples that pass the verifiers)")
    ax.set_ylabel("prompts")
    ax.set_title(
        f"kept {report.get('kept', 0)}/{report.get('samples', 0)} samples, "
        f"{report.get('prompts_kept', 0)}/{report.get('prompts', 0)} prompts"
    )
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)
