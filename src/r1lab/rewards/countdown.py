"""countdown (TinyZero): does the answer's equation use each given number once and hit the target?

The equation is parsed with `ast` and evaluated by walking the tree over exact fractions:
numbers, `+ - * /`, unary minus and parentheses only. Completion text is never executed.
"""

from __future__ import annotations

import ast
from collections import Counter
from fractions import Fraction
from typing import Any

from r1lab.rewards.answers import extract_answer
from r1lab.rewards.registry import Batch, Scorer, register

MAX_EQUATION_CHARS = 500
_OPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}


class Malformed(ValueError):
    """The answer is not an arithmetic expression over numbers."""


def evaluate(node: ast.AST, numbers: list[Fraction]) -> Fraction:
    """Exact value of an arithmetic tree; collects the literal numbers it uses in `numbers`."""
    if isinstance(node, ast.Expression):
        return evaluate(node.body, numbers)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        value = Fraction(node.value)
        numbers.append(value)
        return value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = evaluate(node.left, numbers), evaluate(node.right, numbers)
        if isinstance(node.op, ast.Div) and right == 0:
            raise ZeroDivisionError
        return _OPS[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = evaluate(node.operand, numbers)
        return -value if isinstance(node.op, ast.USub) else value
    raise Malformed(type(node).__name__)


def parse_equation(answer: str) -> ast.Expression:
    """The expression of `answer` (a trailing `= result` is dropped); Malformed if not one."""
    expression = answer.split("=", 1)[0].strip()
    if not expression or len(expression) > MAX_EQUATION_CHARS:
        raise Malformed("empty or too long")
    expression = expression.replace("\u00d7", "*").replace("\u00f7", "/").replace("\u2212", "-")
    try:
        tree = ast.parse(expression, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
        raise Malformed(str(err)) from None
    return tree


def countdown_score(text: str, nums: Any, target: Any) -> float:
    """1.0 solved, 0.1 an arithmetic equation that is wrong, 0.0 no equation."""
    answer = extract_answer(text)
    if answer is None:
        return 0.0
    try:
        tree = parse_equation(answer)
        used: list[Fraction] = []
        value = evaluate(tree, used)
    except ZeroDivisionError:
        return 0.1
    except (Malformed, RecursionError, OverflowError):
        return 0.0
    try:
        given = Counter(Fraction(int(n)) for n in nums)
        goal = Fraction(target)
    except (TypeError, ValueError):
        return 0.0
    return 1.0 if Counter(used) == given and value == goal else 0.1


def _columns(params: dict) -> set[str]:
    return {params.get("nums_column", "nums"), params.get("target_column", "target")}


@register("countdown", columns=_columns, verifier=True)
def countdown(nums_column: str = "nums", target_column: str = "target") -> Scorer:
    """TinyZero: 1.0 if the <answer> equation uses each number once and equals the target,
    0.1 if it is an arithmetic equation but wrong, 0.0 otherwise (never executed)."""

    def score(batch: Batch) -> list[float]:
        nums, targets = batch.column(nums_column), batch.column(target_column)
        return [
            countdown_score(t, n, g) for t, n, g in zip(batch.texts, nums, targets, strict=True)
        ]

    return score
