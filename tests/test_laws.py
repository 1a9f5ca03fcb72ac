"""Laws of the modules that decide what a student trains on and which numbers a report shows,
checked over generated inputs (hypothesis): verified selection, and pass@k from per-sample rows."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from r1lab.metrics import summarize
from r1lab.selection import SelectConfig, select

RECIPE = {"data": {"source": "x.jsonl", "solution_column": "solution"}}


def sample(pid: int, index: int, answer: str, reasoning: int) -> dict:
    """One generated sample; `reasoning` picks its text, so equal numbers are duplicates."""
    return {
        "prompt_id": pid,
        "sample": index,
        "question": f"Problem {pid}: what is 3 + 4?",
        "solution": "7",
        "prompt": f"User: Problem {pid}? Assistant:",
        "completion": f"<think> step {reasoning} gives {answer} </think> <answer> {answer} </answer>",
        "finish_reason": "stop",
        "prompt_tokens": 10,
        "completion_tokens": 20,
    }


# per prompt: a list of (answer right?, reasoning id) samples
samples_strategy = st.lists(
    st.lists(st.tuples(st.booleans(), st.integers(0, 3)), min_size=1, max_size=6),
    min_size=1,
    max_size=4,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prompts=samples_strategy, cap=st.one_of(st.none(), st.integers(1, 4)))
def test_selection_keeps_exactly_the_verified_distinct_samples_up_to_the_cap(prompts, cap):
    """Never a sample the verifier rejects; every verified one, once per distinct text, up to
    max_per_prompt per prompt."""
    rows = [
        sample(pid, i, "7" if right else "8", reasoning)
        for pid, group in enumerate(prompts)
        for i, (right, reasoning) in enumerate(group)
    ]
    cfg = SelectConfig.from_recipe({"max_per_prompt": cap}, RECIPE)
    kept = select(rows, cfg).kept
    assert all("<answer> 7 </answer>" in r["completion"] for r in kept)
    for pid, group in enumerate(prompts):
        distinct = len({reasoning for right, reasoning in group if right})
        mine = [r for r in kept if r["prompt_id"] == pid]
        assert len(mine) == (distinct if cap is None else min(cap, distinct)), (group, cap)
        assert len({r["completion"] for r in mine}) == len(mine)  # no duplicate kept


@settings(max_examples=60, deadline=None)
@given(
    correct=st.lists(st.lists(st.booleans(), min_size=4, max_size=4), min_size=1, max_size=6),
    seed=st.integers(0, 2**16),
)
def test_pass_at_k_from_per_sample_rows_ignores_their_order(correct, seed):
    rows = [
        {
            "prompt_id": pid,
            "sample": i,
            "correct": ok,
            "answer": str(i % 2),
            "completion_tokens": 5 + i,
            "finish_reason": "stop",
        }
        for pid, problem in enumerate(correct)
        for i, ok in enumerate(problem)
    ]
    shuffled = rows[:]
    random.Random(seed).shuffle(shuffled)
    a = summarize(rows, k=4, expected=len(correct), same=None)
    b = summarize(shuffled, k=4, expected=len(correct), same=None)
    assert a == b
    assert a["pass@1"] == sum(map(sum, correct)) / (4 * len(correct))
