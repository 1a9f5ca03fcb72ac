"""Local files in each benchmark's Hub shape, with synthetic arithmetic problems.

The Hub is out of reach here, so the tiny recipe (`evaluate/tiny`, `source: synthetic`) and the
tests run every benchmark on a file with the Hub dataset's columns and types (see
`r1lab.benchmarks`), filled with r1lab's own arithmetic task (held-out split): the same loading,
prompting and grading code as the real benchmark, and problems the tiny models can solve.
"""

from __future__ import annotations

import base64
import json
import pickle
import zlib
from pathlib import Path
from typing import Any

from r1lab.atomic import atomic_write
from r1lab.tasks import generate_rows


def encode_private(tests: list[dict[str, Any]]) -> str:
    """LiveCodeBench's private-test encoding: base64(zlib(pickle(JSON text)))."""
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode()


def _math(i: int, question: str, answer: str, shape: str) -> dict[str, Any]:
    url = f"https://example.org/synthetic/{shape}/{i}"
    if shape == "aime24":
        solution = f"The value is $\\boxed{{{answer}}}$."
        return {
            "id": i,
            "problem": question,
            "solution": solution,
            "answer": answer,
            "url": url,
            "year": "2024",
        }
    if shape == "aime25":
        return {
            "id": i,
            "problem": question,
            "answer": answer,
            "url": url,
            "year": "2025",
            "__index_level_0__": i,
        }
    return {
        "problem": question,
        "solution": f"Working left to right gives $\\boxed{{{answer}}}$.",
        "answer": answer,
        "subject": "Prealgebra",
        "level": 1,
        "unique_id": f"test/prealgebra/{i}.json",
    }


def _choice(i: int, question: str, answer: str) -> dict[str, Any]:
    value = int(answer)
    return {
        "Question": question,
        "Correct Answer": answer,
        "Incorrect Answer 1": str(value + 1),
        "Incorrect Answer 2": str(value - 1),
        "Incorrect Answer 3": str(value + 10),
        "Explanation": f"The value is {answer}.",
        "Subdomain": "Synthetic Arithmetic",
        "Writer's Difficulty Estimate": "Easy undergraduate level (or easier)",
        "High-level domain": "Physics",
        "Record ID": f"recSYNTHETIC{i:05d}",
    }


def _code(i: int, question: str, answer: str) -> dict[str, Any]:
    """Even rows: stdin (print the expression's value plus the input); odd: a LeetCode method."""
    expr = question.removeprefix("Compute ")
    common = {
        "question_title": f"synthetic-{i}",
        "contest_id": f"synth{i:03d}",
        "contest_date": f"2024-{8 + i % 5:02d}-03T00:00:00",
        "difficulty": "easy",
    }
    if i % 2 == 0:
        tests = [
            {"input": f"{x}\n", "output": f"{int(answer) + x}\n", "testtype": "stdin"}
            for x in (0, 1, 5)
        ]
        return {
            **common,
            "question_content": f"Read an integer x from stdin. Print {expr} + x.",
            "platform": "atcoder",
            "question_id": f"synth{i:03d}_a",
            "starter_code": "",
            "public_test_cases": json.dumps(tests[:1]),
            "private_test_cases": encode_private(tests[1:]),
            "metadata": "{}",
        }
    tests = [
        {"input": json.dumps(xs), "output": str(int(answer) + sum(xs)), "testtype": "functional"}
        for xs in ([1, 2], [], [5])
    ]
    return {
        **common,
        "question_content": f"Given a list nums, return {expr} + sum(nums).",
        "platform": "leetcode",
        "question_id": str(9000 + i),
        "starter_code": "class Solution:\n    def shifted(self, nums: List[int]) -> int:\n        ",
        "public_test_cases": json.dumps(tests[:1]),
        "private_test_cases": encode_private(tests[1:]),
        "metadata": json.dumps({"func_name": "shifted"}),
    }


def synthetic_rows(shape: str, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """n rows in the Hub shape of benchmark `shape` (aime24, aime25, math_500, gpqa_diamond, lcb)."""
    rows = generate_rows("arithmetic", "test", n, seed)
    out = []
    for i, row in enumerate(rows):
        question, answer = row["question"], row["solution"]
        if shape == "gpqa_diamond":
            out.append(_choice(i, question, answer))
        elif shape == "lcb":
            out.append(_code(i, question, answer))
        else:
            out.append(_math(i, question, answer, shape))
    return out


def write_synthetic(shape: str, path: str | Path, n: int, seed: int = 0) -> Path:
    """`synthetic_rows` as a JSON-lines file at `path` (what `source:` can point to)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r) + "\n" for r in synthetic_rows(shape, n, seed))
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
    return path
