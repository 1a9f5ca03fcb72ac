"""tools/paired.py: two evaluations of the same problems compared by their per-problem differences."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from r1lab.errors import RecipeError

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
import paired  # noqa: E402


def evaluation(scores: list[float]) -> dict:
    rows = [{"question": f"q{i}", "pass@1": s} for i, s in enumerate(scores)]
    return {"pass@1": sum(scores) / len(scores), "per_problem": rows}


def test_the_gain_is_the_mean_per_problem_difference_with_its_paired_standard_error():
    better = evaluation([1.0, 0.5, 1.0, 0.75])
    worse = evaluation([0.5, 0.5, 0.75, 0.25])
    # differences 0.5, 0, 0.25, 0.5: mean 0.3125, s.d. 0.2394, s.e. 0.1197
    line = paired.compare(better, worse)
    assert "81.2% vs 50.0% (+31.2 pts; s.e. of the paired difference 12.0): held" in line
    assert paired.compare(worse, better).endswith("did not hold")


def test_other_problems_are_refused_not_compared(tmp_path):
    a, b = evaluation([1.0, 0.0]), evaluation([1.0, 0.0])
    b["per_problem"][1]["question"] = "another"
    with pytest.raises(RecipeError, match="same problems on both sides"):
        paired.compare(a, b)
    pa, pb = tmp_path / "a.json", tmp_path / "b.json"
    pa.write_text(json.dumps(evaluation([1.0, 1.0, 0.0])))
    pb.write_text(json.dumps(evaluation([0.0, 1.0, 0.0])))
    assert paired.main([str(pa), str(pb)]) == 0
