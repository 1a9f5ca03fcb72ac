"""The per-sample filters of R1's selection (verifiers, mixed language, long paragraphs, code in
the reasoning, duplicates, a cap per prompt) and open-r1's pass-rate band per prompt. Each takes
the indices still alive and returns those it drops."""

from __future__ import annotations

import re
from typing import Any

from r1lab.recipe import RewardSpec
from r1lab.selection.config import SelectConfig


def in_band(rate: float, cfg: SelectConfig) -> bool:
    above, below = cfg.pass_rate_above, cfg.pass_rate_below
    return (above is None or rate > above) and (below is None or rate < below)


def verify(
    rows: list[dict[str, Any]], texts: list[str], columns: list[str], specs: list[RewardSpec]
) -> tuple[list[bool], list[str | None]]:
    """(passes every verifier, name of the first failing one) per row; one call per verifier."""
    from r1lab.rewards import get_reward

    first_failure: list[str | None] = [None] * len(rows)
    if not rows:
        return [], []
    # TRL's convention: every dataset column but the prompt and completion, as keyword arguments.
    extra = {c: [row.get(c) for row in rows] for c in columns if c not in ("prompt", "completion")}
    prompts = [row.get("prompt", "") for row in rows]
    for spec in specs:
        reward = get_reward(spec.name, **spec.params)
        scores = reward(prompts=prompts, completions=texts, **extra)
        for i, score in enumerate(scores):
            if first_failure[i] is None and not meets(score, spec.weight):
                first_failure[i] = spec.name
    return [f is None for f in first_failure], first_failure


def meets(score: float | None, threshold: float) -> bool:
    """A score at or above the threshold; None (not judgeable) never passes."""
    return score is not None and score >= threshold


def mixed_language(indices: list[int], texts: list[str], cfg: SelectConfig) -> list[int]:
    """Samples whose chain of thought has too few words in `cfg.language` (the registry's
    `language` reward, one call). A chain of thought with no words (only numbers and symbols)
    mixes no language and is kept."""
    from r1lab.rewards import get_reward
    from r1lab.rewards.answers import thinking
    from r1lab.rewards.text import words

    worded = [i for i in indices if words(thinking(texts[i]))]
    if not worded:
        return []
    reward = get_reward("language", language=cfg.language)
    scores = reward(prompts=[""] * len(worded), completions=[texts[i] for i in worded])
    return [
        i
        for i, score in zip(worded, scores, strict=True)
        if not meets(score, cfg.language_min_fraction)
    ]


def longest_paragraph(text: str) -> int:
    """Words in the longest paragraph (split on blank lines) of the chain of thought, counted
    as the language reward counts them: runs of letters, each Han/Kana character one word."""
    from r1lab.rewards.answers import thinking
    from r1lab.rewards.text import words

    paragraphs = re.split(r"\n\s*\n", thinking(text))
    return max((len(words(p)) for p in paragraphs), default=0)


def has_code(text: str) -> bool:
    """Whether the chain of thought holds a fenced code block (code after it is fine)."""
    from r1lab.rewards.answers import thinking

    return "```" in thinking(text)


def duplicates(indices: list[int], rows: list[dict[str, Any]], texts: list[str]) -> list[int]:
    """Every copy of a completion already seen for the same prompt at a lower `sample`."""
    seen: set[tuple[Any, str]] = set()
    out = []
    for i in sorted(indices, key=lambda i: (rows[i]["sample"], i)):
        key = (rows[i]["prompt_id"], texts[i])
        if key in seen:
            out.append(i)
        seen.add(key)
    return out


def over_limit(indices: list[int], rows: list[dict[str, Any]], limit: int) -> list[int]:
    """Samples past the first `limit` (lowest `sample` first) of their prompt."""
    count: dict[Any, int] = {}
    out = []
    for i in sorted(indices, key=lambda i: (rows[i]["sample"], i)):
        pid = rows[i]["prompt_id"]
        count[pid] = count.get(pid, 0) + 1
        if count[pid] > limit:
            out.append(i)
    return out
