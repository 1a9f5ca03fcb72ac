"""Train/validation/test membership decided by a stable hash of the question text.

A problem's split is a function of its text alone (a SHA-1 bucket out of BUCKETS), so the splits
are disjoint by construction whatever seeds or sizes are used to draw from them. Test holds two
buckets in ten (a fifth of all problems: the tiny world's 4,000 arithmetic chains give ~800 test
problems, enough for a paired s.e. of a difference near one point); validation holds one, for
choosing settings without looking at the test problems; train the other seven.
"""

from __future__ import annotations

import hashlib

BUCKETS = 10
SPLITS: dict[str, frozenset[int]] = {
    "test": frozenset({0, 1}),
    "validation": frozenset({2}),
    "train": frozenset(range(3, BUCKETS)),
}


def split_of(question: str) -> str:
    """The split `question` belongs to."""
    bucket = int.from_bytes(hashlib.sha1(question.encode()).digest()[:4], "big") % BUCKETS
    return next(name for name, buckets in SPLITS.items() if bucket in buckets)


def in_split(question: str, split: str) -> bool:
    return split_of(question) == split
