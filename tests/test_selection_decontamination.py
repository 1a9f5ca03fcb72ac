"""Decontamination, edge by edge: which overlaps count (n-grams of exactly `ngram` tokens, the
default 8), which benchmark questions are indexed (all of every file, past empty ones), and what
a benchmark file that cannot be read says. The broad cases are in tests/test_selection.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from r1lab.errors import RecipeError
from r1lab.selection import Decontaminator, SelectConfig
from r1lab.selection.decontamination import benchmark_questions, load_decontaminator

RECIPE = {"data": {"source": "x.jsonl", "solution_column": "solution"}}
# twelve distinct tokens, so an overlap is exactly as long as the test says
WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima".split()


def jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_the_ngram_is_eight_tokens_unless_told():
    index = Decontaminator([" ".join(WORDS)])
    eight = " ".join(["zulu", *WORDS[2:10], "yankee"])  # charlie .. juliet
    seven = " ".join(["zulu", *WORDS[2:9], "yankee", "xray"])  # charlie .. india
    assert index.contaminated(eight)
    assert not index.contaminated(seven)


def test_a_shared_tail_one_token_shorter_than_ngram_does_not_contaminate():
    index = Decontaminator(["p q r s t"], n=4)
    assert not index.contaminated("x y r s t")  # "r s t" ends both: 3 tokens
    assert index.contaminated("x q r s t")  # "q r s t": 4 tokens
    assert not index.contaminated("y r s")  # shorter than n, not the whole of a benchmark's
    assert index.contaminated("q r s")  # shorter than n, inside the benchmark question


def test_benchmark_questions_after_a_missing_or_empty_one_are_indexed():
    index = Decontaminator(["one two three four five", None, "  ", "six seven eight nine ten"], 4)
    assert len(index) == 2
    assert index.contaminated("seven eight nine ten and more")
    assert index.contaminated("zero one two three four")


def test_every_benchmark_file_is_indexed_with_the_configured_ngram(tmp_path):
    first = jsonl(tmp_path / "a.jsonl", [{"problem": "How many primes lie below fifty?"}])
    second = jsonl(tmp_path / "b.jsonl", [{"problem": "Find the area of the unit circle."}])
    cfg = SelectConfig.from_recipe({"decontaminate": [str(first), str(second)], "ngram": 3}, RECIPE)
    index = load_decontaminator(cfg)
    assert len(index) == 2
    assert index.contaminated("Tell me how many primes there are.")  # 3-gram of the first file
    assert index.contaminated("Give the area of a square.")  # 3-gram "the area of", second file
    assert not index.contaminated("What is the area?")  # "the area" and "area ?": 2 tokens


def test_a_file_of_another_format_is_refused_with_the_formats_read(tmp_path):
    with pytest.raises(RecipeError) as err:
        benchmark_questions(str(tmp_path / "bench.txt"))
    assert str(err.value) == (
        f"select.decontaminate: '{tmp_path / 'bench.txt'}' is not a .jsonl/.json/.parquet/.csv "
        "file of benchmark questions"
    )


def test_a_named_question_column_the_file_lacks_is_refused_with_its_columns(tmp_path):
    path = jsonl(tmp_path / "bench.jsonl", [{"problem": "What is 2+3?", "answer": "5"}])
    assert benchmark_questions(str(path), "problem") == ["What is 2+3?"]
    with pytest.raises(RecipeError) as err:
        benchmark_questions(str(path), "Problem")
    assert str(err.value) == (
        f"select.decontaminate: {path} has no column 'Problem' (its columns: ['problem', "
        "'answer']); set select.decontaminate_column to the column holding the question text"
    )


def test_a_file_with_none_of_the_question_columns_lists_the_ones_looked_for(tmp_path):
    path = jsonl(tmp_path / "bench.jsonl", [{"Problem": "What is 2+3?"}])
    with pytest.raises(RecipeError) as err:
        benchmark_questions(str(path))
    assert (
        "has none of the columns ['problem', 'question', 'Question', 'prompt'] "
        "(its columns: ['Problem'])"
    ) in str(err.value)
