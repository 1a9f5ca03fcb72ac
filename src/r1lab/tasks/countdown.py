"""TinyZero's countdown: combine the given numbers with the allowed operations to reach the target.

Problems are drawn by building a random expression over all the numbers, so every problem has at
least one exact solution; that solution is the reference (`solution`) and the worked trace.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from fractions import Fraction

OPS = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b if b else None,
}


def sample(
    seed: int = 0,
    count: int = 3,
    max_num: int = 20,
    max_target: int = 100,
    ops: str = "+-*",
) -> Iterator[dict]:
    """Endless stream of problems with `count` numbers in [1, max_num] and a target in [1, max_target].

    `ops` (a string of `+-*/`) is both what the generator may use and what the question offers,
    so a problem never invites an operation its task was configured without.
    """
    if count < 2 or max_num < 1:
        raise TypeError("need count >= 2 and max_num >= 1")
    bad = set(ops) - set(OPS)
    if bad or not ops:
        raise TypeError(f"ops must be made of {''.join(OPS)}, got {ops!r}")
    offered = " ".join(op for op in OPS if op in ops)
    rng = random.Random(seed)
    while True:
        nums = [rng.randint(1, max_num) for _ in range(count)]
        order = nums[:]
        rng.shuffle(order)
        value, expr, steps = Fraction(order[0]), str(order[0]), []
        ok = True
        for n in order[1:]:
            op = rng.choice(ops)
            new = OPS[op](value, Fraction(n))
            if new is None:
                ok = False
                break
            steps.append(f"{_fmt(value)} {op} {n} = {_fmt(new)}")
            expr = f"( {expr} ) {op} {n}" if " " in expr else f"{expr} {op} {n}"
            value = new
        if not ok or value.denominator != 1 or not 1 <= value <= max_target:
            continue
        target = int(value)
        yield {
            "question": f"Using the numbers {' '.join(map(str, nums))} , make {target} . "
            f"Use {offered} and each number once",
            "solution": expr,
            "reasoning": f"<think> {' , '.join(steps)} </think> <answer> {expr} </answer>",
            "nums": nums,
            "target": target,
        }


def _fmt(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"
