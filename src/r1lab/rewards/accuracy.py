"""accuracy: is the final answer equivalent to the reference? (math-verify, bounded in time)."""

from __future__ import annotations

import logging
import threading

from r1lab.rewards.answers import extract_answer
from r1lab.rewards.registry import Batch, RewardError, Scorer, register
from r1lab.rewards.verify import (
    CORRECT,
    DEFAULT_TIME_LIMIT,
    TIMEOUT,
    UNPARSEABLE_REFERENCE,
    judge,
)

logger = logging.getLogger("r1lab.rewards")
_warned = threading.Event()


def correctness(batch: Batch, solution_column: str, time_limit: float) -> list[bool | None]:
    """True/False per completion, None where the reference cannot be parsed.

    Records `timeout_frac` (checks cut off by the time limit, scored as wrong) in the batch's
    metrics so that a run can see when its accuracy numbers are limited by time, not skill.
    """
    references = batch.column(solution_column)
    answers = [extract_answer(text) for text in batch.texts]
    outcomes = judge(answers, [None if r is None else str(r) for r in references], time_limit)
    unparseable = [
        r for r, o in zip(references, outcomes, strict=True) if o == UNPARSEABLE_REFERENCE
    ]
    if unparseable and not _warned.is_set():
        _warned.set()
        logger.warning(
            "accuracy: %d reference answer(s) in this batch cannot be parsed (e.g. %r); those "
            "samples score None and are left out by TRL. Shown once per process.",
            len(unparseable),
            str(unparseable[0])[:200],
        )
    n = max(1, len(outcomes))
    batch.metrics["timeout_frac"] = sum(o == TIMEOUT for o in outcomes) / n
    return [None if o == UNPARSEABLE_REFERENCE else o == CORRECT for o in outcomes]


def check_time_limit(time_limit: float) -> float:
    if not isinstance(time_limit, (int, float)) or not 0 < time_limit <= 600:
        raise RewardError(f"time_limit must be a number of seconds in (0, 600], got {time_limit!r}")
    return float(time_limit)


def solution_columns(params: dict) -> set[str]:
    return {params.get("solution_column", "solution")}


@register("accuracy", columns=solution_columns, verifier=True)
def accuracy(solution_column: str = "solution", time_limit: float = DEFAULT_TIME_LIMIT) -> Scorer:
    """1.0 if the final answer (last \\boxed{}, else <answer>) equals the reference, else 0.0.

    Equivalence is math-verify's (exact for simple rationals); None where the reference cannot be
    parsed. Each check is bounded by `time_limit` seconds in any thread; past it, 0.0.
    """
    time_limit = check_time_limit(time_limit)

    def score(batch: Batch) -> list[float | None]:
        return [
            None if ok is None else float(ok)
            for ok in correctness(batch, solution_column, time_limit)
        ]

    return score
