"""Shape rewards: format, tag_count, reasoning_steps (string scans, no catastrophic regex)."""

from __future__ import annotations

import re

from r1lab.rewards.registry import Batch, Scorer, register

TAGS = ("<think>", "</think>", "<answer>", "</answer>")


def well_formed(text: str) -> bool:
    """`<think>...</think>` then `<answer>...</answer>`, whitespace between, nothing after.

    Each of the four tags appears exactly once (no nested or repeated blocks); surrounding
    whitespace is tolerated (tokenizers often emit a leading space after "Assistant:").
    """
    text = text.strip()
    if any(text.count(tag) != 1 for tag in TAGS):
        return False
    if not (text.startswith("<think>") and text.endswith("</answer>")):
        return False
    end_think = text.index("</think>")
    start_answer = text.index("<answer>")
    return end_think < start_answer and not text[end_think + 8 : start_answer].strip()


@register("format")
def format_reward() -> Scorer:
    """1.0 if the completion is exactly <think>...</think> <answer>...</answer>, else 0.0."""

    def score(batch: Batch) -> list[float]:
        return [float(well_formed(t)) for t in batch.texts]

    return score


@register("tag_count")
def tag_count() -> Scorer:
    """0.25 for each of <think>, </think>, <answer>, </answer> present exactly once."""

    def score(batch: Batch) -> list[float]:
        return [sum(0.25 for tag in TAGS if t.count(tag) == 1) for t in batch.texts]

    return score


_STEP = re.compile(
    r"Step\s*\d+\s*:"  # Step 1:
    r"|^[ \t]*\d+[.)][ \t]"  # 1. or 1) at the start of a line
    r"|^[ \t]*[-*\u2022][ \t]"  # - * or bullet at the start of a line
    r"|\b(?:First|Second|Third|Next|Then|Finally),",
    re.MULTILINE,
)


def count_steps(text: str) -> int:
    return sum(1 for _ in _STEP.finditer(text))


@register("reasoning_steps")
def reasoning_steps(min_steps: int = 3) -> Scorer:
    """min(1, steps / min_steps): "Step N:", numbered lines, bullets, "First,/Next,/Finally,"."""
    if not isinstance(min_steps, int) or min_steps < 1:
        raise ValueError(f"min_steps must be a positive integer, got {min_steps!r}")

    def score(batch: Batch) -> list[float]:
        return [min(1.0, count_steps(t) / min_steps) for t in batch.texts]

    return score
