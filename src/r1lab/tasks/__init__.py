"""Synthetic verifiable tasks for tiny runs and tests: seeded, with train and test disjoint.

Each task yields rows `{question, solution, reasoning, ...}`: `question` is the raw problem,
`solution` the reference answer a verifier checks against, `reasoning` a worked
`<think>...</think> <answer>...</answer>` trace that the tiny base SFT learns from.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

from r1lab.errors import RecipeError, closest
from r1lab.tasks import arithmetic, countdown
from r1lab.tasks.split import SPLITS, in_split

# each split draws from its own stream, so a bigger test split never shifts the train problems
SPLIT_SEED_OFFSETS = {"train": 0, "test": 1_000_003, "validation": 2_000_003}
Sampler = Callable[..., Iterator[dict[str, Any]]]
TASKS: dict[str, Sampler] = {"arithmetic": arithmetic.sample, "countdown": countdown.sample}
# The reward that verifies each task's answers: evaluation's default, and what a GRPO recipe on the
# task should include (`r1lab check` warns otherwise).
VERIFIERS: dict[str, str] = {"arithmetic": "accuracy", "countdown": "countdown"}
COLUMNS: dict[str, list[str]] = {
    "arithmetic": ["question", "solution", "reasoning"],
    "countdown": ["question", "solution", "reasoning", "nums", "target"],
}


def task_sampler(task: str) -> Sampler:
    if task not in TASKS:
        raise RecipeError(f"unknown task '{task}'{closest(task, TASKS)}; tasks: {', '.join(TASKS)}")
    return TASKS[task]


def generate_rows(task: str, split: str, size: int, seed: int = 0, **kwargs: Any) -> list[dict]:
    """`size` distinct problems of `task` that fall in `split` ("train", "validation", "test")."""
    if split not in SPLITS:
        raise RecipeError(f"task split must be one of {', '.join(SPLITS)}, got '{split}'")
    sampler = task_sampler(task)
    try:
        stream = sampler(seed=seed + SPLIT_SEED_OFFSETS[split], **kwargs)
        first = next(stream)  # a generator checks its parameters only when first run
    except TypeError as err:
        raise RecipeError(f"task '{task}': bad parameter in data.task: {err}") from None
    rows: list[dict] = []
    seen: set[str] = set()
    attempts = 0
    for row in itertools.chain([first], stream):
        attempts += 1
        if attempts > 50 * size + 10_000:
            raise RecipeError(
                f"task '{task}' with {kwargs} has too few distinct {split} problems for size={size}: "
                "lower the size or widen the task (e.g. data.task.max_value)"
            )
        # a task may ask a problem in another wording; it is split and deduplicated as its plain one
        question = row.pop("split_question", row["question"])
        if question in seen or not in_split(question, split):
            continue
        seen.add(question)
        rows.append(row)
        if len(rows) == size:
            break
    return rows


def make_dataset(task: str, split: str, size: int, seed: int = 0, **kwargs: Any):
    """The rows of `generate_rows` as a `datasets.Dataset`."""
    from datasets import Dataset

    return Dataset.from_list(generate_rows(task, split, size, seed, **kwargs))
