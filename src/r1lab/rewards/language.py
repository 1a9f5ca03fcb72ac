"""language: R1's language-consistency reward, by Unicode script.

R1 adds "the proportion of target-language words in the chain of thought" to stop the
language mixing of R1-Zero. Languages are told apart by script, so languages sharing a script
(English, French, ...) score alike; Han and Kana characters count one word each.
"""

from __future__ import annotations

import unicodedata

import regex

from r1lab.rewards.answers import thinking
from r1lab.rewards.registry import Batch, Scorer, register
from r1lab.rewards.text import words

_LATIN = ("Latin",)
SCRIPTS: dict[str, tuple[str, ...]] = {
    **{
        code: _LATIN
        for code in (
            "en fr de es it pt nl sv da no nb fi is pl cs sk sl hr ro hu tr vi id ms tl sw "
            "et lv lt ca eu gl af sq az uz"
        ).split()
    },
    "zh": ("Han",),
    "ja": ("Han", "Hiragana", "Katakana"),
    "ko": ("Hangul",),
    **{code: ("Cyrillic",) for code in ("ru", "uk", "bg", "sr", "mk", "be", "kk", "mn")},
    **{code: ("Arabic",) for code in ("ar", "fa", "ur", "ps")},
    "he": ("Hebrew",),
    "el": ("Greek",),
    **{code: ("Devanagari",) for code in ("hi", "mr", "ne", "sa")},
    "bn": ("Bengali",),
    "ta": ("Tamil",),
    "te": ("Telugu",),
    "kn": ("Kannada",),
    "ml": ("Malayalam",),
    "gu": ("Gujarati",),
    "pa": ("Gurmukhi",),
    "th": ("Thai",),
    "lo": ("Lao",),
    "km": ("Khmer",),
    "my": ("Myanmar",),
    "ka": ("Georgian",),
    "hy": ("Armenian",),
    "am": ("Ethiopic",),
}


def _script_pattern(scripts: tuple[str, ...]) -> regex.Pattern:
    return regex.compile("[" + "".join(rf"\p{{Script={s}}}" for s in scripts) + "]", regex.V1)


def target_fraction(text: str, pattern: regex.Pattern) -> float:
    """Fraction of the words of `text` whose first letter is in the target script(s)."""
    found = words(text)
    if not found:
        return 0.0
    return sum(1 for w in found if pattern.match(w)) / len(found)


@register("language")
def language(language: str = "en") -> Scorer:
    """Fraction of words in the chain of thought (the <think> block) in the target language.

    0.0 when the chain of thought has no words. `language` is an ISO 639-1 code (en, zh, ko,
    ja, ru, ar, hi, ...) mapped to its Unicode script(s).
    """
    code = unicodedata.normalize("NFKC", str(language)).strip().lower().replace("_", "-")
    code = code.split("-")[0]
    if code not in SCRIPTS:
        raise ValueError(f"language '{language}' is not known; known: {', '.join(sorted(SCRIPTS))}")
    pattern = _script_pattern(SCRIPTS[code])

    def score(batch: Batch) -> list[float]:
        return [target_fraction(thinking(t), pattern) for t in batch.texts]

    return score
