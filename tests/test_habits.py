"""tools/habits.py: the share of worked completions and each habit's pass@1, read from an
evaluate run's saved samples and results (the README's account of what GRPO moves)."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
import habits  # noqa: E402

WORKED = "<think> 7 + 5 = 12 , 12 - 3 = 9 </think> <answer> 9 </answer>"
DIRECT = "<think> </think> <answer> 9 </answer>"


@pytest.mark.parametrize(
    ("completion", "worked"),
    [
        (WORKED, True),
        (DIRECT, False),
        ("<think> 4 - 6 = -2 </think> <answer> -2 </answer>", True),  # a negative result
        ("<think> </think> <answer> 7 + 5 = 12 </answer>", False),  # a step after the thinking
        ("<think> 7 + 5 is 12 </think> <answer> 12 </answer>", False),  # no `a op b = c` step
    ],
)
def test_a_completion_works_when_its_thinking_holds_a_step(completion: str, worked: bool):
    assert habits.works(completion) is worked


@pytest.mark.parametrize(
    ("completion", "small"),
    [
        (WORKED, False),  # 7 + 5 = 12: two digits
        ("<think> 7 - 5 = 2 , 2 + 3 = 5 </think> <answer> 5 </answer>", True),
        ("<think> 9 - 0 = 9 , 9 + 3 = 12 </think> <answer> 12 </answer>", True),  # 9: the top
        ("<think> 4 - 6 = -2 , -2 + 3 = 1 </think> <answer> 1 </answer>", False),  # below 0
        ("<think> 0 + 0 = 0 </think> <answer> 0 </answer>", True),  # 0: the bottom
        (DIRECT, False),
    ],
)
def test_a_worked_answer_is_split_by_its_first_value(completion: str, small: bool):
    assert habits.one_digit_first(completion) is small


def _write_run(folder: Path, rows: list[tuple[str, float]]) -> Path:
    (folder / "samples").mkdir(parents=True)
    ids = [(i // 2, i % 2) for i in range(len(rows))]
    half = len(rows) // 2  # two shards, as the evaluate kind writes them
    samples = pd.DataFrame(
        {
            "prompt_id": [p for p, _ in ids],
            "sample": [s for _, s in ids],
            "completion": [c for c, _ in rows],
        }
    )
    samples[:half].to_parquet(folder / "samples" / "shard-00000.parquet")
    samples[half:].to_parquet(folder / "samples" / "shard-00001.parquet")
    results = pd.DataFrame(
        {"prompt_id": [p for p, _ in ids], "sample": [s for _, s in ids]}
        | {"correct": [c for _, c in rows]}
    )
    results[::-1].to_parquet(folder / "results.parquet")  # another order: joined by id, not row
    return folder


def test_each_habit_is_scored_on_its_own_samples(tmp_path: Path):
    run = _write_run(
        tmp_path / "heldout",
        [(WORKED, 1.0), (WORKED, 1.0), (WORKED, 0.0), (DIRECT, 1.0), (DIRECT, 0.0), (DIRECT, 0.0)],
    )
    h = habits.habits(run)
    assert h["samples"] == 6
    assert h["worked"] == pytest.approx(0.5)
    assert h["pass@1 worked"] == pytest.approx(2 / 3)
    assert h["pass@1 direct"] == pytest.approx(1 / 3)
    assert h["pass@1"] == pytest.approx(0.5)
    assert h["pass@1 worked, first value 0-9"] != h["pass@1 worked, first value 0-9"]  # none
    assert h["pass@1 worked, first value not 0-9"] == pytest.approx(2 / 3)


def test_worked_answers_are_scored_by_their_first_value(tmp_path: Path):
    small = "<think> 7 - 5 = 2 , 2 + 7 = 9 </think> <answer> 9 </answer>"
    run = _write_run(
        tmp_path / "heldout", [(small, 1.0), (small, 1.0), (WORKED, 0.0), (DIRECT, 1.0)]
    )
    h = habits.habits(run)
    assert h["pass@1 worked, first value 0-9"] == 1.0
    assert h["pass@1 worked, first value not 0-9"] == 0.0
    assert h["pass@1 worked"] == pytest.approx(2 / 3)


def test_a_run_with_one_habit_has_no_score_for_the_other(tmp_path: Path, capsys):
    run = _write_run(tmp_path / "heldout", [(WORKED, 1.0), (WORKED, 0.0)])
    h = habits.habits(run)
    assert h["worked"] == 1.0 and h["pass@1 worked"] == 0.5
    assert h["pass@1 direct"] != h["pass@1 direct"]  # NaN: no direct answer to score
    assert habits.main([str(run)]) == 0
    out = capsys.readouterr().out
    assert f"| {run} | 2 | 100.0% | 50.0% | nan% | 50.0% | nan% / 50.0% |" in out
