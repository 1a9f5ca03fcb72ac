"""pass@1 / maj@k / pass@k arithmetic, and the demo report built from a TRL log history."""

from __future__ import annotations

import json

import pytest

from r1lab.errors import RecipeError
from r1lab.heldout import EvalConfig, Scores
from r1lab.metrics import cons_at_k
from r1lab.report import format_note, moving_average, smoothing_window, write, y_limits


def test_majority_vote_uses_normalised_answers_and_ignores_missing():
    # "6" and "6.0" are one vote; two wrong "5"s lose to three "6"s
    assert cons_at_k(["6", "5", "6.0", None, "5", " 6 "], [1, 0, 1, 0, 0, 1]) == 1.0
    assert cons_at_k(["5", "5", "6"], [0, 0, 1]) == 0.0
    assert cons_at_k([None, None], [0, 0]) == 0.0
    # a tie goes to the answer seen first (not the last, not the larger): both orders
    assert cons_at_k(["7", "8", "7", "8"], [0, 1, 0, 1]) == 0.0
    assert cons_at_k(["8", "7", "8", "7"], [1, 0, 1, 0]) == 1.0


def test_summary_metrics():
    scores = Scores(
        sampled=[[1, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 0]],
        answers=[["3", "4", "5", "6"], ["1", "1", "2", "2"], ["9", "9", "9", "8"]],
        greedy=[1, 0, 0],
    )
    s = scores.summary()
    assert s["pass@1"] == pytest.approx((0.25 + 0 + 0.75) / 3)
    assert s["maj@4"] == pytest.approx(2 / 3)  # problem 1: tie -> "3" (correct); problem 3: "9"
    assert s["pass@4"] == pytest.approx(2 / 3)
    assert s["greedy"] == pytest.approx(1 / 3)


def test_eval_section_rejects_unknown_keys():
    with pytest.raises(RecipeError, match="did you mean 'temperature'"):
        EvalConfig.from_recipe({"temprature": 0.6})
    assert EvalConfig.from_recipe({"k": 4}, k=16).k == 16


def test_report_has_the_table_and_plots(tmp_path):
    run = tmp_path / "grpo"
    run.mkdir()
    history = [
        {
            "step": s,
            "reward": s / 10,
            "rewards/accuracy/mean": s / 20,
            "completions/mean_length": 20 - s,
        }
        for s in range(1, 6)
    ]
    (run / "trainer_state.json").write_text(json.dumps({"log_history": history}))
    base = {
        "k": 8,
        "problems": 10,
        "pass@1": 0.2,
        "maj@8": 0.3,
        "pass@8": 0.8,
        "greedy": 0.5,
        "format": 0.9,
        "mean_completion_tokens": 20.0,
        "settings": {"temperature": 1.0},
    }
    after = {**base, "pass@1": 0.35, "format": 1.0, "mean_completion_tokens": 18.5}
    report = write(tmp_path, base, after, run, "make demo").read_text()
    assert "| pass@1 (mean of 8 samples, T=1.0) | 20.0% | 35.0% | +15.0 pts |" in report
    assert "| mean completion tokens | 20.0 | 18.5 | -1.5 |" in report
    for name in ("reward", "accuracy", "length"):
        png = tmp_path / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({name}.png)" in report


def test_moving_average_is_a_trailing_mean():
    assert moving_average([0, 0, 3, 3], 2) == [0, 0, 1.5, 3]
    assert moving_average([0, 0, 3, 3], 1) == [0, 0, 3, 3]
    assert moving_average([0, 0, 3, 3], 10) == [0, 0, 1, 1.5]  # fewer points at the start
    assert moving_average([], 3) == []
    with pytest.raises(ValueError):
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
    # lengths start at zero, tops at the largest value plus 5%
    assert y_limits("completions/mean_length", [180.0, 200.0]) == pytest.approx((0.0, 210.0))
    assert y_limits("loss", [0.3, 0.2]) is None
    assert y_limits("rewards/accuracy/mean", []) is None


def _history(format_values):
    return [
        {"step": s, "reward": 0.5, "rewards/format/mean": f, "completions/mean_length": 30.0}
        for s, f in enumerate(format_values, start=1)
    ]


def test_format_note_only_for_a_constant_format_reward():
    note = format_note(_history([1.0] * 6))
    assert note is not None and "1 at every one of the 6 logged steps" in note
    assert "the base already writes the tags" in note
    assert format_note(_history([0.5, 0.5])) is not None
    assert "already writes" not in format_note(_history([0.5, 0.5]))
    assert format_note(_history([0.5, 1.0, 1.0])) is None
    assert format_note([{"step": 1, "reward": 0.5}]) is None  # never logged: nothing to say


@pytest.mark.parametrize("constant", [True, False])
def test_report_says_when_the_format_reward_is_constant(tmp_path, constant):
    run = tmp_path / "grpo"
    run.mkdir()
    values = [1.0] * 8 if constant else [0.25, 0.5, 0.75, 1.0] * 2
    (run / "trainer_state.json").write_text(json.dumps({"log_history": _history(values)}))
    base = {"k": 4, "problems": 5, "pass@1": 0.5, "settings": {"temperature": 1.0}}
    report = write(tmp_path, base, base, run, "make demo").read_text()
    assert ("the base already writes the tags" in report) == constant
    assert ("](format.png)" in report) == (not constant)
    assert (tmp_path / "format.png").exists() == (not constant)


def test_evaluation_size_falls_back_to_the_recipe_test_size(tiny_model):
    """`r1lab check` validates the test split at this same size, so the two must agree."""
    from r1lab.heldout import evaluate
    from r1lab.recipe import compose

    recipe = compose("r1_zero/tiny", ["data.test_size=5"])
    recipe.evaluate = {}
    cfg = EvalConfig.from_recipe({}, k=2, max_new_tokens=3, greedy=False)
    result = evaluate(str(tiny_model), recipe, cfg)
    assert result["problems"] == 5 and result["k"] == 2
