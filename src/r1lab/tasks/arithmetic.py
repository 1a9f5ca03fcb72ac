"""Integer arithmetic chains (`Compute 23 + 58 - 17`), verified by exact value.

The worked trace evaluates left to right, one operation per step, the way a scratchpad would.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}


def solve(numbers: list[int], ops: list[str]) -> tuple[int, list[str]]:
    """Left-to-right value of the chain and one `a op b = c` step per operation."""
    value, steps = numbers[0], []
    for op, n in zip(ops, numbers[1:], strict=True):
        new = OPS[op](value, n)
        steps.append(f"{value} {op} {n} = {new}")
        value = new
    return value, steps


def last_first(numbers: list[int], ops: list[str]) -> tuple[list[int], list[str]]:
    """The same sum with its last term moved next to the first (`7 + 5 - 3` -> `7 - 3 + 5`):
    another correct order of working, for chains of `+` and `-` only (signed terms commute;
    `sample` refuses other ops with last_first_fraction)."""
    return [numbers[0], numbers[-1], *numbers[1:-1]], [ops[-1], *ops[:-1]]


def sample(
    seed: int = 0,
    max_value: int = 99,
    min_operands: int = 2,
    max_operands: int = 2,
    ops: str = "+-",
    direct_fraction: float = 0.0,
    last_first_fraction: float = 0.0,
    cued_fraction: float = 0.0,
) -> Iterator[dict]:
    """Endless stream of problems; `ops` is a string of operators drawn from `+-*`.

    `direct_fraction` of the traces skip the working (`<think> </think> <answer> 21 </answer>`):
    a base model trained on them has both habits, answering directly and working step by step,
    as pretrained models do, and RL can learn which one pays. Questions do not depend on it.
    `last_first_fraction` of the worked traces take the last term first (`7 + 5 - 3` worked as
    `7 - 3 = 4 , 4 + 5 = 9`): two correct orders, one of which may keep the intermediate value
    easier for a small model, a choice a trace makes and a verifier cannot tell apart.
    `cued_fraction` of the problems are asked with a cue to work (`Show your working. Compute 7 + 5 - 3`) and always worked: a base trained on them has the skill of working, taught under the
    cue, while under the plain `Compute` question (RL's and evaluation's) working stays as rare as
    `direct_fraction` makes it. A cued row carries `split_question`, its plain question, so that
    it falls in the same split as that question (tasks.generate_rows).
    """
    bad = set(ops) - set(OPS)
    if bad or not ops:
        raise TypeError(f"ops must be made of {''.join(OPS)}, got {ops!r}")
    if not 2 <= min_operands <= max_operands:
        raise TypeError("need 2 <= min_operands <= max_operands")
    for name, fraction in (
        ("direct_fraction", direct_fraction),
        ("last_first_fraction", last_first_fraction),
        ("cued_fraction", cued_fraction),
    ):
        if not 0.0 <= fraction <= 1.0:
            raise TypeError(f"{name} must be in [0, 1], got {fraction}")
    if last_first_fraction and set(ops) - {"+", "-"}:
        raise TypeError(f"last_first_fraction needs ops of + and - only, got {ops!r}")
    rng, style, order = random.Random(seed), random.Random(seed + 7), random.Random(seed + 11)
    cue = random.Random(seed + 13)
    while True:
        count = rng.randint(min_operands, max_operands)
        numbers = [rng.randint(0, max_value) for _ in range(count)]
        chosen = [rng.choice(ops) for _ in range(count - 1)]
        answer, steps = solve(numbers, chosen)
        expr = " ".join(
            [str(numbers[0])] + [f"{o} {n}" for o, n in zip(chosen, numbers[1:], strict=True)]
        )
        if last_first_fraction and count > 2 and order.random() < last_first_fraction:
            steps = solve(*last_first(numbers, chosen))[1]
        direct = style.random() < direct_fraction
        row = {"question": f"Compute {expr}", "solution": str(answer)}
        if cued_fraction and cue.random() < cued_fraction:
            row = {
                "question": f"Show your working. Compute {expr}",
                "split_question": row["question"],
                "solution": str(answer),
            }
            direct = False
        work = "" if direct else " , ".join(steps) + " "
        yield row | {"reasoning": f"<think> {work}</think> <answer> {answer} </answer>"}
