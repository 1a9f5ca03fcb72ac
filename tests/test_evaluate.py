"""pass@1 / maj@k / pass@k arithmetic, and the demo report built from a TRL log history."""

from __future__ import annotations

import json

import pytest

from r1lab import step_time
from r1lab.errors import RecipeError
from r1lab.heldout import EvalConfig
from r1lab.metrics import maj_at_k, paired_difference, standard_error, summarize
from r1lab.report import (
    FORMAT_KEY,
    TITLE_WIDTH,
    Finding,
    Model,
    compare,
    findings,
    format_note,
    logged_every,
    moving_average,
    plot,
    smoothing_label,
    smoothing_window,
    verdict,
    wrap_title,
    write,
    write_seeds,
    y_limits,
)

from conftest import markdown_tables as tables


def test_majority_vote_uses_normalised_answers_and_ignores_missing():
    # "6" and "6.0" are one vote; two wrong "5"s lose to three "6"s
    assert maj_at_k(["6", "5", "6.0", None, "5", " 6 "], [1, 0, 1, 0, 0, 1]) == 1.0
    assert maj_at_k(["5", "5", "6"], [0, 0, 1]) == 0.0
    assert maj_at_k([None, None], [0, 0]) == 0.0
    # a tie goes to the answer seen first (not the last, not the larger): both orders
    assert maj_at_k(["7", "8", "7", "8"], [0, 1, 0, 1]) == 0.0
    assert maj_at_k(["8", "7", "8", "7"], [1, 0, 1, 0]) == 1.0


def rows_of(sampled: list[list[int]], answers: list[list[str | None]]) -> list[dict]:
    """Per-sample result rows, as the evaluate kind's scorer writes them."""
    return [
        {
            "prompt_id": p,
            "sample": s,
            "correct": c,
            "answer": a,
            "completion_tokens": 1,
            "finish_reason": "stop",
        }
        for p, (cs, ans) in enumerate(zip(sampled, answers, strict=True))
        for s, (c, a) in enumerate(zip(cs, ans, strict=True))
    ]


def test_summary_metrics():
    sampled = [[1, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 0]]
    answers = [["3", "4", "5", "6"], ["1", "1", "2", "2"], ["9", "9", "9", "8"]]
    s = summarize(rows_of(sampled, answers), k=4, expected=3)
    assert s["pass@1"] == pytest.approx((0.25 + 0 + 0.75) / 3)
    assert s["maj@4"] == pytest.approx(2 / 3)  # problem 1: tie -> "3" (correct); problem 3: "9"
    assert s["pass@k"][4] == pytest.approx(2 / 3)
    greedy = summarize(rows_of([[1], [0], [0]], [["3"], ["1"], ["8"]]), k=1, expected=3)
    assert greedy["pass@1"] == pytest.approx(1 / 3)


def test_eval_section_rejects_unknown_keys():
    with pytest.raises(RecipeError, match="evaluate.temprature.*did you mean 'temperature'"):
        EvalConfig.from_recipe({"temprature": 0.6})
    assert EvalConfig.from_recipe({"k": 4}, k=16).k == 16
    assert EvalConfig.from_recipe({"split": "validation"}).split == "validation"
    with pytest.raises(RecipeError, match="evaluate.split must be 'test'"):
        EvalConfig.from_recipe({"split": "train"})


def test_validation_split_exists_only_for_synthetic_tasks():
    from r1lab.data import DataConfig, load_raw

    rows = load_raw(
        DataConfig.from_recipe({"source": "tasks/arithmetic", "test_size": 5}), "validation"
    )
    assert len(rows) == 5
    with pytest.raises(RecipeError, match="has no validation split here"):
        load_raw(DataConfig.from_recipe({"source": "some/hub-dataset"}), "validation")


def _metrics(pass1: float, vote: float, se: float = 0.01, k: int = 8, rows=None) -> dict:
    return {
        "k": k,
        "problems": 100,
        "pass@1": pass1,
        "pass@1_stderr": se,
        f"maj@{k}": vote,
        "pass@k": {str(k): 0.9},  # as read back from the JSON: its keys are strings
        "greedy": 0.5,
        "format": 0.99,
        "mean_completion_tokens": 20.0,
        "sampling": {"temperature": 1.0},
        "scaling": [
            {"k": 1, "pass@1": pass1, "pass@k": pass1, "maj@k": pass1},
            {"k": k, "pass@1": pass1, "pass@k": 0.9, "maj@k": vote},
        ],
        **({"per_problem": rows} if rows is not None else {}),
    }


def _models(tmp_path, **pass1: tuple[float, float]) -> dict[str, Model]:
    runs = {}
    for name, (p, v) in pass1.items():
        run = tmp_path / name
        run.mkdir(exist_ok=True)
        rl = name in ("r1_zero", "grpo")  # the GRPO runs log rewards, the SFT runs a loss
        history = [
            {"step": s, "loss": 1 / s}
            | (
                {"reward": s / 10, "rewards/accuracy/mean": s / 20, "completions/mean_length": 9}
                | step_time.breakdown({"generate": 3.0, "building": 3.0}, 4.0)
                if rl
                else {}
            )
            for s in range(1, 6)
        ]
        (run / "trainer_state.json").write_text(json.dumps({"log_history": history}))
        runs[name] = Model(name.replace("_", " "), _metrics(p, v), run)
    return runs


def four_models(tmp_path) -> dict[str, Model]:
    """pass@1 / maj@8: base 20/30, R1-Zero 40/50, distilled 30/45, SFT -> GRPO 45/55."""
    return _models(
        tmp_path,
        base=(0.20, 0.30),
        r1_zero=(0.40, 0.50),
        cold_start=(0.30, 0.45),
        grpo=(0.45, 0.55),
    )


def test_verdict_needs_a_gain_beyond_twice_its_standard_error():
    assert verdict(0.05, 0.02) == "held"
    assert verdict(0.03, 0.02).startswith("held, within noise")
    assert verdict(0.04, 0.02).startswith("held, within noise")  # exactly 2 s.e. is not beyond
    assert verdict(0.0, 0.02) == "did not hold"
    assert verdict(-0.05, 0.0) == "did not hold"
    assert verdict(0.05, float("nan")) == "not judged: no standard error saved"
    assert verdict(-0.05, float("nan")) == "did not hold"


def test_d_is_not_judged_held_when_one_of_its_two_comparisons_has_no_standard_error(tmp_path):
    """(d) holds only against both: an unknown noise on either side is not taken as none."""
    models = four_models(tmp_path)  # unpaired: (d) is +15 over SFT alone, +5 over GRPO alone
    assert findings(models)[3].verdict == "held"
    for name in ("cold_start", "r1_zero"):
        changed = dict(models)
        m = models[name]
        unknown = {key: value for key, value in m.metrics.items() if key != "pass@1_stderr"}
        changed[name] = Model(m.label, unknown, m.run_dir)
        assert findings(changed)[3].verdict == "not judged: no standard error saved", name
    changed = dict(models)  # a loss decides before an unknown noise does
    grpo = models["grpo"]
    changed["grpo"] = Model(grpo.label, dict(grpo.metrics, **{"pass@1": 0.35}), grpo.run_dir)
    cold = models["cold_start"]
    unknown = {key: value for key, value in cold.metrics.items() if key != "pass@1_stderr"}
    changed["cold_start"] = Model(cold.label, unknown, cold.run_dir)
    assert findings(changed)[3].verdict == "did not hold"


def test_findings_compare_the_right_models(tmp_path):
    """Each finding compares the models it names: swapping any two pass@1 values changes it."""
    models = four_models(tmp_path)
    (a, b, c, d) = findings(models)
    assert a.verdict == "held" and "40.0% vs 20.0% (+20.0 pts" in a.measured
    assert "unpaired difference 1.4" in a.measured  # no per-problem scores saved: unpaired
    assert b.verdict == "held" and "maj@8 50.0% vs pass@1 40.0% (+10.0 pts; s.e. 0.0)" in b.measured
    assert "for 4 of the 4 models" in b.measured
    assert c.verdict == "did not hold" and "30.0% vs 40.0% (-10.0 pts" in c.measured
    # d: against SFT alone (0.30) and GRPO alone (0.40); its margin is the smaller one
    assert "vs SFT alone: pass@1 45.0% vs 30.0% (+15.0 pts" in d.measured
    assert "vs GRPO alone: pass@1 45.0% vs 40.0% (+5.0 pts" in d.measured
    assert d.verdict == "held" and d.delta == pytest.approx(0.05)
    models["r1_zero"] = _models(tmp_path, r1_zero=(0.40, 0.35))["r1_zero"]  # vote below pass@1
    assert findings(models)[1].verdict == "did not hold"


def test_d_must_hold_against_both_sft_alone_and_grpo_alone(tmp_path):
    models = four_models(tmp_path)
    models["cold_start"] = _models(tmp_path, cold_start=(0.47, 0.5))["cold_start"]
    d = findings(models)[3]
    assert d.verdict == "did not hold" and d.delta == pytest.approx(-0.02)


def test_c_uses_the_distilled_student_when_there_is_one(tmp_path):
    models = four_models(tmp_path) | _models(tmp_path, distilled=(0.5, 0.6))
    c = findings(models)[2]
    assert "50.0% vs 40.0% (+10.0 pts" in c.measured and c.verdict == "held"


def _paired_model(tmp_path, name: str, scores: list[float], votes: list[float]) -> Model:
    rows = [
        {"question": f"q{i}", "pass@1": p, "maj@8": v}
        for i, (p, v) in enumerate(zip(scores, votes, strict=True))
    ]
    mean = sum(scores) / len(scores)
    return Model(name, _metrics(mean, sum(votes) / len(votes), se=0.1, rows=rows), tmp_path)


def test_findings_pair_problems_when_per_problem_scores_are_saved(tmp_path):
    """A model that is better by 0.1 on every problem gains 10 points with s.e. 0 when paired;
    unpaired, the two s.e. of 10 points each would call the same gain noise."""
    easy_hard = [0.1 * (i % 8) for i in range(40)]
    worse = _paired_model(tmp_path, "w", easy_hard, [1.0] * 40)
    better = _paired_model(tmp_path, "b", [x + 0.1 for x in easy_hard], [1.0] * 40)
    f = compare("claim", better, worse)
    assert f.delta == pytest.approx(0.1) and f.noise == pytest.approx(0.0, abs=1e-12)
    assert f.verdict == "held" and "s.e. of the paired difference 0.0" in f.measured
    # the pairing is by question, not by position: reversed rows pair the same problems
    flipped = Model(
        "b", dict(better.metrics, per_problem=better.metrics["per_problem"][::-1]), tmp_path
    )
    assert compare("claim", flipped, worse).noise == pytest.approx(0.0, abs=1e-12)


def test_majority_vote_finding_is_paired_with_its_standard_error(tmp_path):
    models = four_models(tmp_path)
    # maj@8 beats pass@1 on 2 of 40 problems by 1.0 and loses nowhere: +5 pts, s.e. ~3.5
    scores = [0.5] * 40
    votes = [1.5 if i < 2 else 0.5 for i in range(40)]
    models["r1_zero"] = _paired_model(tmp_path, "z", scores, votes)
    b = findings(models)[1]
    assert b.delta == pytest.approx(0.05) and b.noise == pytest.approx(
        standard_error([1, 1] + [0] * 38)
    )
    assert b.verdict.startswith("held, within noise")
    # on 10 problems, a vote that wins 5 by a whole problem: +50 pts, a larger s.e.
    models["r1_zero"] = _paired_model(tmp_path, "z", [0.0] * 10, [1.0] * 5 + [0.0] * 5)
    b = findings(models)[1]
    se = standard_error([1] * 5 + [0] * 5)
    assert f"(+50.0 pts; s.e. {100 * se:.1f})" in b.measured and f"{100 * se:.1f}" == "16.7"


def test_the_four_findings_state_the_papers_claims(tmp_path):
    claims = [f.claim for f in findings(four_models(tmp_path))]
    assert claims == [
        "(a) R1-Zero GRPO raises sampled pass@1 over the base",
        "(b) majority vote over 8 samples beats pass@1 (R1-Zero model)",
        "(c) distillation beats R1-Zero GRPO on the student (SFT of the base on the teacher's "
        "verified traces vs R1-Zero GRPO from the same base)",
        "(d) SFT -> GRPO beats the cold-start SFT alone and R1-Zero GRPO alone",
    ]


def test_a_vote_that_only_ties_pass_at_1_is_not_a_win(tmp_path):
    models = four_models(tmp_path)
    models["base"] = _models(tmp_path, base=(0.20, 0.20))["base"]
    assert "maj@8 > pass@1 for 3 of the 4 models" in findings(models)[1].measured


def test_unpaired_noise_adds_the_two_standard_errors_in_quadrature(tmp_path):
    better = Model("b", _metrics(0.5, 0.5, se=0.06), tmp_path)
    worse = Model("w", _metrics(0.3, 0.3, se=0.08), tmp_path)
    f = compare("claim", better, worse)
    assert f.delta == pytest.approx(0.2) and f.noise == pytest.approx(0.1)  # (6² + 8²)^½ = 10
    assert "(+20.0 pts; s.e. of the unpaired difference 10.0)" in f.measured


def test_d_takes_the_comparison_with_the_smaller_margin_beyond_two_standard_errors(tmp_path):
    """(d) against SFT alone and against GRPO alone: the one whose gain is least beyond 2 s.e.
    decides, so the noisier of two equal gains, or a small sure gain over a large noisy one."""
    models = four_models(tmp_path)

    def with_(pass1: float, se: float) -> dict:
        return _metrics(pass1, pass1, se=se)

    def d_of(sft: tuple[float, float], grpo_alone: tuple[float, float]) -> Finding:
        models["grpo"] = Model("grpo", with_(0.5, 0.0), tmp_path)  # s.e. 0: the other's alone
        models["cold_start"] = Model("cold start", with_(*sft), tmp_path)
        models["r1_zero"] = Model("r1 zero", with_(*grpo_alone), tmp_path)
        return findings(models)[3]

    # equal gains of 10 points: s.e. 4 (margin 2) decides, not s.e. 1 (margin 8)
    d = d_of(sft=(0.4, 0.04), grpo_alone=(0.4, 0.01))
    assert d.delta == pytest.approx(0.1) and d.noise == pytest.approx(0.04)
    assert d.verdict == "held"
    d = d_of(sft=(0.4, 0.01), grpo_alone=(0.4, 0.04))
    assert d.delta == pytest.approx(0.1) and d.noise == pytest.approx(0.04)
    # +5 ± 1 (margin 3) against +12.5 ± 4 (margin 4.5): the smaller gain decides
    d = d_of(sft=(0.45, 0.01), grpo_alone=(0.375, 0.04))
    assert d.delta == pytest.approx(0.05) and d.noise == pytest.approx(0.01)


def test_paired_difference_needs_the_same_problems():
    assert paired_difference({"a": 1.0, "b": 0.5}, {"a": 0.5, "b": 0.5}) == (0.25, 0.25)
    with pytest.raises(RecipeError, match="same problems on both sides; 2 problem"):
        paired_difference({"a": 1.0, "b": 0.5}, {"a": 0.5, "c": 0.5})


def test_summary_saves_each_problem_with_its_pass_rate_and_vote():
    rows = summarize(rows_of([[1, 0], [0, 0]], [["3", "4"], [None, "1"]]), k=2, expected=2)
    assert [(r["pass@1"], r["maj@2"]) for r in rows["per_problem"]] == [(0.5, 1.0), (0.0, 0.0)]


def test_seeds_report_gives_each_seed_the_mean_and_how_often_it_held(tmp_path):
    def f(delta, noise):
        return Finding("(a) claim", "", verdict(delta, noise), delta, noise)

    per_seed = {
        0: ([f(0.10, 0.01)], 600.0),
        1: ([f(0.04, 0.01)], 610.0),
        2: ([f(0.01, 0.01)], 620.0),
    }
    text = write_seeds(tmp_path, per_seed, "make demo SEEDS=3").read_text()
    assert "| (a) claim | +10.0 ± 1.0 | +4.0 ± 1.0 | +1.0 ± 1.0 | +5.0 ± 4.6 | 2 of 3 |" in text
    assert "seed 2 620 s" in text and "make demo SEEDS=3" in text


def test_the_seeds_table_has_a_column_per_seed_and_a_row_per_finding(tmp_path):
    def f(claim, delta, noise=0.123):
        return Finding(claim, "", verdict(delta, noise), delta, noise)

    per_seed = {  # seed 3 first: the columns go in seed order all the same
        3: ([f("(a) a", 0.04, 0.0123), f("(b) b", 0.01)], 610.0),
        0: ([f("(a) a", 0.10, 0.0123), f("(b) b", -0.02)], 600.0),
    }
    path = write_seeds(tmp_path / "demo" / "all", per_seed, "make demo SEEDS=2")
    assert path == tmp_path / "demo" / "all" / "seeds.md"
    text = path.read_text()
    assert text.startswith("# r1lab demo over 2 training seeds\n\nReproduce: `make demo SEEDS=2`.")
    ((header, *rows),) = tables(text)
    assert header == ["finding", "seed 0", "seed 3", "mean ± s.d.", "held"]
    # mean ± s.d. of (10, 4) and of (-2, 1) points; (a) held beyond 2 s.e. in both seeds
    assert rows == [
        ["(a) a", "+10.0 ± 1.2", "+4.0 ± 1.2", "+7.0 ± 4.2", "2 of 2"],
        ["(b) b", "-2.0 ± 12.3", "+1.0 ± 12.3", "-0.5 ± 2.1", "0 of 2"],
    ]
    # what a cell holds, in words
    assert "maj@k over pass@1 for (b); for (d) its smaller margin, over SFT alone or GRPO " in text
    assert (
        "alone) ± the s.e. of the paired difference. Seed 0 is the default `make demo` run" in text
    )
    assert text.endswith("skipped): seed 0 600 s, seed 3 610 s.\n")
    assert write_seeds(tmp_path / "demo" / "all", per_seed, "again").read_text() != text


def test_one_seed_has_no_spread(tmp_path):
    per_seed = {5: ([Finding("(a) a", "", "held", 0.10, 0.01)], 1.0)}
    ((header, row),) = tables(write_seeds(tmp_path, per_seed, "make demo").read_text())
    assert header == ["finding", "seed 5", "mean ± s.d.", "held"]
    assert row == ["(a) a", "+10.0 ± 1.0", "+10.0 ± 0.0", "1 of 1"]


def test_plot_titles_wrap_and_the_smoothing_label_says_what_it_averages():
    title = "distilled: SFT of the base on the teacher's verified traces (step 1): loss"
    assert all(len(line) <= TITLE_WIDTH for line in wrap_title(title).split("\n"))
    assert wrap_title(title).replace("\n", " ") == title
    assert smoothing_label(4, 5) == "trailing mean over 20 steps (4 logged points)"
    assert smoothing_label(4, None) == "trailing mean of 4 logged points"
    assert logged_every([5, 10, 15]) == 5 and logged_every([5, 10, 20]) is None


def test_report_has_models_findings_curves_and_lineage(tmp_path):
    models = four_models(tmp_path)
    report = write(tmp_path / "out", models, "make demo", "runs/x\n  made by: grpo r1_zero/tiny")
    text = report.read_text()
    assert "| r1 zero | 40.0% ± 1.0 | 50.0% | 90.0% | 50.0% | 99.0% | 20.0 |" in text
    assert "| model | k=1 | k=8 |" in text and "| r1 zero | 40.0 / 40.0 | 50.0 / 90.0 |" in text
    assert "| (c) distillation beats R1-Zero GRPO" in text and "| did not hold |" in text
    for png in (
        "r1_zero-reward",
        "r1_zero-accuracy",
        "r1_zero-length",
        "grpo-reward",
        "base-loss",
        "cold_start-loss",
    ):
        assert (tmp_path / "out" / f"{png}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({png}.png)" in text
    assert not (tmp_path / "out" / "base-reward.png").exists()  # an SFT stage has no reward
    assert not (tmp_path / "out" / "grpo-loss.png").exists()  # a GRPO stage: reward curves
    assert "made by: grpo r1_zero/tiny" in text
    # a GRPO stage says where its steps' time went; an SFT stage has no such table
    assert "r1 zero: where a GRPO step's time went" in text
    assert "| generate | 3.000 | 75.0% |" in text and "| update | 1.000 | 25.0% |" in text
    assert "base: where a GRPO step's time went" not in text


def drawn(monkeypatch) -> list:
    """The figures `plot` draws, kept open (not closed) to be looked at."""
    import matplotlib.pyplot as plt

    figures: list = []
    monkeypatch.setattr(plt, "close", figures.append)
    return figures


def test_a_long_curve_shows_its_raw_points_faint_under_the_trailing_mean(tmp_path, monkeypatch):
    figures = drawn(monkeypatch)
    key = "rewards/accuracy/mean"
    steps = [5 * s for s in range(1, 31)]  # 30 points logged every 5 steps: a 3-point mean
    values = [(s % 3) / 3 for s in range(1, 31)]
    history = [{"step": t, key: v, "loss": 0.1} for t, v in zip(steps, values, strict=True)]
    history += [{"step": 155, "loss": 0.1}, {key: 1.0}]  # no value, no step: not points
    out = tmp_path / "accuracy.png"
    assert plot(history, key, "accuracy", out, "SFT step") is True
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (fig,) = figures
    (ax,) = fig.axes
    raw, smooth = ax.get_lines()
    assert list(raw.get_xdata()) == steps and list(raw.get_ydata()) == values
    assert list(smooth.get_xdata()) == steps
    assert list(smooth.get_ydata()) == pytest.approx(moving_average(values, 3))
    # the raw points faint and thin, the mean drawn over them in the same colour
    assert raw.get_marker() == "." and raw.get_alpha() < 0.5
    assert raw.get_linewidth() < smooth.get_linewidth() and raw.get_color() == smooth.get_color()
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["logged", "trailing mean over 15 steps (3 logged points)"]
    assert ax.get_ylim() == pytest.approx((-0.05, 1.05))  # a fraction: the whole 0..1
    assert ax.get_xlabel() == "SFT step"


def test_twenty_points_get_a_two_point_mean(tmp_path, monkeypatch):
    figures = drawn(monkeypatch)
    history = [{"step": s, "loss": float(s % 2)} for s in range(1, 21)]
    plot(history, "loss", "loss", tmp_path / "loss.png")
    (fig,) = figures
    raw, smooth = fig.axes[0].get_lines()
    assert list(smooth.get_ydata()) == [1.0] + [0.5] * 19


def test_a_short_curve_is_drawn_once_under_a_title_that_fits_the_plot(tmp_path, monkeypatch):
    figures = drawn(monkeypatch)
    history = [{"step": s, "loss": 1 / s} for s in range(1, 6)]  # 5 points: no mean to draw
    title = "distilled: SFT of the base on the teacher's verified traces (step 1): loss"
    assert plot(history, "loss", title, tmp_path / "loss.png") is True
    (fig,) = figures
    (ax,) = fig.axes
    (line,) = ax.get_lines()
    assert list(line.get_ydata()) == [1 / s for s in range(1, 6)] and line.get_marker() == "."
    assert list(line.get_xdata()) == [1, 2, 3, 4, 5]  # at the steps logged
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["logged"]
    assert ax.get_xlabel() == "GRPO step"
    # TITLE_WIDTH characters per line fit a 5-inch-wide plot at font size 9
    assert ax.get_title() == wrap_title(title) and "\n" in ax.get_title()
    assert ax.title.get_fontsize() == 9 and fig.get_size_inches()[0] == 5


def test_a_curve_never_logged_is_not_plotted(tmp_path, monkeypatch):
    figures = drawn(monkeypatch)
    history = [{"step": s, "loss": 1 / s} for s in range(1, 6)]
    assert plot(history, "reward", "reward", tmp_path / "reward.png") is False
    assert not (tmp_path / "reward.png").exists() and figures == []


@pytest.fixture
def no_pictures(monkeypatch):
    """`write` with `plot` cut to what the report's text needs of it (a file and True for a logged
    key, else False): the tests of the text run in milliseconds, not seconds (mutmut runs them per
    mutant); the real pictures are tested above."""
    import r1lab.report

    drawn: dict[str, tuple[str, str]] = {}  # file name: (title, x label)

    def plot(history, key, title, out, xlabel="GRPO step"):
        if not r1lab.report.points(history, key):
            return False
        out.write_bytes(b"")
        drawn[out.name] = (title, xlabel)
        return True

    monkeypatch.setattr(r1lab.report, "plot", plot)
    return drawn


def test_report_sections_and_tables_render_as_markdown(tmp_path, no_pictures):
    models = four_models(tmp_path)
    text = write(
        tmp_path / "out", models, "make demo", "runs/x", "The teacher is R1-Zero."
    ).read_text()
    headings = [line for line in text.split("\n") if line.startswith("#")]
    assert headings == [
        "# r1lab demo: DeepSeek-R1's three recipes on the tiny world",
        "## The paper's findings, as measured on this run",
        "## Training curves, per stage",
        "## Lineage of the last model (`r1lab show`)",
    ]
    assert text.startswith("# r1lab demo: DeepSeek-R1's three recipes on the tiny world\n\nHeld-")
    assert "Reproduce: `make demo`\nThe teacher is R1-Zero.\n\n| model |" in text
    assert "\n\n## Training curves, per stage\n\n![base loss](base-loss.png)\n" in text
    assert "\n\nr1 zero: where a GRPO step's time went\n\n| part of the step |" in text
    results, scaling, found, *times = tables(text)
    assert results[0] == [
        "model",
        "pass@1 (± s.e.)",
        "maj@8",
        "pass@8",
        "greedy",
        "format",
        "mean tokens",
    ]
    assert [row[0] for row in results[1:]] == ["base", "r1 zero", "cold start", "grpo"]
    assert scaling[0] == ["model", "k=1", "k=8"] and len(scaling) == 5
    assert (
        "\nInference-time scaling (the same samples, no new generation): maj@k / pass@k against "
        "k samples per problem.\n" in text
    )
    assert found[0] == ["finding", "measured", "on this run"]
    assert [row[0][:3] for row in found[1:]] == ["(a)", "(b)", "(c)", "(d)"]
    assert len(times) == 2  # the two GRPO stages
    assert text.endswith("\n\n## Lineage of the last model (`r1lab show`)\n\n```\nruns/x\n```\n")


def test_a_report_without_lineage_or_setup_has_neither(tmp_path, no_pictures):
    text = write(tmp_path / "out", four_models(tmp_path), "make demo").read_text()
    assert "Reproduce: `make demo`\n\n| model |" in text
    assert "Lineage" not in text and "```" not in text


def test_a_report_leaves_out_what_an_older_evaluation_did_not_measure(tmp_path, no_pictures):
    models = four_models(tmp_path)
    older = dict(models["base"].metrics, **{"pass@1_stderr": 0.123, "greedy": None})
    for key in ("format", "pass@k", "scaling"):
        del older[key]
    models["base"] = Model("base", older, models["base"].run_dir)
    cold = models["cold_start"]
    unknown = {key: value for key, value in cold.metrics.items() if key != "pass@1_stderr"}
    models["cold_start"] = Model(cold.label, unknown, cold.run_dir)
    text = write(tmp_path / "out", models, "make demo").read_text()
    results, found, *_ = tables(text)  # no scaling table: one model has no curve
    assert results[1] == ["base", "20.0% ± 12.3", "30.0%", "-", "-", "-", "20.0"]
    assert results[3][:2] == ["cold start", "30.0% ± –"]  # no s.e. saved: none shown
    # ... and none assumed: a gain over it is not judged (an s.e. of 0 would make it "held")
    d = findings(models)[3]
    assert d.verdict == "not judged: no standard error saved", d
    assert found[0] == ["finding", "measured", "on this run"]


def test_a_scaling_row_without_a_vote_still_shows_pass_at_k(tmp_path, no_pictures):
    """Code benchmarks have no majority vote: their scaling rows carry no maj@k."""
    models = four_models(tmp_path)
    grpo = models["grpo"]
    rows = [{k: v for k, v in row.items() if k != "maj@k"} for row in grpo.metrics["scaling"]]
    models["grpo"] = Model(grpo.label, dict(grpo.metrics, scaling=rows), grpo.run_dir)
    _, scaling, *_ = tables(write(tmp_path / "out", models, "make demo").read_text())
    assert scaling[-1] == ["grpo", "– / 45.0", "– / 90.0"]


def test_the_report_can_be_rewritten_and_made_in_a_new_folder(tmp_path, no_pictures):
    models = four_models(tmp_path)
    first = write(tmp_path / "a" / "b", models, "make demo")
    assert first == tmp_path / "a" / "b" / "report.md"
    assert write(tmp_path / "a" / "b", models, "make demo again") == first
    assert "make demo again" in first.read_text()


def test_a_stage_without_a_training_log_has_no_curves(tmp_path, no_pictures):
    models = four_models(tmp_path)
    (models["base"].run_dir / "trainer_state.json").unlink()  # e.g. a downloaded base
    text = write(tmp_path / "out", models, "make demo").read_text()
    assert "](base-" not in text and "](cold_start-loss.png)" in text
    assert not list((tmp_path / "out").glob("base-*"))


def test_each_curve_is_titled_by_its_model_and_drawn_against_its_stages_steps(
    tmp_path, no_pictures
):
    write(tmp_path / "out", four_models(tmp_path), "make demo")
    assert no_pictures["base-loss.png"] == ("base: loss", "SFT step")
    assert no_pictures["r1_zero-reward.png"] == ("r1 zero: reward", "GRPO step")
    assert no_pictures["grpo-length.png"] == ("grpo: completions/mean_length", "GRPO step")


def test_a_stage_whose_format_reward_never_moved_says_so_instead_of_a_flat_curve(
    tmp_path, no_pictures
):
    models = four_models(tmp_path)
    state = models["grpo"].run_dir / "trainer_state.json"
    history = json.loads(state.read_text())["log_history"]
    state.write_text(json.dumps({"log_history": [h | {FORMAT_KEY: 1.0} for h in history]}))
    text = write(tmp_path / "out", models, "make demo").read_text()
    assert f"\n\ngrpo: {format_note(_history([1.0] * 5))}\n\n" in text
    assert text.count("The format reward was") == 1  # the other stages logged none


def test_a_model_can_name_its_own_curves(tmp_path, no_pictures):
    models = four_models(tmp_path)
    base = models["base"]
    models["base"] = Model(base.label, base.metrics, base.run_dir, (("falling", "loss"),))
    write(tmp_path / "out", models, "make demo")
    assert [p.name for p in (tmp_path / "out").glob("base-*")] == ["base-falling.png"]


def test_moving_average_is_a_trailing_mean():
    assert moving_average([0, 0, 3, 3], 2) == [0, 0, 1.5, 3]
    assert moving_average([0, 0, 3, 3], 1) == [0, 0, 3, 3]
    assert moving_average([0, 0, 3, 3], 10) == [0, 0, 1, 1.5]  # fewer points at the start
    assert moving_average([], 3) == []
    with pytest.raises(ValueError, match="window must be >= 1, got 0"):
        moving_average([1.0], 0)


def test_smoothing_window_grows_with_the_number_of_points():
    assert [smoothing_window(n) for n in (0, 5, 19, 20, 100)] == [1, 1, 1, 2, 10]


def test_y_limits_show_fractions_whole_and_lengths_from_zero():
    # a fraction metric spans 0..1 (plus a 5% margin) however little it moves
    assert y_limits("rewards/accuracy/mean", [0.40, 0.45]) == pytest.approx((-0.05, 1.05))
    assert y_limits("rewards/format/mean", [0.9, 1.0]) == pytest.approx((-0.05, 1.05))
    # the total reward counts as a fraction only while it stays in [0, 1.2]
    assert y_limits("reward", [0.2, 1.15]) == pytest.approx((-0.0575, 1.2075))
    assert y_limits("reward", [0.5, 2.0]) is None
    assert y_limits("reward", [0.0, 1.2]) == pytest.approx((-0.06, 1.26))  # both ends included
    # a fraction that dips below zero: the margin is 5% of the whole range shown
    assert y_limits("rewards/format/mean", [-0.5, 1.0]) == pytest.approx((-0.575, 1.075))
    # lengths start at zero, tops at the largest value plus 5%
    assert y_limits("completions/mean_length", [180.0, 200.0]) == pytest.approx((0.0, 210.0))
    assert y_limits("completions/mean_length", [0.5]) == pytest.approx((0.0, 0.525))
    # nothing generated: still a range to draw the zero line in
    assert y_limits("completions/mean_length", [0.0, 0.0]) == pytest.approx((0.0, 1.05))
    assert y_limits("loss", [0.3, 0.2]) is None
    assert y_limits("rewards/accuracy/mean", []) is None


def _history(format_values):
    return [
        {"step": s, "reward": 0.5, "rewards/format/mean": f, "completions/mean_length": 30.0}
        for s, f in enumerate(format_values, start=1)
    ]


def test_format_note_only_for_a_constant_format_reward():
    assert format_note(_history([1.0] * 6)) == (
        "The format reward was 1 at every one of the 6 logged steps: the base already writes "
        "the tags, so GRPO had no format left to learn; its flat curve is not plotted."
    )
    assert "1 at every one of the 1 logged steps" in format_note(_history([1.0]))
    # a difference of 1e-9 is float noise, not a change
    assert format_note(_history([0.0, 1e-9])) is not None
    assert format_note(_history([0.5, 0.5])) is not None
    assert "already writes" not in format_note(_history([0.5, 0.5]))
    assert format_note(_history([0.5, 1.0, 1.0])) is None
    assert format_note([{"step": 1, "reward": 0.5}]) is None  # never logged: nothing to say


def test_evaluation_size_falls_back_to_the_recipe_test_size(tiny_model):
    """`r1lab check` validates the test split at this same size, so the two must agree."""
    from r1lab.heldout import evaluate_recipe
    from r1lab.recipe import compose

    recipe = compose("r1_zero/tiny", ["data.test_size=5"])
    recipe.evaluate = {}
    (bench,) = evaluate_recipe(recipe, str(tiny_model), k=2).parsed["benchmarks"]
    assert len(bench.problems()) == 5 and bench.k == 2
