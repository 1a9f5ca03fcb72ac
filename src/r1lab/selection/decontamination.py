"""Decontamination: prompts that share a long n-gram with a benchmark question are dropped before
they can leak into training."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from r1lab.errors import RecipeError
from r1lab.selection.config import QUESTION_COLUMNS, SelectConfig

_TOKEN = re.compile(r"\w+|[^\w\s]")


def tokens(text: Any) -> tuple[str, ...]:
    """Lowercased words and single symbols: "7 + 5" and "7 - 5" differ."""
    return tuple(_TOKEN.findall(str(text).lower()))


def _grams(toks: tuple[str, ...], n: int) -> Iterable[tuple[str, ...]]:
    return (toks[i : i + n] for i in range(len(toks) - n + 1))


class Decontaminator:
    """Word n-gram overlap with a set of benchmark questions, indexed once.

    A question is contaminated when it shares any n-gram of tokens with any benchmark question.
    A text shorter than n tokens is matched whole, in either direction: a short benchmark
    question contaminates every question that contains its full token sequence contiguously,
    and a short question is contaminated when its full token sequence occurs in a benchmark
    question. So short questions ("What is 2+3?") are not silently exempt. A text with no
    tokens at all matches nothing.
    """

    def __init__(self, questions: Iterable[Any], n: int = 8) -> None:
        self.n = n
        self._texts: list[tuple[str, ...]] = []
        self._long: set[tuple[str, ...]] = set()
        self._short: dict[int, set[tuple[str, ...]]] = {}  # benchmark texts shorter than n
        self._by_length: dict[int, set[tuple[str, ...]]] = {}  # k-grams, built when first needed
        for question in questions:
            if question is None:
                continue
            toks = tokens(question)
            if not toks:
                continue
            self._texts.append(toks)
            if len(toks) < n:
                self._short.setdefault(len(toks), set()).add(toks)
            else:
                self._long.update(_grams(toks, n))

    def __len__(self) -> int:
        return len(self._texts)

    def _kgrams(self, k: int) -> set[tuple[str, ...]]:
        if k not in self._by_length:
            self._by_length[k] = {g for toks in self._texts for g in _grams(toks, k)}
        return self._by_length[k]

    def contaminated(self, text: Any) -> bool:
        toks = tokens(text)
        if not toks:
            return False
        if len(toks) < self.n:
            if toks in self._kgrams(len(toks)):
                return True
        elif any(g in self._long for g in _grams(toks, self.n)):
            return True
        return any(any(g in shorts for g in _grams(toks, k)) for k, shorts in self._short.items())


def benchmark_questions(path: str, column: str | None = None) -> list[Any]:
    """The question texts of one benchmark file (.jsonl/.json/.parquet/.csv), by `column` or
    the first of `QUESTION_COLUMNS` it has; a RecipeError naming its columns otherwise."""
    import datasets

    from r1lab.data import FILE_BUILDERS

    file = Path(path).expanduser()
    if file.suffix not in FILE_BUILDERS:
        raise RecipeError(
            f"select.decontaminate: '{path}' is not a {'/'.join(FILE_BUILDERS)} file of "
            "benchmark questions"
        )
    if not file.is_file():
        raise RecipeError(f"select.decontaminate: no file at '{path}'")
    ds = datasets.load_dataset(FILE_BUILDERS[file.suffix], data_files=str(file), split="train")
    name = column or next((c for c in QUESTION_COLUMNS if c in ds.column_names), None)
    if name is None or name not in ds.column_names:
        wanted = (
            f"no column '{column}'" if column else f"none of the columns {list(QUESTION_COLUMNS)}"
        )
        raise RecipeError(
            f"select.decontaminate: {path} has {wanted} (its columns: {ds.column_names}); "
            "set select.decontaminate_column to the column holding the question text"
        )
    return list(ds[name])


def load_decontaminator(cfg: SelectConfig) -> Decontaminator:
    """Every benchmark question of `cfg.decontaminate`, indexed once."""
    questions: list[Any] = []
    for path in cfg.decontaminate:
        questions += benchmark_questions(path, cfg.decontaminate_column)
    return Decontaminator(questions, cfg.ngram)
