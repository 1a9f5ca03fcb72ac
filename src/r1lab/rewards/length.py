"""Length-shaped rewards: length (Kimi 1.5), cosine, repetition, soft_overlong (DAPO).

Lengths are tokens when TRL passes `completion_ids`, else characters.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Any

import regex

from r1lab.rewards.accuracy import check_time_limit, correctness, solution_columns
from r1lab.rewards.registry import Batch, Scorer, register
from r1lab.rewards.text import lengths
from r1lab.rewards.verify import DEFAULT_TIME_LIMIT

# Whitespace-separated tokens, except that each Han/Kana character is a token of its own.
_TOKEN = regex.compile(r"\p{Han}|\p{Hiragana}|\p{Katakana}|[^\s\p{Han}\p{Hiragana}\p{Katakana}]+")


def _key(prompt: Any) -> Hashable:
    return prompt if isinstance(prompt, str) else repr(prompt)


def groups(batch: Batch) -> list[list[int]]:
    """Indices of completions sharing a prompt (TRL's GRPO groups); one group without prompts."""
    if batch.prompts is None or len(batch.prompts) != len(batch.texts):
        return [list(range(len(batch.texts)))]
    by_prompt: dict[Hashable, list[int]] = {}
    for i, prompt in enumerate(batch.prompts):
        by_prompt.setdefault(_key(prompt), []).append(i)
    return list(by_prompt.values())


@register("length", columns=solution_columns)
def length(solution_column: str = "solution", time_limit: float = DEFAULT_TIME_LIMIT) -> Scorer:
    """Kimi 1.5 length penalty within each prompt's group of completions.

    lambda = 0.5 - (len - min) / (max - min); correct answers get lambda, wrong ones
    min(0, lambda); 0.0 when all lengths in the group are equal; None if the reference
    cannot be parsed.
    """
    time_limit = check_time_limit(time_limit)

    def score(batch: Batch) -> list[float | None]:
        ok = correctness(batch, solution_column, time_limit)
        sizes = lengths(batch.texts, batch.completion_ids)
        out: list[float | None] = [0.0] * len(sizes)
        for group in groups(batch):
            lo = min(sizes[i] for i in group)
            hi = max(sizes[i] for i in group)
            for i in group:
                if ok[i] is None:
                    out[i] = None
                elif hi > lo:
                    lam = 0.5 - (sizes[i] - lo) / (hi - lo)
                    out[i] = lam if ok[i] else min(0.0, lam)
        return out

    return score


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


@register("cosine", columns=solution_columns)
def cosine(
    min_value_wrong: float = -1.0,
    max_value_wrong: float = -0.5,
    min_value_correct: float = 0.5,
    max_value_correct: float = 1.0,
    max_len: int = 1000,
    solution_column: str = "solution",
    time_limit: float = DEFAULT_TIME_LIMIT,
) -> Scorer:
    """Length-scaled correctness: cos over [0, max_len], clamped at max_len (no wrap-around).

    Correct: from max_value_correct (empty) down to min_value_correct (at max_len and beyond).
    Wrong: from min_value_wrong (empty) up to max_value_wrong, so short wrong answers cost most.
    None if the reference cannot be parsed.
    """
    lo_w, hi_w = (
        _number("min_value_wrong", min_value_wrong),
        _number("max_value_wrong", max_value_wrong),
    )
    lo_c = _number("min_value_correct", min_value_correct)
    hi_c = _number("max_value_correct", max_value_correct)
    if lo_w > hi_w:
        raise ValueError(f"min_value_wrong ({lo_w}) must not exceed max_value_wrong ({hi_w})")
    if lo_c > hi_c:
        raise ValueError(f"min_value_correct ({lo_c}) must not exceed max_value_correct ({hi_c})")
    max_len = _positive_int("max_len", max_len)
    time_limit = check_time_limit(time_limit)

    def value(size: int, correct: bool) -> float:
        progress = min(1.0, size / max_len)
        cos = math.cos(progress * math.pi)  # 1 at length 0, -1 at max_len and beyond
        start, end = (hi_c, lo_c) if correct else (lo_w, hi_w)
        return end + 0.5 * (start - end) * (1.0 + cos)

    def score(batch: Batch) -> list[float | None]:
        ok = correctness(batch, solution_column, time_limit)
        sizes = lengths(batch.texts, batch.completion_ids)
        return [None if c is None else value(s, c) for s, c in zip(sizes, ok, strict=True)]

    return score


def repetition_fraction(text: str, ngram_size: int) -> float:
    """1 - unique n-grams / total n-grams over lowercased tokens; 0 below `ngram_size` tokens."""
    tokens = _TOKEN.findall(text.lower())
    total = len(tokens) - ngram_size + 1
    if total <= 0:
        return 0.0
    unique = {tuple(tokens[i : i + ngram_size]) for i in range(total)}
    return 1.0 - len(unique) / total


@register("repetition")
def repetition(ngram_size: int = 3, max_penalty: float = -1.0) -> Scorer:
    """-(1 - unique n-grams / total n-grams) * |max_penalty|; 0 for text shorter than n.

    Tokens are whitespace-separated (each Han/Kana character on its own), lowercased.
    """
    ngram_size = _positive_int("ngram_size", ngram_size)
    max_penalty = _number("max_penalty", max_penalty)
    if max_penalty > 0:
        raise ValueError(f"max_penalty must be <= 0 (it is a penalty), got {max_penalty}")

    def score(batch: Batch) -> list[float]:
        return [repetition_fraction(t, ngram_size) * max_penalty for t in batch.texts]

    return score


@register("soft_overlong")
def soft_overlong(max_length: int | None = None, cache_length: int | None = None) -> Scorer:
    """DAPO's overlong shaping: 0 up to max_length - cache_length, linear to -1 at max_length,
    -1 beyond. Set max_length to the trainer's max_completion_length; cache_length defaults to
    a fifth of it (DAPO: 4096 of 20480).
    """
    if max_length is None:
        raise ValueError("max_length is required (use the trainer's max_completion_length)")
    max_length = _positive_int("max_length", max_length)
    if cache_length is None:
        cache_length = max_length // 5
    cache_length = _positive_int("cache_length", cache_length, minimum=0)
    if cache_length > max_length:
        raise ValueError(f"cache_length ({cache_length}) must not exceed max_length ({max_length})")
    free = max_length - cache_length

    def value(size: int) -> float:
        if size <= free:
            return 0.0
        if size <= max_length:
            return (free - size) / cache_length
        return -1.0

    def score(batch: Batch) -> list[float]:
        return [value(s) for s in lengths(batch.texts, batch.completion_ids)]

    return score
