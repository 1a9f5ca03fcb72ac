"""Finding the final answer and the chain of thought in a completion, in linear time.

Everything here is a single left-to-right scan or an `rfind`: no backtracking regex, so a
megabyte of text or thousands of unclosed braces cost milliseconds, never the time limit.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_INTEGER = r"\s*\d{1,30}\s*"
_FRACTION = re.compile(
    rf"(?P<sign>[+-]?)\s*(?:\\[dt]?frac\s*\{{(?P<a>{_INTEGER})\}}\s*\{{(?P<b>{_INTEGER})\}}"
    rf"|(?P<c>{_INTEGER})/(?P<d>{_INTEGER}))"
)


def last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` (or `\\fbox{...}`) whose braces close, else None."""
    starts = [m.end() for m in _BOXED.finditer(text)]
    if not starts:
        return None
    closing = _matching_braces(text, starts[0] - 1)
    for start in reversed(starts):
        end = closing.get(start - 1)
        if end is not None:
            return text[start:end]
    return None


def _matching_braces(text: str, first: int) -> dict[int, int]:
    """Map each `{` at or after `first` to its matching `}` (escaped `\\{` `\\}` are literal)."""
    pairs: dict[int, int] = {}
    stack: list[int] = []
    i, n = first, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            stack.append(i)
        elif ch == "}" and stack:
            pairs[stack.pop()] = i
        i += 1
    return pairs


def tag_block(text: str, tag: str) -> str | None:
    """Content of the last complete `<tag>...</tag>` block, stripped, else None."""
    close = text.rfind(f"</{tag}>")
    if close < 0:
        return None
    open_ = text.rfind(f"<{tag}>", 0, close)
    if open_ < 0:
        return None
    return text[open_ + len(tag) + 2 : close].strip()


def extract_answer(text: str) -> str | None:
    """The final answer: the last `\\boxed{}`, else the `<answer>` block; None if neither."""
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed.strip()
    return tag_block(text, "answer")


def thinking(text: str) -> str:
    """The chain of thought: the `<think>` block (to the end if unclosed), else the whole text."""
    start = text.find("<think>")
    if start < 0:
        end = text.find("</think>")
        return text[:end] if end >= 0 else text
    start += len("<think>")
    end = text.find("</think>", start)
    return text[start:] if end < 0 else text[start:end]


def plain_number(text: str) -> Decimal | None:
    """`text` as an exact decimal when it is nothing but a number (`46`, `-7`, `46.0`)."""
    text = text.strip()
    if len(text) > 100 or not _PLAIN_NUMBER.fullmatch(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def simple_rational(text: str) -> tuple[Fraction, str] | None:
    """(value, "integer" | "decimal" | "fraction") for `46`, `-0.5`, `\\frac{3}{4}`, `3/4`; else None.

    Lets the accuracy reward settle the commonest answers exactly without math-verify.
    """
    number = plain_number(text)
    if number is not None:
        return Fraction(number), "decimal" if "." in text else "integer"
    match = _FRACTION.fullmatch(text.strip())
    if match is None:
        return None
    top, bottom = int(match["a"] or match["c"]), int(match["b"] or match["d"])
    if bottom == 0:
        return None
    value = Fraction(top, bottom)
    return (-value if match["sign"] == "-" else value), "fraction"
