"""code: the fraction of a sample's test cases that the completion's program passes.

The program is the last ```python block; each test case runs in its own process under the
limits of `r1lab.rewards.sandbox` (a limit for buggy code, not a security boundary). A real
sandbox plugs in through `runner="my_pkg.sandbox:run"` (see `sandbox.Runner`).

A case is stdin/stdout, or, when it names a function (`fn_name`), LiveCodeBench's "functional"
kind: each input line is one JSON argument of `Solution().<fn_name>(...)` (or of `<fn_name>(...)`
when there is no `class Solution`) and the JSON result must equal the output. The harness that makes
the call is appended to the program, so a plug-in runner still gets `(source, stdin, limits)`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

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


class TestCase(NamedTuple):
    """One test: stdin and expected stdout, or with `fn_name` JSON arguments and JSON result."""

    input: str
    output: str
    fn_name: str | None = None


def _fn_name(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_test_cases(value: Any) -> list[TestCase]:
    """Normalise a `test_cases` cell: a list of {input, output[, fn_name]}, or its JSON string."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    if isinstance(value, dict) and "input" in value and "output" in value:
        inputs, outputs = value["input"], value["output"]  # columnar {input: [...], output: [...]}
        if isinstance(inputs, list) and isinstance(outputs, list):
            fn = _fn_name(value.get("fn_name"))
            return [TestCase(str(i), str(o), fn) for i, o in zip(inputs, outputs, strict=False)]
        value = [value]
    if not isinstance(value, list):
        return []
    return [
        TestCase(
            str(case.get("input", "")), str(case.get("output", "")), _fn_name(case.get("fn_name"))
        )
        for case in value
        if isinstance(case, dict) and "output" in case
    ]


# Read the arguments and hide the solution's own prints before it runs; it is not `__main__`.
_HEAD = """\
import json as _r1lab_json, os as _r1lab_os, sys as _r1lab_sys
_r1lab_args = [_r1lab_json.loads(a) for a in _r1lab_sys.stdin.read().split("\\n") if a.strip()]
_r1lab_out, _r1lab_sys.stdout = _r1lab_sys.stdout, open(_r1lab_os.devnull, "w")
__name__ = "solution"
"""
# What LiveCodeBench's grader runs before a solution: LeetCode code uses these unimported.
_MODULES = "string re datetime collections heapq bisect copy math random statistics itertools "
_MODULES += "functools operator io sys json"
_PRELUDE = "".join(f"from {m} import *\n" for m in [*_MODULES.split(), "builtins", "typing"])
_PRELUDE += f"import {', '.join(_MODULES.split())}\nsys.setrecursionlimit(50000)\n"
_CALL = """
_r1lab_class = globals().get("Solution")
_r1lab_fn = getattr(_r1lab_class(), {name!r}) if isinstance(_r1lab_class, type) else globals()[{name!r}]
_r1lab_out.write(_r1lab_json.dumps(_r1lab_fn(*_r1lab_args)))
_r1lab_out.flush()
"""


def call_program(source: str, fn_name: str) -> str:
    """`source` plus a harness: JSON arguments (one a line) from stdin -> `fn_name` -> JSON result.

    As in LiveCodeBench's grader, the solution is not `__main__` (an example-usage block does
    not run) and what it prints is not the result (its stdout goes to /dev/null).
    """
    return _HEAD + _PRELUDE + source + _CALL.format(name=fn_name)


def same_json(actual: str, expected: str) -> bool:
    """Equal as JSON values (the harness printed tuples as lists); False if either is not JSON."""
    try:
        return json.loads(actual) == json.loads(expected)
    except ValueError:
        return False


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
    """Fraction of test cases ({input, output} on stdin/stdout, or a function call with
    `fn_name`) passed by the last ```python block; 0.0 without a block, None for a sample without
    test cases. Each case runs in its own limited process (CPU, wall time, memory, processes, no
    network, clean environment)."""
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

    def passes(job: tuple[str, TestCase]) -> bool:
        source, case = job
        if case.fn_name is not None:
            source = call_program(source, case.fn_name)
        try:
            result = run(source, case.input, limits)
        except Exception:  # a broken runner scores the test as failed, never the trainer
            return False
        same = same_output if case.fn_name is None else same_json
        return result.returncode == 0 and not result.timed_out and same(result.stdout, case.output)

    def score(batch: Batch) -> list[float | None]:
        cases = [parse_test_cases(c) for c in batch.column(test_cases_column)]
        sources = [last_python_block(t) for t in batch.texts]
        jobs = [
            (i, (src, case))
            for i, (src, tests) in enumerate(zip(sources, cases, strict=True))
            if src is not None
            for case in tests
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
