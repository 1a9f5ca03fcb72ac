"""Evaluation metrics pinned against values computed another way (enumeration, by hand)."""

from __future__ import annotations

import itertools
import math
import statistics

import pytest

from r1lab.errors import RecipeError
from r1lab.kinds.evaluate import pass_at_k
from r1lab.metrics import (
    exact_same,
    maj_at_k,
    math_same,
    mean,
    shown_ks,
    standard_error,
    summarize,
)


def enumerated_pass_at_k(n: int, c: int, k: int) -> float:
    """Share of all k-subsets of n samples (c correct) holding at least one correct sample."""
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(samples[i] for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize(
    "n,c,k", [(10, 3, 5), (10, 3, 1), (8, 0, 4), (8, 8, 2), (6, 1, 6), (12, 5, 3), (16, 2, 8)]
)
def test_pass_at_k_is_the_unbiased_estimator(n, c, k):
    assert pass_at_k(n, c, k) == pytest.approx(enumerated_pass_at_k(n, c, k), abs=1e-12)


def test_pass_at_k_is_not_the_naive_formula():
    assert pass_at_k(10, 3, 5) == pytest.approx(11 / 12)
    assert pass_at_k(10, 3, 5) != pytest.approx(1 - (1 - 3 / 10) ** 5)
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)


@pytest.mark.parametrize("n,c,k", [(4, 5, 1), (4, 2, 0), (4, 2, 5), (4, -1, 1)])
def test_pass_at_k_rejects_impossible_counts(n, c, k):
    with pytest.raises(ValueError, match="pass_at_k needs"):
        pass_at_k(n, c, k)


def test_equal_answers_are_one_vote():
    # 1/2, 0.5 and \frac{1}{2} (3 votes) beat "3" (2 votes), in any order
    assert maj_at_k(["1/2", "0.5", "\\frac{1}{2}", "3", "3"], [1, 1, 1, 0, 0]) == 1.0
    assert maj_at_k(["3", "0.5", "3", "\\frac{1}{2}", "1/2"], [0, 1, 0, 1, 1]) == 1.0
    # without equivalence "3" would win 2 to 1 to 1 to 1
    assert maj_at_k(["3", "0.5", "3", "\\frac{1}{2}", "1/2"], [0, 1, 0, 1, 1], exact_same) == 0.0


def test_symbolic_answers_are_pooled_by_math_verify():
    assert math_same([("\\sqrt{2}/2", "\\frac{\\sqrt{2}}{2}"), ("x+1", "1+x"), ("2", "3")]) == [
        True,
        True,
        False,
    ]


def test_a_tie_goes_to_the_answer_given_first_and_missing_answers_do_not_vote():
    assert maj_at_k(["\\frac{1}{2}", "4", "0.5", "4"], [1, 0, 1, 0]) == 1.0
    assert maj_at_k(["4", "\\frac{1}{2}", "0.5", "4"], [0, 1, 1, 0]) == 0.0
    assert maj_at_k([None, "7", None, None], [0, 1, 0, 0]) == 1.0  # one vote beats no votes
    assert maj_at_k([None, " ", None], [0, 0, 0]) == 0.0


def test_letters_vote_exactly():
    assert maj_at_k(["A", "B", "B", "A", "B"], [1, 0, 0, 1, 0], exact_same) == 0.0


def rows(correct: list[list[int]], tokens: int = 10, truncated: set = frozenset()) -> list[dict]:
    return [
        {
            "prompt_id": p,
            "sample": s,
            "correct": float(v),
            "answer": str(v),
            "completion_tokens": tokens,
            "finish_reason": "length" if (p, s) in truncated else "stop",
            "format": 1.0,
        }
        for p, samples in enumerate(correct)
        for s, v in enumerate(samples)
    ]


def test_summary_matches_hand_computed_values():
    correct = [[1, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 0]]
    out = summarize(rows(correct, truncated={(1, 2)}), k=4, expected=3)
    per_problem = [0.25, 0.0, 0.75]
    assert out["pass@1"] == pytest.approx(1 / 3)
    assert out["pass@1_stderr"] == pytest.approx(statistics.stdev(per_problem) / math.sqrt(3))
    assert out["pass@k"][4] == pytest.approx(2 / 3)
    assert out["pass@k"][2] == pytest.approx((enumerated_pass_at_k(4, 1, 2) + 0 + 1) / 3)
    assert out["maj@4"] == pytest.approx(1 / 3)  # answers are "1"/"0": majority 0 / 0 / 1
    assert out["truncated"] == pytest.approx(1 / 12)
    assert [p["correct"] for p in out["per_problem"]] == [1, 0, 3]


def test_standard_error_of_one_problem_is_zero_not_a_crash():
    assert standard_error([0.5]) == 0.0


def test_fewer_samples_than_asked_is_an_error_never_a_smaller_pass_at_1():
    full = rows([[1, 1], [1, 1]])
    with pytest.raises(RecipeError, match=r"asked for 2 samples.*\(problem 1: 1\)"):
        summarize(full[:-1], k=2, expected=2)
    with pytest.raises(RecipeError, match="1 problem\\(s\\) have none"):
        summarize(full[:2], k=2, expected=2)
    assert summarize(full, k=2, expected=2)["pass@1"] == 1.0


def test_samples_the_server_refused_are_an_error_not_wrong_answers():
    refused = rows([[1, 1], [1, 1]])
    refused[1]["finish_reason"] = "error"
    with pytest.raises(RecipeError, match="server refused samples of 1 problem"):
        summarize(refused, k=2, expected=2)


def test_a_repeated_sample_index_does_not_pass_for_a_full_problem():
    doubled = rows([[1, 1], [1, 1]])
    doubled[1]["sample"] = 0  # problem 0 has sample 0 twice and no sample 1
    with pytest.raises(RecipeError, match=r"\(problem 0: 2\)"):
        summarize(doubled, k=2, expected=2)


# ---- every field of the summary, from rows given out of order ------------------------------------


def test_summary_reports_every_field_whatever_the_row_order():
    rows_ = [
        {"prompt_id": p, "sample": s, "correct": c, "answer": a, "completion_tokens": t}
        | {"finish_reason": "stop", "format": f}
        for p, s, c, a, t, f in [
            (1, 1, 0.0, "B", 30, 0.0),  # rows arrive in no particular order
            (0, 0, 1.0, "A", 10, 1.0),
            (1, 0, 1.0, "A", 20, 1.0),
            (0, 1, 0.0, "B", 20, 1.0),
        ]
    ]
    out = summarize(rows_, k=2, expected=2, same=exact_same)
    assert (out["problems"], out["k"]) == (2, 2)
    assert out["pass@k"] == {1: 0.5, 2: 1.0}
    # a 1-1 tie in each problem goes to sample 0 ("A", correct), not to the first row given
    assert out["maj@2"] == 1.0
    assert out["mean_completion_tokens"] == 20.0 and out["format"] == 0.75
    assert out["per_problem"] == [
        {"prompt_id": 0, "correct": 1, "samples": 2, "pass@1": 0.5, "maj@2": 1.0},
        {"prompt_id": 1, "correct": 1, "samples": 2, "pass@1": 0.5, "maj@2": 1.0},
    ]
    del rows_[0]["format"]  # format is reported only when every sample has one
    assert "format" not in summarize(rows_, k=2, expected=2)


def test_summary_votes_with_the_equality_it_is_given():
    # 0.5 and 1/2: one answer for math_same (2 votes, tie, given first: correct), two for exact
    answers, correct = ["0.5", "1/2", "3", "3"], [1, 1, 0, 0]
    rows_ = [
        {"prompt_id": 0, "sample": s, "correct": c, "answer": a, "completion_tokens": 1}
        | {"finish_reason": "stop"}
        for s, (a, c) in enumerate(zip(answers, correct, strict=True))
    ]
    assert summarize(rows_, k=4, expected=1)["maj@4"] == 1.0
    assert summarize(rows_, k=4, expected=1, same=exact_same)["maj@4"] == 0.0
    assert "maj@4" not in summarize(rows_, k=4, expected=1, same=None)  # code: no majority


def test_rows_without_a_sample_index_are_sample_zero():
    row = {"prompt_id": 0, "correct": 1.0, "answer": "1", "completion_tokens": 1}
    assert summarize([row | {"finish_reason": "stop"}], k=1, expected=1)["pass@1"] == 1.0


def test_mean_of_nothing_is_nan_and_two_values_have_a_standard_error():
    assert math.isnan(mean([]))
    assert standard_error([0.0, 1.0]) == pytest.approx(0.5)  # std 0.707 / sqrt(2)


def test_whitespace_inside_an_answer_does_not_split_the_vote():
    assert exact_same([("x = 1", "x  =\t1"), ("x=1", "x = 1")]) == [True, False]
    assert maj_at_k(["x + 1", "2", "x  +  1"], [1, 0, 1], exact_same) == 1.0


def test_error_messages_say_what_to_do():
    full = rows([[1, 1], [1, 1]])
    with pytest.raises(RecipeError) as err:
        summarize(full[:-1], k=2, expected=3)
    assert str(err.value) == (
        "asked for 2 samples of each of 3 problems, but 1 problem(s) have another count "
        "(problem 1: 1) and 1 problem(s) have none: pass@1 over fewer samples than asked would be "
        "silently wrong. Rerun the same command to generate the missing shards; a shard short of "
        "samples must be deleted (samples/shard-*.parquet holding those problems) before the rerun"
    )
    refused = rows([[1, 1]])
    refused[0]["finish_reason"] = "error"
    with pytest.raises(RecipeError) as err:
        summarize(refused, k=2, expected=1)
    assert str(err.value) == (
        "the server refused samples of 1 problem(s) (e.g. problem 0; finish_reason 'error', an "
        "empty completion): scoring them wrong would lower pass@1 silently. Usually prompt + "
        "max_new_tokens is over the served context: lower generate.max_new_tokens, then delete "
        "the shards holding them (samples/) and rerun"
    )


def test_the_table_shows_powers_of_two_below_k_and_k():
    assert shown_ks(1) == [1]
    assert shown_ks(5) == [1, 2, 4, 5]
    assert shown_ks(8) == [1, 2, 4, 8]
    assert shown_ks(200) == [1, 2, 4, 8, 16, 32, 64, 128, 200]


def test_the_count_error_names_only_what_is_wrong():
    full = rows([[1, 1], [1, 1], [1, 1]])
    only_short = [full[0], full[2], full[4], full[5]]  # problems 0 and 1 have one sample each
    with pytest.raises(RecipeError) as err:
        summarize(only_short, k=2, expected=3)
    assert str(err.value).startswith(
        "asked for 2 samples of each of 3 problems, but 2 problem(s) have another count "
        "(problem 0: 1, problem 1: 1): "
    )
    with pytest.raises(RecipeError) as err:
        summarize(full[:4], k=2, expected=3)  # problem 2 has none
    assert str(err.value).startswith(
        "asked for 2 samples of each of 3 problems, but 1 problem(s) have none: "
    )


def test_scaling_curve_votes_over_the_first_k_samples():
    """maj@j is the vote of a problem's first j samples, the same answer classes for every j;
    pass@j the unbiased estimator; pass@1 flat. Computed by hand for one problem of 4 samples."""
    answers = ["7", "5", "5", "7"]  # first 1: "7"; first 2: tie -> "7"; first 4: tie -> "7"
    correct = [0.0, 1.0, 1.0, 0.0]  # "5" is right
    one = [
        {
            "prompt_id": 0,
            "sample": s,
            "correct": c,
            "answer": a,
            "completion_tokens": 1,
            "finish_reason": "stop",
        }
        for s, (a, c) in enumerate(zip(answers, correct, strict=True))
    ]
    curve = summarize(one, k=4, expected=1, same=exact_same)["scaling"]
    assert [r["k"] for r in curve] == [1, 2, 4]
    assert [r["maj@k"] for r in curve] == [0.0, 0.0, 0.0]
    assert [r["pass@k"] for r in curve] == pytest.approx([0.5, 5 / 6, 1.0])
    assert {r["pass@1"] for r in curve} == {0.5}
    # the last point is the benchmark's maj@k; a later majority changes the early votes not
    three = [{**r, "answer": "5" if r["sample"] == 3 else r["answer"]} for r in one]
    curve = summarize(three, k=4, expected=1, same=exact_same)["scaling"]
    assert [r["maj@k"] for r in curve] == [0.0, 0.0, 1.0]
    assert maj_at_k(["7", "5", "5", "5"], correct, exact_same) == curve[-1]["maj@k"]
    assert "maj@k" not in summarize(one, k=4, expected=1, same=None)["scaling"][0]  # code
