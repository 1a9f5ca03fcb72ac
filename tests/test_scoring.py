"""The one scorer (r1lab.scoring.score), called directly with hand-made samples and a recording
reward: what the verifier is given, what counts as solved, the answer kept for the vote, the
format rate, and samples that answer another question refused."""

from __future__ import annotations

import pytest

from r1lab.benchmarks import Benchmark
from r1lab.errors import RecipeError
from r1lab.scoring import closed_thinking, score

PROBLEMS = [
    {"prompt_id": 0, "question": "What is 1 + 2?", "answer": "3", "level": 1},
    {"prompt_id": 1, "question": "What is 2 + 5?", "answer": "7", "level": 4},
]
ASKED = {0: "ask: What is 1 + 2?", 1: "ask: What is 2 + 5?"}
MATH = Benchmark("mine", "math", source="mine.jsonl", k=2)


def sample(pid: int, j: int, completion: str, **over) -> dict:
    return {
        "prompt_id": pid,
        "sample": j,
        "prompt": ASKED[pid],
        "completion": completion,
        "completion_tokens": 100 * pid + 10 * j + 1,
        "finish_reason": "stop",
        **over,
    }


def marks(*values):
    """A reward that gives `values` to its batch, in order, and records what it was given."""
    calls = []

    def reward(**kwargs):
        calls.append(kwargs)
        return list(values[: len(kwargs["completions"])])

    reward.calls = calls
    return reward


def test_a_sample_is_solved_only_at_the_verifiers_full_marks():
    samples = [sample(0, j, f"\\boxed{{{j}}}") for j in range(4)]
    bench = Benchmark("mine", "math", source="mine.jsonl", k=4)
    results = score(bench, PROBLEMS, ASKED, marks(1.0, 0.5, None, 1.0), samples)
    assert [r["correct"] for r in results] == [1.0, 0.0, 0.0, 1.0]


def test_the_verifier_gets_each_problems_columns_and_its_question_as_the_prompts():
    samples = [sample(1, 0, "a"), sample(1, 1, "b"), sample(0, 0, "c"), sample(0, 1, "d")]
    reward = marks(0.0, 0.0)
    score(MATH, PROBLEMS, ASKED, reward, samples)
    # one call per problem, in the order its samples come; the row's columns one per sample
    assert reward.calls == [
        {
            "completions": ["a", "b"],
            "prompts": ["What is 2 + 5?"] * 2,
            "answer": ["7", "7"],
            "level": [4, 4],
        },
        {
            "completions": ["c", "d"],
            "prompts": ["What is 1 + 2?"] * 2,
            "answer": ["3", "3"],
            "level": [1, 1],
        },
    ]


def test_each_row_keeps_the_samples_id_length_and_finish_reason():
    samples = [sample(0, 0, "x"), sample(0, 1, "y", finish_reason="length"), sample(1, 0, "z")]
    results = score(MATH, PROBLEMS, ASKED, marks(1.0, 0.0), samples)
    assert [(r["prompt_id"], r["sample"]) for r in results] == [(0, 0), (0, 1), (1, 0)]
    assert [r["completion_tokens"] for r in results] == [1, 11, 101]
    assert [r["finish_reason"] for r in results] == ["stop", "length", "stop"]


def test_format_needs_an_answer_after_a_closed_think():
    texts = [
        "<think>1 + 2</think> so \\boxed{3}",  # closed, answered
        "<think>1 + 2 ... \\boxed{3}",  # the think never closed: cut off mid-thought
        "\\boxed{3}",  # no think at all, answered
        "<think>1 + 2</think> three",  # closed, no answer
    ]
    results = score(
        Benchmark("mine", "math", source="mine.jsonl", k=4),
        PROBLEMS,
        ASKED,
        marks(1.0, 1.0, 1.0, 0.0),
        [sample(0, j, t) for j, t in enumerate(texts)],
    )
    assert [r["format"] for r in results] == [1.0, 0.0, 1.0, 0.0]
    assert [r["answer"] for r in results] == ["3", "3", "3", None]
    assert closed_thinking("no tags") and closed_thinking("<think>a</think>b")
    assert not closed_thinking("<think>a")


def test_a_program_is_kept_as_no_answer_to_vote_on():
    code = Benchmark("prog", "code", source="prog.jsonl", k=1)
    text = "<think>easy</think>\n```python\nprint(3)\n```"
    [row] = score(code, PROBLEMS, ASKED, marks(1.0), [sample(0, 0, text)])
    assert row["answer"] is None
    assert row["format"] == 1.0  # a program is its answer for the format rate


def test_samples_of_a_problem_no_longer_in_the_benchmark_are_refused():
    samples = [sample(0, 0, "a"), sample(1, 0, "b")]
    with pytest.raises(RecipeError, match=r"mine: the saved samples of problem 1 answer another"):
        score(MATH, PROBLEMS[:1], ASKED, marks(1.0), samples)


def test_one_sample_asked_another_question_refuses_its_problem():
    samples = [sample(0, 0, "a"), sample(0, 1, "b", prompt="ask: What is 1 + 3?")]
    with pytest.raises(RecipeError) as err:
        score(MATH, PROBLEMS, ASKED, marks(1.0, 1.0), samples)
    message = str(err.value)
    assert "mine: the saved samples of problem 0 answer another question" in message
    assert "mine.jsonl changed since they were made" in message
    assert message.endswith("Delete the benchmark's samples/ and rerun")


def test_a_verifier_that_returns_too_few_marks_is_an_error_not_fewer_rows():
    samples = [sample(0, 0, "a"), sample(0, 1, "b"), sample(0, 2, "c")]
    with pytest.raises(ValueError, match="zip"):
        score(MATH, PROBLEMS, ASKED, marks(1.0, 1.0), samples)
