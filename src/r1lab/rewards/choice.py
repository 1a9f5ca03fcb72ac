"""choice: is the multiple-choice letter the completion answers the gold one? (GPQA-Diamond).

Only the text after the last `</think>` counts, so letters weighed in the reasoning are not taken
for the answer. Every pattern is a literal anchor followed by single character classes, so a
search is linear in the text's length, even for 100k characters of completion.
"""

from __future__ import annotations

import functools
import re
import string

from r1lab.rewards.registry import Batch, Scorer, register

_NOT_WORD = r"(?!\w)"  # "Answer: Because" names no letter; "Answer: A." names A


@functools.lru_cache(maxsize=8)
def _patterns(letters: str) -> tuple[re.Pattern[str], ...]:
    """The answer patterns for `letters`, in priority order."""
    check_letters(letters)
    letter = f"([{letters}])"
    return (
        # simple-evals' `(?i)Answer[ \t]*:[ \t]*\$?([A-D])\$?`, plus (C) and **Answer:** C
        re.compile(rf"\b(?i:answer)[ \t*]*:[ \t*]*\$?\(?{letter}\)?\$?{_NOT_WORD}"),
        # \boxed{C}, \boxed{(C)}, \boxed{\text{C}}
        re.compile(
            r"\\boxed[ \t]*\{[ \t]*(?:\\(?:text|textbf|mathrm)[ \t]*\{[ \t]*)?"
            rf"\(?{letter}\)?[ \t]*\}}"
        ),
        # "the answer is (C)", "the correct option is C", "my choice is: **C**"
        re.compile(
            rf"\b(?i:answer|option|choice)[ \t]+(?i:is)[ \t*:]*\$?\(?{letter}\)?{_NOT_WORD}"
        ),
    )


def check_letters(letters: str) -> str:
    """`letters` if it is 2 to 26 distinct uppercase letters A-Z, else a ValueError saying why."""
    if not isinstance(letters, str):
        raise ValueError(f"letters must be a string such as 'ABCD', got {letters!r}")
    if not 2 <= len(letters) <= 26:
        raise ValueError(f"letters must hold 2 to 26 letters, got {len(letters)} ({letters!r})")
    if not set(letters) <= set(string.ascii_uppercase):
        raise ValueError(f"letters must be uppercase A-Z only, got {letters!r}")
    if len(set(letters)) != len(letters):
        repeated = sorted({c for c in letters if letters.count(c) > 1})
        raise ValueError(
            f"letters must be distinct, got {letters!r} (repeated: {''.join(repeated)})"
        )
    return letters


def extract_choice(text: str, letters: str = "ABCD") -> str | None:
    """The letter the completion answers: the last match of the first pattern that matches.

    Searched after the last `</think>`; None when `<think>` never closes (no answer was given).
    """
    patterns = _patterns(letters)
    close = text.rfind("</think>")
    if close >= 0:
        text = text[close + len("</think>") :]
    elif "<think>" in text:
        return None
    for pattern in patterns:
        found = pattern.findall(text)
        if found:
            return found[-1]
    return None


def _columns(params: dict) -> set[str]:
    return {params.get("answer_column", "answer")}


@register("choice", columns=_columns, verifier=True)
def choice(answer_column: str = "answer", letters: str = "ABCD") -> Scorer:
    """1.0 if the answered letter (`Answer: C`, `\\boxed{C}`, `the answer is (C)`) is the gold one.

    0.0 for another letter or none; None when the gold value is not one of `letters`.
    """
    valid = set(check_letters(letters))

    def score(batch: Batch) -> list[float | None]:
        golds = [str(g).strip().upper() for g in batch.column(answer_column)]
        return [
            None if gold not in valid else float(extract_choice(text, letters) == gold)
            for text, gold in zip(batch.texts, golds, strict=True)
        ]

    return score
