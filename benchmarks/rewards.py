"""Accuracy reward vs plain sequential math-verify, on the same 2,048 mixed completions.

    .venv/bin/python benchmarks/rewards.py [--n 2048] [--group 16] [--seed 0]

Baseline: what a reward does without r1lab, one process, one completion after another:
`verify(parse(reference), parse(answer))` with math-verify's own (main-thread) timeouts, on the
same extracted answer and with the reference wrapped in `$...$` so that bare LaTeX parses at all.
r1lab: `get_reward("accuracy")` (exact plain-number fast path, one check per distinct
(answer, reference) pair, math-verify in a persistent pool of worker processes). Both must agree
on every completion; the script fails if they do not.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from math_verify import parse, verify  # noqa: E402

from r1lab.rewards import get_reward  # noqa: E402
from r1lab.rewards.answers import extract_answer  # noqa: E402
from r1lab.rewards.verify import shared_pool  # noqa: E402

Problem = tuple[str, list[str], list[str]]  # reference as datasets write it, right, wrong answers


def problem(rng: random.Random) -> Problem:
    """A random MATH-style problem: its reference, equivalent answers and wrong answers."""
    a, b = rng.randint(2, 60), rng.randint(2, 9)
    kind = rng.randrange(9)
    if kind == 0:  # integers, as in GSM8K and the tiny world
        n = rng.randint(-500, 500)
        return str(n), [str(n), f"{n}.0", f"\\frac{{{2 * n}}}{{2}}"], [str(n + 1), str(-n - 1)]
    if kind == 1:
        a = a if a % b else a + 1
        return (
            f"\\frac{{{a}}}{{{b}}}",
            [f"\\frac{{{a}}}{{{b}}}", f"\\dfrac{{{2 * a}}}{{{2 * b}}}", f"{a}/{b}"],
            [f"\\frac{{{b}}}{{{a}}}", f"\\frac{{{a + 1}}}{{{b}}}"],
        )
    if kind == 2:  # bare LaTeX that math-verify only parses inside $...$
        m = rng.choice([2, 3, 5, 6, 7, 10])
        return (
            f"\\sqrt{{{b * b * m}}}",
            [f"{b}\\sqrt{{{m}}}"],
            [f"{b + 1}\\sqrt{{{m}}}", str(b * m)],
        )
    if kind == 3:
        return (
            f"\\{{{a},{a + b}\\}}",
            [f"\\{{{a + b}, {a}\\}}", f"\\{{{a},{a + b}\\}}"],
            [f"\\{{{a},{a + b + 1}\\}}"],
        )
    if kind == 4:
        return f"[{a},{a + b})", [f"[{a}, {a + b})"], [f"({a},{a + b})", f"[{a},{a + b}]"]
    if kind == 5:
        return f"x^2+{2 * b}x+{b * b}", [f"(x+{b})^2"], [f"(x-{b})^2", f"x^2+{b * b}"]
    if kind == 6:
        return (
            f"\\frac{{{a}\\pi}}{{{b}}}",
            [f"\\frac{{{a}}}{{{b}}}\\pi"],
            [f"\\frac{{{b}\\pi}}{{{a}}}"],
        )
    if kind == 7:
        return f"{a}.{b}", [f"{a}.{b}", f"{a}.{b}0"], [f"{a}.{b + 1}", f"{b}.{a}"]
    return f"x={a}", [str(a), f"x={a}"], [f"x={a + 1}", f"-{a}"]


def completion(answer: str | None, rng: random.Random) -> str:
    thought = " ".join(
        rng.choice(["so", "then", "we", "compute", "check", "x", "="]) for _ in range(40)
    )
    if answer is None:
        return f"<think> {thought} </think> I am not sure."
    if rng.random() < 0.5:
        return f"<think> {thought} </think> <answer> {answer} </answer>"
    return f"<think> {thought} </think> <answer> The answer is $\\boxed{{{answer}}}$ </answer>"


def make_batch(n: int, group: int, seed: int) -> tuple[list[str], list[str]]:
    """`n` completions in GRPO groups of `group` per problem, about 55% correct."""
    rng = random.Random(seed)
    completions, references = [], []
    while len(completions) < n:
        reference, right, wrong = problem(rng)
        for _ in range(group):
            roll = rng.random()
            answer = (
                rng.choice(right) if roll < 0.55 else rng.choice(wrong) if roll < 0.95 else None
            )
            completions.append(completion(answer, rng))
            references.append(reference)
    return completions[:n], references[:n]


def baseline(completions: list[str], references: list[str]) -> list[float]:
    """Plain sequential math-verify: parse both sides, verify, one completion at a time."""
    out = []
    for text, reference in zip(completions, references, strict=True):
        answer = extract_answer(text)
        if answer is None:
            out.append(0.0)
            continue
        gold = parse(f"${reference}$")
        guess = parse(answer if "$" in answer else f"${answer}$")
        out.append(float(verify(gold, guess)))
    return out


def timed(fn):
    """(wall seconds, result) of one call."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2048)
    parser.add_argument("--group", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; each figure is the best")
    args = parser.parse_args()

    completions, references = make_batch(args.n, args.group, args.seed)
    reward = get_reward("accuracy")
    cores = len(os.sched_getaffinity(0))
    # The pool alone: every pair through math-verify, no exact fast path, no de-duplication.
    pairs = [(extract_answer(c), r) for c, r in zip(completions, references, strict=True)]

    start = time.perf_counter()
    shared_pool().check([("1", "\\frac{2}{2}")])  # start the workers (once per process)
    startup = time.perf_counter() - start

    base, ours, pool = [], [], []
    # Interleaved rounds, so outside load hits all three alike; each figure is its fastest round.
    for _ in range(args.repeat):
        base_s, expected = timed(lambda: baseline(completions, references))
        ours_s, got = timed(lambda: reward(completions, solution=references))
        pool_s, _ = timed(lambda: shared_pool().check(pairs))
        base.append(base_s)
        ours.append(ours_s)
        pool.append(pool_s)
    base_s, ours_s, pool_s = min(base), min(ours), min(pool)

    mismatches = [i for i, (a, b) in enumerate(zip(expected, got, strict=True)) if a != b]
    print(
        f"{args.n} completions, {len(set(references))} references, groups of {args.group}, "
        f"{cores} cores, {shared_pool().size} workers (started in {startup:.2f} s), "
        f"best of {args.repeat}, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"  sequential math-verify:       {base_s:6.2f} s  ({args.n / base_s:5.0f} /s)")
    print(f"  r1lab accuracy reward:        {ours_s:6.2f} s  ({args.n / ours_s:5.0f} /s)")
    print(f"  r1lab worker pool, all pairs: {pool_s:6.2f} s  ({args.n / pool_s:5.0f} /s)")
    judged = [g for g in got if g is not None]
    print(
        f"  accuracy {sum(judged) / max(1, len(judged)):.3f} over {len(judged)} judged; "
        f"disagreements with the baseline: {len(mismatches)}"
    )
    print(f"speedup: {base_s / ours_s:.2f}x  (worker pool alone: {base_s / pool_s:.2f}x)")
    if mismatches:
        i = mismatches[0]
        sys.exit(f"disagreement at {i}: {references[i]!r} {completions[i][-80:]!r}")


if __name__ == "__main__":
    main()
