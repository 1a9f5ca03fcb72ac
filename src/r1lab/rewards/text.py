"""Turning what TRL passes into plain text, lengths and words.

TRL hands a reward either plain strings or conversational completions (a list of messages whose
`content` is a string or a list of `{"type": "text", "text": ...}` parts); every reward reads
the same normalised text so that the two forms score identically.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import regex

# A "word" for language and repetition purposes: each Han or Kana character on its own (those
# scripts do not separate words with spaces), else a run of letters (and combining marks) of
# one script. Digits, punctuation and symbols are not words.
_CJK_CHAR = r"\p{Han}|\p{Hiragana}|\p{Katakana}"
_WORD = regex.compile(
    rf"{_CJK_CHAR}|(?:(?!{_CJK_CHAR})\p{{L}})(?:(?!{_CJK_CHAR})[\p{{L}}\p{{M}}])*",
    regex.V1,
)


def completion_text(completion: Any) -> str:
    """The assistant's text of one completion, whatever form TRL used for it."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return _content_text(completion.get("content"))
    if isinstance(completion, Sequence):
        parts = [
            _content_text(m.get("content"))
            for m in completion
            if isinstance(m, dict) and m.get("role", "assistant") == "assistant"
        ]
        return "".join(parts)
    return "" if completion is None else str(completion)


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        out = []
        for part in content:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                out.append(part["text"])
        return "".join(out)
    return str(content)


def lengths(texts: Sequence[str], completion_ids: Sequence[Any] | None) -> list[int]:
    """Tokens per completion when TRL gave `completion_ids`, else characters."""
    if completion_ids is not None and len(completion_ids) == len(texts):
        return [
            len(ids) if ids is not None else len(t)
            for ids, t in zip(completion_ids, texts, strict=True)
        ]
    return [len(t) for t in texts]


def words(text: str) -> list[str]:
    """Script-aware words: every Han/Kana character is one word, other letters run together."""
    return _WORD.findall(text)
