"""Evaluation metrics from saved per-sample results, so that any number can be recomputed.

Every metric here reads one row per sample (`prompt_id`, `correct` 0/1, the extracted `answer`,
`completion_tokens`, `finish_reason`, `format`) and never generates:

- pass@1: mean over problems of (correct samples / samples), with its standard error over
  problems (std of the per-problem means, ddof 1, over sqrt(problems));
- pass@k for every k <= n: the unbiased estimator 1 - C(n-c, k) / C(n, k) (Chen et al. 2021);
- solved: a sample is correct only at the verifier's full marks (`solved`): partial credit
  (countdown's 0.1 for a well-formed wrong equation, a share of code tests) is a training signal,
  never a pass;
- maj@k (the paper's cons@k): the answer most samples give wins, where answers that are mathematically equal
  (math-verify: `1/2`, `0.5`, `\\frac{1}{2}`) are one answer. Ties go to the answer given first
  (lowest sample index); samples with no answer do not vote; a problem with no answer at all
  scores 0. The winner is correct when its first sample is;
- mean completion tokens, the share of truncated samples (finish_reason `length`), format rate.

A problem with fewer samples than asked is an error that names it: dividing by the samples asked
for would silently shrink pass@1 (open-r1 #655), dividing by those present would hide the loss.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from r1lab.errors import RecipeError

# Given (earlier answer, later answer) pairs, whether each pair is one answer.
SameAnswers = Callable[[list[tuple[str, str]]], list[bool]]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn without replacement from n, of which c
    are correct, is correct: 1 - C(n-c, k) / C(n, k). n=10, c=3, k=5 gives 11/12."""
    if not (0 <= c <= n and 1 <= k <= n):
        raise ValueError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def solved(value: float | None) -> bool:
    """The one definition of a solved sample: the verifier's full marks (1.0). Partial credit
    and an unjudgeable sample (None) are not solved."""
    return value is not None and value >= 1.0


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def standard_error(values: Sequence[float]) -> float:
    """Standard error of the mean of `values` (sample std, ddof 1); 0 for a single value."""
    n = len(values)
    if n < 2:
        return 0.0
    m = mean(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1) / n)


def paired_difference(better: dict[Any, float], worse: dict[Any, float]) -> tuple[float, float]:
    """(mean, standard error) of the per-problem differences `better - worse`.

    Two models scored on the same problems differ far less than their two standard errors
    suggest (an easy problem is easy for both), so a comparison is paired: the s.e. of a
    difference is that of the per-problem differences. The problem sets must be the same.
    """
    if set(better) != set(worse):
        only = sorted(map(str, set(better) ^ set(worse)))
        raise RecipeError(
            f"a paired comparison needs the same problems on both sides; {len(only)} problem(s) "
            f"are on one side only (e.g. {only[0]!r}): evaluate both models on the same split"
        )
    diffs = [better[key] - worse[key] for key in better]
    return mean(diffs), standard_error(diffs)


def exact_same(pairs: list[tuple[str, str]]) -> list[bool]:
    """Equal after collapsing whitespace (letters, equations, anything not math)."""
    return [" ".join(a.split()) == " ".join(b.split()) for a, b in pairs]


def math_same(pairs: list[tuple[str, str]]) -> list[bool]:
    """Mathematically equal by math-verify (exact for simple rationals), in time-bounded workers."""
    from r1lab.rewards.verify import CORRECT, judge

    if not pairs:
        return []
    outcomes = judge([b for _, b in pairs], [a for a, _ in pairs])
    return [o == CORRECT for o in outcomes]


def answer_classes(answers: Sequence[str | None], same: SameAnswers) -> list[int | None]:
    """Per sample, the index of the first sample whose answer it equals (None: no answer)."""
    distinct: dict[str, int] = {}  # answer text (whitespace collapsed) -> first sample with it
    for i, answer in enumerate(answers):
        if answer is not None and answer.strip():
            distinct.setdefault(" ".join(answer.split()), i)
    texts = list(distinct)
    indices = [(a, b) for a in range(len(texts)) for b in range(a + 1, len(texts))]
    parent = list(range(len(texts)))

    def root(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for (a, b), equal in zip(
        indices, same([(texts[a], texts[b]) for a, b in indices]), strict=True
    ):
        if equal:
            ra, rb = root(a), root(b)
            parent[max(ra, rb)] = min(ra, rb)  # the class keeps its earliest answer
    first = {text: distinct[texts[root(j)]] for j, text in enumerate(texts)}
    return [first[" ".join(a.split())] if a is not None and a.strip() else None for a in answers]


def maj_at_k(
    answers: Sequence[str | None], correct: Sequence[float], same: SameAnswers = math_same
) -> float:
    """1.0 if the majority answer (equal answers pooled, ties to the first given) is correct."""
    return votes_by_k(answers, correct, [len(answers)], same)[len(answers)]


def votes_by_k(
    answers: Sequence[str | None],
    correct: Sequence[float],
    ks: Sequence[int],
    same: SameAnswers = math_same,
) -> dict[int, float]:
    """maj@j of one problem for each j in `ks`: the vote among its first j samples (samples are
    drawn independently, so the first j are as good as any j), answers pooled into the classes
    that all its samples form (one round of `same`)."""
    classes = answer_classes(answers, same)
    out: dict[int, float] = {}
    for j in ks:
        votes: dict[int, int] = {}
        for c in classes[:j]:
            if c is not None:
                votes[c] = votes.get(c, 0) + 1
        if not votes:
            out[j] = 0.0
            continue
        top = max(votes.values())
        winner = min(c for c, v in votes.items() if v == top)  # the class seen first
        out[j] = float(correct[winner])
    return out


def group_by_problem(rows: Sequence[dict[str, Any]]) -> dict[Any, list[dict[str, Any]]]:
    """Samples per prompt_id, each problem's in sample order."""
    problems: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        problems.setdefault(row["prompt_id"], []).append(row)
    for samples in problems.values():
        samples.sort(key=lambda r: r.get("sample", 0))
    return problems


def require_samples(problems: dict[Any, list[dict[str, Any]]], k: int, expected: int) -> None:
    """Every one of `expected` problems has samples 0..k-1, none refused by the server; else an
    error naming the problems."""
    refused = [
        pid for pid, s in problems.items() if any(r.get("finish_reason") == "error" for r in s)
    ]
    if refused:
        raise RecipeError(
            f"the server refused samples of {len(refused)} problem(s) (e.g. problem {refused[0]}; "
            "finish_reason 'error', an empty completion): scoring them wrong would lower pass@1 "
            "silently. Usually prompt + max_new_tokens is over the served context: lower "
            "generate.max_new_tokens, then delete the shards holding them (samples/) and rerun"
        )
    short = {
        pid: len(s)
        for pid, s in problems.items()
        if sorted(r.get("sample", 0) for r in s) != list(range(k))
    }
    missing = expected - len(problems)
    if short or missing:
        listed = ", ".join(f"problem {pid}: {n}" for pid, n in list(short.items())[:5])
        wrong = [f"{len(short)} problem(s) have another count ({listed})"] if short else []
        wrong += [f"{missing} problem(s) have none"] if missing > 0 else []
        raise RecipeError(
            f"asked for {k} samples of each of {expected} problems, but {' and '.join(wrong)}: "
            "pass@1 over fewer samples than asked would be silently wrong. Rerun the same "
            "command to generate the missing shards; a shard short of samples must be deleted "
            "(samples/shard-*.parquet holding those problems) before the rerun"
        )


def summarize(
    rows: Sequence[dict[str, Any]],
    k: int,
    expected: int,
    same: SameAnswers | None = math_same,
) -> dict[str, Any]:
    """Every metric of one benchmark from its per-sample rows; `same=None`: no maj@k (code).
    `per_problem` holds each problem's correct samples, pass@1 and vote, for paired comparisons;
    `scaling` pass@j and maj@j (the vote of the first j samples) for each j of `shown_ks(k)`."""
    problems = group_by_problem(rows)
    require_samples(problems, k, expected)
    ordered = [problems[pid] for pid in sorted(problems)]
    correct = [[float(s["correct"]) for s in samples] for samples in ordered]
    per_problem = [mean(c) for c in correct]
    flat = [s for samples in ordered for s in samples]
    out: dict[str, Any] = {
        "problems": len(ordered),
        "k": k,
        "pass@1": mean(per_problem),
        "pass@1_stderr": standard_error(per_problem),
    }
    ks = shown_ks(k)
    by_k = (  # per problem, the vote of its first j samples for each shown j (one round of `same`)
        [
            votes_by_k([s["answer"] for s in samples], c, ks, same)
            for samples, c in zip(ordered, correct, strict=True)
        ]
        if same is not None
        else None
    )
    votes = [v[k] for v in by_k] if by_k is not None else None
    if votes is not None:
        out[f"maj@{k}"] = mean(votes)
    out["pass@k"] = {
        j: mean([pass_at_k(k, int(sum(c)), j) for c in correct]) for j in range(1, k + 1)
    }
    # inference-time scaling from the saved samples: pass@j and maj@j against j samples
    out["scaling"] = [
        {
            "k": j,
            "pass@1": out["pass@1"],
            "pass@k": out["pass@k"][j],
            **({"maj@k": mean([v[j] for v in by_k])} if by_k is not None else {}),
        }
        for j in ks
    ]
    out["mean_completion_tokens"] = mean([float(s["completion_tokens"]) for s in flat])
    out["truncated"] = mean([float(s["finish_reason"] == "length") for s in flat])
    if all("format" in s for s in flat):
        out["format"] = mean([float(s["format"]) for s in flat])
    out["per_problem"] = [
        {
            "prompt_id": samples[0]["prompt_id"],
            "correct": int(sum(c)),
            "samples": len(c),
            "pass@1": per_problem[i],
            **({f"maj@{k}": votes[i]} if votes is not None else {}),
        }
        for i, (samples, c) in enumerate(zip(ordered, correct, strict=True))
    ]
    return out


def shown_ks(k: int) -> list[int]:
    """The pass@k columns worth a table: powers of two below k, and k."""
    ks = [j for j in (1, 2, 4, 8, 16, 32, 64, 128) if j < k]
    return [*ks, k]
