"""Synthetic tasks: seeded, verifiable, and train/test disjoint by construction."""

from __future__ import annotations

import ast
import operator
import re
from fractions import Fraction

import pytest

from r1lab.errors import RecipeError
from r1lab.tasks import generate_rows, make_dataset
from r1lab.tasks.split import SPLITS, split_of

BINOPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


def value(node):
    """Test-side evaluator of the generated equations (numbers and + - * / only)."""
    if isinstance(node, ast.Expression):
        return value(node.body)
    if isinstance(node, ast.BinOp):
        return BINOPS[type(node.op)](value(node.left), value(node.right))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -value(node.operand)
    assert isinstance(node, ast.Constant)
    return Fraction(node.value)


@pytest.mark.parametrize("task", ["arithmetic", "countdown"])
def test_train_and_test_are_disjoint_and_seeded(task):
    train = generate_rows(task, "train", 500, seed=1)
    test = generate_rows(task, "test", 50, seed=1)
    assert not {r["question"] for r in train} & {r["question"] for r in test}
    assert len({r["question"] for r in train}) == 500
    assert generate_rows(task, "train", 500, seed=1) == train
    assert generate_rows(task, "train", 500, seed=2) != train


def test_arithmetic_solution_is_the_value_of_the_question():
    for row in generate_rows("arithmetic", "train", 200, seed=0, max_operands=3, ops="+-*"):
        expr = row["question"].removeprefix("Compute ")
        tokens = expr.split()
        acc = int(tokens[0])
        for op, n in zip(tokens[1::2], tokens[2::2], strict=True):
            acc = {"+": operator.add, "-": operator.sub, "*": operator.mul}[op](acc, int(n))
        assert row["solution"] == str(acc)
        assert row["reasoning"].endswith(f"<answer> {acc} </answer>")


def test_countdown_reference_uses_each_number_once_and_hits_the_target():
    ds = make_dataset("countdown", "train", 200, seed=0)
    assert set(ds.column_names) == {"question", "solution", "reasoning", "nums", "target"}
    for row in ds:
        tree = ast.parse(row["solution"], mode="eval")
        used = sorted(int(n.value) for n in ast.walk(tree) if isinstance(n, ast.Constant))
        assert used == sorted(row["nums"])
        assert value(tree) == row["target"]


def test_too_small_a_task_space_says_what_to_change():
    with pytest.raises(RecipeError, match="too few distinct"):
        generate_rows("arithmetic", "test", 500, max_value=5)


def test_unknown_task_and_bad_parameter():
    with pytest.raises(RecipeError, match="unknown task"):
        generate_rows("arithmetc", "train", 5)
    with pytest.raises(RecipeError, match="bad parameter"):
        generate_rows("arithmetic", "train", 5, max_valu=3)


def test_direct_fraction_changes_only_the_trace_style():
    kw = dict(max_value=9, min_operands=3, max_operands=3)
    worked = generate_rows("arithmetic", "train", 400, seed=3, **kw)
    mixed = generate_rows("arithmetic", "train", 400, seed=3, direct_fraction=0.5, **kw)
    assert [r["question"] for r in mixed] == [r["question"] for r in worked]
    assert [r["solution"] for r in mixed] == [r["solution"] for r in worked]
    direct = [r for r in mixed if r["reasoning"].startswith("<think> </think>")]
    assert 150 < len(direct) < 250
    assert all(
        r["reasoning"] == f"<think> </think> <answer> {r['solution']} </answer>" for r in direct
    )
    assert not any(r["reasoning"].startswith("<think> </think>") for r in worked)
    with pytest.raises(RecipeError, match="direct_fraction"):
        generate_rows("arithmetic", "train", 5, direct_fraction=2.0)


def _steps(reasoning: str) -> list[tuple[int, str, int, int]]:
    found = re.findall(r"(-?\d+) ([-+]) (-?\d+) = (-?\d+)", reasoning)
    return [(int(a), op, int(b), int(c)) for a, op, b, c in found]


def test_last_first_fraction_reorders_worked_traces_into_another_correct_order():
    kw = dict(max_value=9, min_operands=3, max_operands=3, direct_fraction=0.5, seed=3)
    plain = generate_rows("arithmetic", "train", 400, **kw)
    mixed = generate_rows("arithmetic", "train", 400, last_first_fraction=0.5, **kw)
    assert [r["question"] for r in mixed] == [r["question"] for r in plain]
    # the habit of answering directly is drawn as before: the same rows answer directly
    assert [r["reasoning"].startswith("<think> </think>") for r in mixed] == [
        r["reasoning"].startswith("<think> </think>") for r in plain
    ]
    moved = 0
    for row in mixed:
        steps = _steps(row["reasoning"])
        if not steps:
            continue
        q = row["question"].split()[1:]  # a op b op c
        a, o1, b, o2, c = int(q[0]), q[1], int(q[2]), q[3], int(q[4])
        for x, op, y, z in steps:  # every step is right
            assert z == (x + y if op == "+" else x - y)
        assert steps[0][0] == a and steps[1][0] == steps[0][3]  # a chain from the first term
        assert steps[-1][3] == int(row["solution"])
        assert f"<answer> {row['solution']} </answer>" in row["reasoning"]
        if (steps[0][1], steps[0][2]) == (o2, c) and (o2, c) != (o1, b):
            assert (steps[1][1], steps[1][2]) == (o1, b)  # the last term first, then the middle
            moved += 1
    worked = sum(bool(_steps(r["reasoning"])) for r in mixed)
    assert 0.35 * worked < moved < 0.6 * worked
    assert plain == generate_rows("arithmetic", "train", 400, last_first_fraction=0.0, **kw)
    with pytest.raises(RecipeError, match="last_first_fraction"):
        generate_rows("arithmetic", "train", 5, last_first_fraction=-0.1)
    with pytest.raises(RecipeError, match="last_first_fraction needs ops of"):
        generate_rows("arithmetic", "train", 5, ops="+*", last_first_fraction=0.5)


def test_cued_fraction_asks_some_problems_with_a_cue_and_always_works_them():
    kw = dict(max_value=9, min_operands=3, max_operands=3, direct_fraction=0.9, seed=3)
    plain = generate_rows("arithmetic", "train", 400, **kw)
    cued = generate_rows("arithmetic", "train", 400, cued_fraction=0.5, **kw)
    asked = [r for r in cued if r["question"].startswith("Show your working. Compute ")]
    assert 150 < len(asked) < 250
    for row in asked:  # always worked, whatever direct_fraction says, and right
        expr = row["question"].removeprefix("Show your working. Compute ")
        steps = _steps(row["reasoning"])
        assert len(steps) == 2 and steps[0][0] == int(expr.split()[0])
        assert steps[-1][3] == int(row["solution"]) == eval(expr)
    rest = [r for r in cued if r["question"].startswith("Compute ")]
    assert len(rest) + len(asked) == len(cued)
    worked_rest = sum(bool(_steps(r["reasoning"])) for r in rest)
    assert worked_rest < 0.2 * len(rest)  # the plain question keeps direct_fraction's rare habit
    assert set(cued[0]) == {"question", "solution", "reasoning"}  # no extra column
    # a cued problem is in the split of its plain question, so no test problem is trained on
    # in another wording, and one problem is not asked twice
    for split in ("train", "test", "validation"):
        rows = generate_rows("arithmetic", split, 100, cued_fraction=0.5, **kw)
        plain_q = [r["question"].removeprefix("Show your working. ") for r in rows]
        assert all(split_of(q) == split for q in plain_q)
        assert len(set(plain_q)) == len(plain_q)
    assert plain == generate_rows("arithmetic", "train", 400, cued_fraction=0.0, **kw)
    with pytest.raises(RecipeError, match="cued_fraction"):
        generate_rows("arithmetic", "train", 5, cued_fraction=1.5)


@pytest.mark.parametrize(
    "ops, offered, not_offered",
    [
        ("+-*", ["+", "-", "*"], ["/"]),
        ("+-*/", ["+", "-", "*", "/"], []),
        ("*", ["*"], list("+-/")),
    ],
)
def test_countdown_question_offers_exactly_the_configured_ops(ops, offered, not_offered):
    rows = generate_rows("countdown", "train", 50, seed=0, ops=ops)
    for row in rows:
        listed = row["question"].split("Use ", 1)[1].split(" and each number once")[0].split()
        assert sorted(listed) == sorted(offered), row["question"]
        assert not set(not_offered) & set(listed)
        used = {op for op in "+-*/" if f" {op} " in row["solution"]}
        assert used <= set(offered), (row["solution"], ops)


def test_countdown_rejects_unknown_ops():
    with pytest.raises(RecipeError, match="ops"):
        generate_rows("countdown", "train", 5, ops="+^")


def test_validation_is_a_third_split_disjoint_from_train_and_test():
    kw = dict(max_value=9, min_operands=3, max_operands=3)
    splits = {s: generate_rows("arithmetic", s, 300, seed=0, **kw) for s in SPLITS}
    questions = {s: {r["question"] for r in rows} for s, rows in splits.items()}
    assert all(len(q) == 300 for q in questions.values())
    assert not questions["validation"] & (questions["train"] | questions["test"])
    assert not questions["train"] & questions["test"]
    assert all(split_of(q) == s for s, qs in questions.items() for q in qs)


def test_the_tiny_world_has_500_test_problems_for_a_paired_comparison():
    """r1_zero/tiny evaluates 500 test problems; the task's 4,000 chains must hold that many."""
    kw = dict(max_value=9, min_operands=3, max_operands=3)
    assert len(generate_rows("arithmetic", "test", 500, seed=0, **kw)) == 500
    with pytest.raises(RecipeError, match="too few distinct validation problems"):
        generate_rows("arithmetic", "validation", 500, seed=0, **kw)  # ~360 there


def test_a_split_is_a_function_of_the_question_text_alone():
    counts = {s: 0 for s in SPLITS}
    for i in range(2000):
        counts[split_of(f"Compute {i}")] += 1
    assert split_of("Compute 7 + 5 - 3") == split_of("Compute 7 + 5 - 3")
    # two buckets in ten for test, one for validation, seven for train (binomial, +- 4 s.d.)
    assert abs(counts["test"] - 400) < 72 and abs(counts["validation"] - 200) < 54
    with pytest.raises(RecipeError, match="task split must be one of test, validation, train"):
        generate_rows("arithmetic", "dev", 5)
