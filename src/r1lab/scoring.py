"""The one scorer: a benchmark's saved samples graded by its verifier, one result row per sample.

A sample is solved only at the verifier's full marks (`r1lab.metrics.solved`); its answer is read
as the benchmark's style reads it, for the majority vote. Benchmarks and a training recipe's
held-out split (style `task`) are scored here alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from r1lab.benchmarks import STYLES, Benchmark
from r1lab.errors import RecipeError


def closed_thinking(text: str) -> bool:
    """No `<think>`, or one that is closed: the model got to its answer."""
    return "<think>" not in text or "</think>" in text


def score(
    bench: Benchmark,
    problems: list[dict[str, Any]],
    asked: dict[int, Any],
    reward: Callable[..., list[float | None]],
    samples: list[dict[str, Any]],
):
    """One result row per sample: solved (`reward`'s full marks), answer, length, format.

    `asked`: each problem's prompt as the model was asked it (`r1lab.benchmarks.prompts_of`), what
    every saved sample of the problem must have answered; `reward`: the benchmark's verifier."""
    from r1lab.metrics import group_by_problem, solved

    style = STYLES[bench.style]
    by_id = {p["prompt_id"]: p for p in problems}
    results = []
    for pid, group in group_by_problem(samples).items():
        problem = by_id.get(pid)
        if problem is None or any(s["prompt"] != asked[pid] for s in group):
            raise RecipeError(
                f"{bench.name}: the saved samples of problem {pid} answer another question than the "
                f"benchmark's problem {pid} now ({bench.source} changed since they were made); "
                "grading them would be wrong. Delete the benchmark's samples/ and rerun"
            )
        texts = [s["completion"] for s in group]
        graded = {k: [v] * len(group) for k, v in problem.items() if k not in ("prompt_id",)}
        values = reward(completions=texts, prompts=graded.pop("question"), **graded)
        for s, value in zip(group, values, strict=True):
            answer = style.answer(s["completion"])
            results.append(
                {
                    "prompt_id": pid,
                    "sample": s["sample"],
                    "correct": float(solved(value)),
                    "answer": answer if style.same is not None else None,
                    "completion_tokens": s["completion_tokens"],
                    "finish_reason": s["finish_reason"],
                    "format": float(answer is not None and closed_thinking(s["completion"])),
                }
            )
    return results
