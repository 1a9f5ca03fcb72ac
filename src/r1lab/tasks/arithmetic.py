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


def sample(
    seed: int = 0,
    max_value: int = 99,
    min_operands: int = 2,
    max_operands: int = 2,
    ops: str = "+-",
) -> Iterator[dict]:
    """Endless stream of problems; `ops` is a string of operators drawn from `+-*`."""
    bad = set(ops) - set(OPS)
    if bad or not ops:
        raise TypeError(f"ops must be made of {''.join(OPS)}, got {ops!r}")
    if not 2 <= min_operands <= max_operands:
        raise TypeError("need 2 <= min_operands <= max_operands")
    rng = random.Random(seed)
    while True:
        count = rng.randint(min_operands, max_operands)
        numbers = [rng.randint(0, max_value) for _ in range(count)]
        chosen = [rng.choice(ops) for _ in range(count - 1)]
        answer, steps = solve(numbers, chosen)
        expr = " ".join(
            [str(numbers[0])] + [f"{o} {n}" for o, n in zip(chosen, numbers[1:], strict=True)]
        )
        yield {
            "question": f"Compute {expr}",
            "solution": str(answer),
            "reasoning": f"<think> {' , '.join(steps)} </think> <answer> {answer} </answer>",
        }
