"""Bounded time and no exceptions: pathological inputs, threads, stuck workers, arbitrary text."""

from __future__ import annotations

import math
import os
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from r1lab.rewards import get_reward, reward_names, verify
from r1lab.rewards.verify import CORRECT, ERROR, TIMEOUT, WRONG, VerifierPool

LIMIT = 1.0  # seconds per completion in these tests
SLACK = 3.0  # generous: process start-up and a loaded 2-core machine

PATHOLOGICAL = [
    "\\boxed{9^{9^{9^{9}}}}",
    "<answer>" + "{" * 5000 + "</answer>",
    "\\boxed{" * 5000,
    "<answer>" + "1+" * 500_000 + "1</answer>",  # a megabyte
    "x" * 1_000_000,
    "<think>" + "Step 1: " * 100_000 + "</think>",
]


def reward_for(name):
    params = {
        "accuracy": {"time_limit": LIMIT},
        "length": {"time_limit": LIMIT},
        "cosine": {"time_limit": LIMIT},
        "soft_overlong": {"max_length": 64},
        "code": {"cpu_seconds": 1, "wall_seconds": 2},
    }.get(name, {})
    return get_reward(name, **params)


COLUMNS = {
    "solution": "5",
    "answer": "B",
    "nums": [1, 2, 3],
    "target": 6,
    "test_cases": [{"input": "", "output": "1"}],
}


def call(name, texts, **overrides):
    n = len(texts)
    columns = {k: [overrides.get(k, v)] * n for k, v in COLUMNS.items()}
    return reward_for(name)(texts, prompts=["p"] * n, **columns)


@pytest.mark.parametrize("text", PATHOLOGICAL, ids=range(len(PATHOLOGICAL)))
def test_pathological_accuracy_is_zero_within_the_limit(text):
    start = time.monotonic()
    assert call("accuracy", [text]) == [0.0]
    assert time.monotonic() - start < LIMIT + SLACK


def test_pathological_reference_is_bounded_too():
    start = time.monotonic()
    out = call("accuracy", ["<answer>5</answer>"], solution="9^{9^{9^{9}}}")
    assert out[0] in (0.0, None)
    assert time.monotonic() - start < LIMIT + SLACK


@pytest.mark.parametrize("name", [n for n in reward_names() if n != "code"])
def test_every_reward_survives_pathological_text_quickly(name):
    start = time.monotonic()
    out = call(name, PATHOLOGICAL)
    assert len(out) == len(PATHOLOGICAL)
    assert all(v is None or math.isfinite(v) for v in out)
    assert time.monotonic() - start < len(PATHOLOGICAL) * LIMIT + 2 * SLACK


@pytest.mark.timeout(60)
def test_time_limit_holds_outside_the_main_thread():
    """math-verify's signal.alarm raises off the main thread; TRL's async rewards run there."""
    results, errors = [], []

    def work():
        try:
            start = time.monotonic()
            out = call("accuracy", ["\\boxed{9^{9^{9^{9}}}}", "<answer>5</answer>", "\\boxed{5.0}"])
            results.append((out, time.monotonic() - start))
        except BaseException as err:  # noqa: BLE001  the point is that nothing escapes
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    for out, elapsed in results:
        assert out == [0.0, 1.0, 1.0]
        assert elapsed < 2 * (LIMIT + SLACK)  # two threads share one pool
    assert len(results) == 2


# ---- the math-verify pool: workers replaced, pairs never lost ----------------------------------

SLOW_S = 0.8  # how long a scripted worker sleeps before checking "SLOW<answer>"


def _scripted_boot(starts: Path, plan: str) -> str:
    """A worker boot that records each start in the folder `starts` and acts by its start number
    (1-based) as `plan` says, one letter per start; starts past the plan are normal workers.
    e: exits before it is ready. m: mute, never says ready. d: deaf, closes its stdin, then says
    ready. A normal worker spins in C code on the answer "HANG" (no signal handler can run there),
    dies on "DIE", and sleeps SLOW_S before checking "SLOW<answer>"."""
    return textwrap.dedent(
        f"""
        import importlib.util as u, os, sys, time
        n = 1
        while True:  # an atomic start number, even when two workers start at once
            try:
                os.close(os.open(os.path.join({str(starts)!r}, str(n)), os.O_CREAT | os.O_EXCL))
                break
            except FileExistsError:
                n += 1
        act = {plan!r}[n - 1] if n <= {len(plan)} else "."
        if act == "e":
            os._exit(1)
        if act == "m":
            time.sleep(600)
        s = u.spec_from_file_location("w", sys.argv[1])
        m = u.module_from_spec(s)
        s.loader.exec_module(m)
        if act == "d":
            os.close(0)
            m.write_frame(1, "ready")
            time.sleep(600)
        real = m.check
        def check(answer, reference):
            if answer == "HANG":
                sum(range(10**12))
            if answer == "DIE":
                os._exit(3)
            if isinstance(answer, str) and answer.startswith("SLOW"):
                time.sleep({SLOW_S})
                answer = answer[4:]
            return real(answer, reference)
        m.check = check
        m.main()
        """
    )


@contextmanager
def scripted_pool(
    tmp_path: Path, plan: str = "", size: int = 1
) -> Iterator[tuple[VerifierPool, Callable[[], int]]]:
    """A pool whose workers follow `plan` (see _scripted_boot), and a function that counts the
    workers started so far; the pool is closed afterwards."""
    starts = tmp_path / "starts"
    starts.mkdir()
    pool = VerifierPool(size)
    pool.boot = _scripted_boot(starts, plan)
    try:
        yield pool, lambda: len(list(starts.iterdir()))
    finally:
        pool.close()


def run_in_fork(work: Callable[[], bool], limit: float = 60) -> int:
    """Exit code of `work()` run in a forked child: 0 when it returned True.

    A child forked from a process holding torch's and the pool's threads can deadlock on a lock
    one of them held: wait a bounded time, then kill it, so that a deadlock fails, never hangs."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1  # also when work() raises
        try:
            code = 0 if work() else 1
        finally:
            os._exit(code)
    deadline = time.monotonic() + limit
    while (status := os.waitpid(pid, os.WNOHANG))[0] == 0:
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail(f"the forked child did not finish within {limit} s (killed)")
        time.sleep(0.05)
    return os.waitstatus_to_exitcode(status[1])


@pytest.mark.timeout(60)
def test_stuck_worker_is_killed_and_replaced(tmp_path):
    with scripted_pool(tmp_path) as (pool, started):
        pool.check([("1", "1")])  # started
        start = time.time()
        out = pool.check(
            [("HANG", "\\frac{1}{1}"), ("\\frac12", "0.5"), ("3", "x")], time_limit=LIMIT
        )
        assert out == [TIMEOUT, CORRECT, WRONG]
        # killed at the limit: the replacement's first act (its start file) comes within the
        # limit plus a process start. Not the batch's end, which also waits for the replacement
        # to import math-verify: seconds more on a loaded machine, and not what this test is about
        replaced_at = (tmp_path / "starts" / "2").stat().st_mtime
        assert replaced_at - start < LIMIT + SLACK
        assert pool.check([("2", "\\sqrt{4}")]) == [CORRECT]  # the replacement works
        assert started() == 2


@pytest.mark.timeout(60)
def test_dead_worker_does_not_lose_the_batch(tmp_path):
    with scripted_pool(tmp_path) as (pool, _):
        out = pool.check([("DIE", "1"), ("\\frac{2}{2}", "1")], time_limit=LIMIT)
        assert out == [ERROR, CORRECT]


@pytest.mark.timeout(60)
def test_worker_that_dies_before_starting_is_replaced_without_losing_a_pair(tmp_path):
    with scripted_pool(tmp_path, plan="e") as (pool, started):
        assert pool.check([("\\frac12", "0.5"), ("2", "\\sqrt{4}")]) == [CORRECT, CORRECT]
        assert started() == 2
        pool.close()
        assert pool.check([("3", "\\sqrt{9}")]) == [CORRECT]  # a closed pool starts again
        assert started() == 3


@pytest.mark.timeout(60)
def test_workers_that_keep_dying_at_start_are_an_error_after_three(tmp_path):
    with scripted_pool(tmp_path, plan="eeeeee") as (pool, started):
        with pytest.raises(RuntimeError) as err:
            pool.check([("1", "\\sqrt{1}")])
        assert started() == 3
        message = str(err.value)
        assert message.startswith("math-verify worker processes keep dying before they start")
        assert "_mvworker.py" in message  # the command that shows why


@pytest.mark.timeout(60)
def test_failed_starts_count_only_in_a_row(tmp_path):
    """Two failed starts, a worker that runs (and later dies on a pair), two more failed starts:
    never three in a row, so the pool goes on and the pair after it is checked."""
    with scripted_pool(tmp_path, plan="ee.ee") as (pool, started):
        assert pool.check([("DIE", "1"), ("2", "\\sqrt{4}")]) == [ERROR, CORRECT]
        assert started() == 6


@pytest.mark.timeout(60)
def test_worker_that_never_gets_ready_is_replaced_after_the_startup_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(verify, "_STARTUP_LIMIT", 1.0)
    with scripted_pool(tmp_path, plan="mmm") as (pool, started):
        with pytest.raises(RuntimeError, match="keep dying before they start"):
            pool.check([("1", "\\sqrt{1}")])
        assert started() == 3


@pytest.mark.timeout(60)
def test_a_worker_still_starting_does_not_delay_another_workers_time_limit(tmp_path):
    """One of two workers never gets ready (120 s start-up limit); the other hangs on a pair:
    that pair is cut off after the time limit, not when the silent worker's start-up runs out."""
    with scripted_pool(tmp_path, plan="m", size=2) as (pool, _):
        start = time.monotonic()
        out = pool.check([("HANG", "1"), ("2", "\\sqrt{4}")], time_limit=LIMIT)
        assert out == [TIMEOUT, CORRECT]
        assert time.monotonic() - start < 30  # the mute worker's start-up limit is 120 s


@pytest.mark.timeout(60)
def test_pairs_sent_to_a_worker_that_stopped_reading_go_to_its_replacement(tmp_path):
    with scripted_pool(tmp_path, plan="d") as (pool, started):
        out = pool.check([("\\frac12", "0.5"), ("2", "\\sqrt{4}")], time_limit=LIMIT)
        assert out == [CORRECT, CORRECT]
        assert started() == 2


@pytest.mark.timeout(60)
def test_each_pair_of_a_chunk_gets_the_whole_time_limit(tmp_path):
    """Pairs go to a worker in chunks (here 3 of 6); the limit runs from the previous result,
    so a chunk that takes longer than the limit in all (3 x 0.8 s > 2 s) loses nothing."""
    with scripted_pool(tmp_path) as (pool, started):
        out = pool.check([("SLOW2", "\\sqrt{4}")] * 6, time_limit=2.0)
        assert out == [CORRECT] * 6
        assert started() == 1  # never killed


@pytest.mark.timeout(120)
def test_a_pool_used_in_a_forked_child_starts_its_own_workers(tmp_path):
    """The child gets workers of its own (sharing the parent's pipes would mix up answers), and
    the parent's pool goes on with the worker it had."""
    with scripted_pool(tmp_path) as (pool, started):
        assert pool.check([("1", "\\sqrt{1}")]) == [CORRECT]
        assert run_in_fork(lambda: pool.check([("2", "\\sqrt{4}")]) == [CORRECT]) == 0
        assert started() == 2
        assert pool.check([("3", "\\sqrt{9}")]) == [CORRECT]
        assert started() == 2  # the parent's worker, kept between calls


# ---- property tests: any text, any reward: a list of finite floats (or None), no exception ----

_PIECES = [
    *"<think> </think> <answer> </answer> \\boxed{ } { $ \\frac{1}{2} 12 -3.5 Step".split(),
    *["Step 1:", " ", "\n", "```python\n", "```", "print(1)", "(", ")", "+", "*", "/", "="],
    *["好", "é", "\x00", "\\", "1:"],
]
_TEXT = st.one_of(
    st.text(max_size=300), st.lists(st.sampled_from(_PIECES), max_size=40).map("".join)
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    texts=st.lists(_TEXT, min_size=1, max_size=4),
    name=st.sampled_from([n for n in reward_names() if n != "code"]),
)
def test_no_reward_raises_or_returns_non_finite(texts, name):
    out = call(name, texts)
    assert len(out) == len(texts)
    for value in out:
        assert value is None or (isinstance(value, float) and math.isfinite(value))
    if name not in ("accuracy", "length", "cosine"):
        assert None not in out


@settings(max_examples=15, deadline=None)
@given(texts=st.lists(_TEXT, min_size=1, max_size=2))
def test_code_reward_never_raises(texts):
    out = call("code", ["```python\n" + t + "\n```" for t in texts] + texts)
    assert all(v is not None and 0.0 <= v <= 1.0 for v in out)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(max_size=30), min_size=1, max_size=3), st.lists(st.integers(), max_size=4))
def test_countdown_odd_columns(texts, nums):
    out = get_reward("countdown")(texts, nums=[nums] * len(texts), target=[7] * len(texts))
    assert all(v in (0.0, 0.1, 1.0) for v in out)


@pytest.mark.timeout(120)
def test_forked_child_gets_its_own_pool():
    from r1lab.rewards.verify import judge, shared_pool

    assert judge(["\\frac{1}{2}"], ["0.5"]) == [CORRECT]  # the parent's pool is running
    parent_pool = shared_pool()

    def child() -> bool:
        return (
            judge(["2\\sqrt{3}"], ["\\sqrt{12}"]) == [CORRECT] and shared_pool() is not parent_pool
        )

    assert run_in_fork(child) == 0
    assert judge(["\\frac{1}{3}"], ["0.5"]) == [WRONG]  # and the parent's still works


@pytest.mark.timeout(60)
def test_accuracy_logs_the_fraction_of_checks_cut_off_by_the_time_limit(monkeypatch, tmp_path):
    """`rewards/accuracy/timeout_frac` tells a run that its accuracy is limited by time: 1 of 3
    checks cut off is 1/3, a lone one cut off is 1.0; the cut-off sample scores 0.0."""
    reward = get_reward("accuracy", time_limit=LIMIT)
    with scripted_pool(tmp_path) as (pool, _):
        monkeypatch.setattr(verify, "_POOL", pool)
        for texts, refs, want, frac in [
            (
                [
                    "<answer>HANG</answer>",
                    "<answer>\\sqrt{4}</answer>",
                    "<answer>\\sqrt{9}</answer>",
                ],
                ["1", "2", "2"],
                [0.0, 1.0, 0.0],
                1 / 3,
            ),
            (["<answer>HANG</answer>"], ["1"], [0.0], 1.0),
        ]:
            logged = {}
            out = reward(
                prompts=["p"] * len(texts),
                completions=texts,
                solution=refs,
                log_metric=logged.__setitem__,
            )
            assert out == want
            assert logged["rewards/accuracy/timeout_frac"] == pytest.approx(frac)


@pytest.mark.parametrize(
    ("workers_env", "cores", "local_ranks", "want"),
    [
        ("3", 8, "4", 3),  # R1LAB_REWARD_WORKERS wins
        ("0", 8, None, 1),  # at least one
        (None, 8, "4", 2),  # this rank's share of the cores
        (None, 8, "3", 2),  # whole workers, rounded down
        (None, 7, None, 7),  # a single process: every core
        (None, 2, "8", 1),  # more ranks than cores: still one
        (None, None, None, 1),  # the core count unknown
    ],
)
def test_verifier_pool_size_is_this_ranks_share_of_the_cores(
    monkeypatch, workers_env, cores, local_ranks, want
):
    """Each training rank starts its own math-verify pool: together they use the node's cores
    once, not once per rank; R1LAB_REWARD_WORKERS overrides."""
    for name, value in [("R1LAB_REWARD_WORKERS", workers_env), ("LOCAL_WORLD_SIZE", local_ranks)]:
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    monkeypatch.delattr(verify.os, "sched_getaffinity", raising=False)  # the portable path
    monkeypatch.setattr(verify.os, "cpu_count", lambda: cores)
    assert verify.default_workers() == want
