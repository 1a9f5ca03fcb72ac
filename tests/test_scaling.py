"""Inference-time scaling from saved samples: the table (`scaling.md`) and the picture
(`scaling.png`) of accuracy against k and against the thinking budget."""

from __future__ import annotations

import pytest

from r1lab.scaling import plot, table

from conftest import markdown_tables


def scaling_rows(pass1: float, votes: list[float] | None, passes: list[float]) -> list[dict]:
    ks = [1, 2, 4][: len(passes)]
    rows = [{"k": k, "pass@1": pass1, "pass@k": p} for k, p in zip(ks, passes, strict=True)]
    for row, vote in zip(rows, votes or [], strict=False):
        row["maj@k"] = vote
    return rows


def budget(cap: int | None, pass1: float, vote: float | None = None, tokens: float = 10.0):
    row = {
        "max_think_tokens": cap,
        "pass@1": pass1,
        "pass@1_stderr": 0.05,
        "mean_completion_tokens": tokens,
        "truncated": 0.125,
    }
    return row | ({"maj@k": vote} if vote is not None else {})


def reports(budgets: bool = False) -> dict[str, dict]:
    """aime24 with a vote (and, with `budgets`, a budget sweep), lcb (code) without one."""
    sweep = [budget(64, 0.3, 0.35, 40.0), budget(None, 0.4, 0.5, 70.5), budget(16, 0.1, 0.2, 12.0)]
    return {
        "aime24": {
            "problems": 30,
            "scaling": scaling_rows(0.25, [0.25, 0.3, 0.4], [0.25, 0.35, 0.5]),
            **({"budgets": sweep} if budgets else {}),
        },
        "lcb": {"problems": 12, "scaling": scaling_rows(0.5, None, [0.5, 0.625])},
    }


def test_the_table_has_a_row_per_benchmark_and_k_and_a_dash_where_there_is_no_vote():
    text = table(reports())
    assert text.startswith(
        "Accuracy against samples per problem (from the saved samples; maj@k: the vote of the "
        "first k samples; pass@k: unbiased, Chen et al. 2021).\n"
    )
    ((header, *rows),) = markdown_tables(text)  # no budget sweep: no second table
    assert header == ["benchmark", "k", "pass@1", "maj@k", "pass@k"]
    assert rows == [
        ["aime24", "1", "25.0", "25.0", "25.0"],
        ["aime24", "2", "25.0", "30.0", "35.0"],
        ["aime24", "4", "25.0", "40.0", "50.0"],
        ["lcb", "1", "50.0", "–", "50.0"],
        ["lcb", "2", "50.0", "–", "62.5"],
    ]
    assert text.endswith("| 62.5 |\n")


def test_a_budget_sweep_adds_accuracy_and_tokens_against_the_budget():
    data = reports(budgets=True)
    data["aime24"]["budgets"].append(budget(8, 0.0))  # a budget point without a vote
    text = table(data)
    _, (header, *rows) = markdown_tables(text)
    assert header == [
        "benchmark",
        "max_think_tokens",
        "pass@1 (± s.e.)",
        "maj@k",
        "mean tokens",
        "truncated",
    ]
    # in the order saved, unbounded as `none`; a benchmark without a sweep has no rows
    assert rows == [
        ["aime24", "64", "30.0 ± 5.0", "35.0", "40.0", "12.5%"],
        ["aime24", "none", "40.0 ± 5.0", "50.0", "70.5", "12.5%"],
        ["aime24", "16", "10.0 ± 5.0", "20.0", "12.0", "12.5%"],
        ["aime24", "8", "0.0 ± 5.0", "–", "10.0", "12.5%"],
    ]
    assert (
        "\nAccuracy against the thinking budget (s1 budget forcing: the thinking stops after "
        "max_think_tokens and the answer follows; `none`: unbounded; k samples per problem at "
        "each budget).\n" in text
    )


def drawn(monkeypatch) -> list:
    """The figures `plot` draws, kept open (not closed) to be looked at."""
    import matplotlib.pyplot as plt

    figures: list = []
    monkeypatch.setattr(plt, "close", figures.append)
    return figures


def curves(ax) -> dict[str, list[float]]:
    """Each line's label: its y values."""
    return {line.get_label(): list(line.get_ydata()) for line in ax.get_lines()}


def drawn_at(ax) -> dict[str, tuple[list, str]]:
    """Each line's label: its x values and its marker."""
    return {
        line.get_label(): (list(line.get_xdata()), line.get_marker()) for line in ax.get_lines()
    }


def test_the_picture_has_a_panel_per_benchmark_of_accuracy_against_k(tmp_path, monkeypatch):
    figures = drawn(monkeypatch)
    path = tmp_path / "scaling.png"
    plot(reports(), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (fig,) = figures
    aime, lcb = fig.axes  # one row: no budget sweep
    assert curves(aime) == {
        "pass@k": [25.0, 35.0, 50.0],
        "maj@k": [25.0, 30.0, 40.0],
        "pass@1": [25.0, 25.0, 25.0],
    }
    assert curves(lcb) == {"pass@k": [50.0, 62.5], "pass@1": [50.0, 50.0]}  # no vote to draw
    # every curve at the k it was measured at, its points marked (pass@1: a flat line)
    assert drawn_at(aime) == {
        "pass@k": ([1, 2, 4], "o"),
        "maj@k": ([1, 2, 4], "s"),
        "pass@1": ([1, 2, 4], "None"),
    }
    assert [text.get_text() for text in aime.get_legend().get_texts()] == list(curves(aime))
    (pass1,) = [line for line in aime.get_lines() if line.get_label() == "pass@1"]
    assert pass1.get_linestyle() == "--" and pass1.get_color() == "grey"  # the reference
    for ax, ks, title in ((aime, [1, 2, 4], "aime24 (30 problems)"), (lcb, [1, 2], "lcb (12")):
        assert ax.get_xscale() == "log" and ax.xaxis.get_transform().base == 2
        assert list(ax.get_xticks()) == ks
        assert [label.get_text() for label in ax.get_xticklabels()] == [str(k) for k in ks]
        assert ax.get_ylim() == (0, 100) and ax.get_title().startswith(title)
        assert ax.get_xlabel() == "samples per problem (k)"
        assert ax.get_ylabel() == "% of problems"
    assert tuple(fig.get_size_inches()) == pytest.approx((8, 3.4))  # 4 inches per panel


def test_a_budget_sweep_adds_a_row_of_budget_panels_in_increasing_order(tmp_path, monkeypatch):
    figures = drawn(monkeypatch)
    plot(reports(budgets=True), tmp_path / "scaling.png")
    (fig,) = figures
    assert tuple(fig.get_size_inches()) == pytest.approx((8, 6.8))
    _, _, sweep, empty, tokens = fig.axes  # the budget panel's token axis is a twin
    assert not empty.axison  # lcb has no sweep: its budget panel is left blank
    labels = [label.get_text() for label in sweep.get_xticklabels()]
    assert labels == ["16", "64", "none"]  # increasing, unbounded last
    assert list(sweep.get_xticks()) == [0, 1, 2]  # evenly spaced
    assert curves(sweep)["maj@k"] == [20.0, 35.0, 50.0]
    assert drawn_at(sweep)["maj@k"] == ([0, 1, 2], "s")
    (bars,) = sweep.containers  # pass@1 ± its s.e.
    assert list(bars.lines[0].get_ydata()) == [10.0, 30.0, 40.0]
    assert list(bars.lines[0].get_xdata()) == [0, 1, 2] and bars.lines[0].get_marker() == "o"
    (low, high), *_ = bars.lines[2][0].get_segments()
    assert (low[1], high[1]) == pytest.approx((5.0, 15.0))
    assert (
        sweep.get_ylim() == (0, 100) and sweep.get_title() == "aime24: accuracy against the budget"
    )
    assert sweep.get_xlabel() == "thinking budget (max_think_tokens)"
    assert sweep.get_ylabel() == "% of problems"
    assert {text.get_text() for text in sweep.get_legend().get_texts()} == {"pass@1", "maj@k"}
    (line,) = tokens.get_lines()
    assert list(line.get_ydata()) == [12.0, 40.0, 70.5] and tokens.get_ylim()[0] == 0
    assert tokens.get_ylabel() == "mean tokens (grey, dotted)"
    assert line.get_linestyle() == ":" and line.get_color() == "grey"


def test_a_budget_panel_without_votes_draws_accuracy_alone(tmp_path, monkeypatch):
    figures = drawn(monkeypatch)
    data = reports(budgets=True)
    data["aime24"]["budgets"].append(budget(8, 0.0))  # one point without a vote
    plot(data, tmp_path / "scaling.png")
    sweep = figures[0].axes[2]
    assert "maj@k" not in curves(sweep)
    assert [label.get_text() for label in sweep.get_xticklabels()] == ["8", "16", "64", "none"]
