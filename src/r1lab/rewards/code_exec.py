"""code: the fraction of a sample's stdin/stdout test cases that the completion's program passes.

The program is the last ```python block; each test case runs in its own process under the
limits of `r1lab.rewards.sandbox` (a limit for buggy code, not a security boundary). A real
sandbox plugs in through `runner="my_pkg.sandbox:run"` (see `sandbox.Runner`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from r1lab.plugins import load_callable
from r1lab.rewards.registry import Batch, Scorer, register
from r1lab.rewards.sandbox import Limits, Runner, RunResult, run_python
from r1lab.rewards.verify import default_workers

_FENCE_OPEN = re.compile(r"```[ \t]*(?:python3?|py)\b[^\n]*\n", re.IGNORECASE)


def last_python_block(text: str) -> str | None:
    """The last fenced ```python block that is closed, else None."""
    for match in reversed(list(_FENCE_OPEN.finditer(text))):
        end = text.find("```", match.end())
        if end >= 0:
            return text[match.end() : end]
    return None


def parse_test_cases(value: Any) -> list[tuple[str, str]]:
    """Normalise a `test_cases` cell: a list of {input, output} (or a JSON string of one)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    if isinstance(value, dict) and "input" in value and "output" in value:
        inputs, outputs = value["input"], value["output"]  # columnar {input: [...], output: [...]}
        if isinstance(inputs, list) and isinstance(outputs, list):
            return [(str(i), str(o)) for i, o in zip(inputs, outputs, strict=False)]
        value = [value]
    if not isinstance(value, list):
        return []
    return [
        (str(case.get("input", "")), str(case.get("output", "")))
        for case in value
        if isinstance(case, dict) and "output" in case
    ]


def same_output(actual: str, expected: str) -> bool:
    """Equal up to trailing whitespace on each line and surrounding blank lines."""

    def norm(s: str) -> list[str]:
        return [line.rstrip() for line in s.strip().splitlines()]

    return norm(actual) == norm(expected)


def _load_runner(path: str) -> Runner:
    try:
        return load_callable(path)
    except ValueError as err:
        raise ValueError(f"runner {err}") from None


def _columns(params: dict) -> set[str]:
    return {params.get("test_cases_column", "test_cases")}


@register("code", columns=_columns, verifier=True)
def code(
    test_cases_column: str = "test_cases",
    cpu_seconds: float = 5.0,
    wall_seconds: float = 10.0,
    memory_mb: int = 1024,
    processes: int = 32,
    workers: int | None = None,
    runner: str | None = None,
) -> Scorer:
    """Fraction of test cases ({input, output} on stdin/stdout) passed by the last ```python
    block; 0.0 without a block, None for a sample without test cases. Each case runs in its own
    limited process (CPU, wall time, memory, processes, no network, clean environment)."""
    for name, value in (("cpu_seconds", cpu_seconds), ("wall_seconds", wall_seconds)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 3600:
            raise ValueError(f"{name} must be a number of seconds in (0, 3600], got {value!r}")
    for name, value in (("memory_mb", memory_mb), ("processes", processes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    limits = Limits(
        cpu_seconds=float(cpu_seconds),
        wall_seconds=float(wall_seconds),
        memory_bytes=memory_mb << 20,
        processes=processes,
    )
    run: Callable[[str, str, Limits], RunResult] = (
        _load_runner(runner) if runner else (lambda src, stdin, lim: run_python(src, stdin, lim))
    )
    pool_size = workers or default_workers()

    def passes(job: tuple[str, str, str]) -> bool:
        source, stdin, expected = job
        try:
            result = run(source, stdin, limits)
        except Exception:  # a broken runner scores the test as failed, never the trainer
            return False
        return (
            result.returncode == 0 and not result.timed_out and same_output(result.stdout, expected)
        )

    def score(batch: Batch) -> list[float | None]:
        cases = [parse_test_cases(c) for c in batch.column(test_cases_column)]
        sources = [last_python_block(t) for t in batch.texts]
        jobs = [
            (i, (src, stdin, expected))
            for i, (src, tests) in enumerate(zip(sources, cases, strict=True))
            if src is not None
            for stdin, expected in tests
        ]
        with ThreadPoolExecutor(max_workers=pool_size) as pool:
            passed = list(pool.map(passes, [job for _, job in jobs]))
        wins = [0] * len(batch.texts)
        for (i, _), ok in zip(jobs, passed, strict=True):
            wins[i] += ok
        return [
            None if not tests else (0.0 if src is None else wins[i] / len(tests))
            for i, (src, tests) in enumerate(zip(sources, cases, strict=True))
        ]

    return score
