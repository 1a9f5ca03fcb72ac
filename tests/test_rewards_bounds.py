"""Bounded time and no exceptions: pathological inputs, threads, stuck workers, arbitrary text."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from r1lab.rewards import get_reward, reward_names, verify
from r1lab.rewards.verify import CORRECT, TIMEOUT, WRONG, VerifierPool

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


# A worker whose check for "HANG" spins inside C code, where no signal handler can run.
_HANGING_BOOT = (
    "import importlib.util as u, sys; s = u.spec_from_file_location('w', sys.argv[1]); "
    "m = u.module_from_spec(s); s.loader.exec_module(m); real = m.check; "
    "m.check = lambda a, r: sum(range(10**12)) if a == 'HANG' else real(a, r); m.main()"
)


@contextmanager
def one_worker_pool(boot: str) -> Iterator[VerifierPool]:
    """A one-worker pool whose workers start with `boot` (one that hangs, dies, ...), closed after."""
    pool = VerifierPool(1)
    pool.boot = boot
    try:
        yield pool
    finally:
        pool.close()


@pytest.mark.timeout(60)
def test_stuck_worker_is_killed_and_replaced():
    with one_worker_pool(_HANGING_BOOT) as pool:
        pool.check([("1", "1")])  # started
        start = time.monotonic()
        out = pool.check(
            [("HANG", "\\frac{1}{1}"), ("\\frac12", "0.5"), ("3", "x")], time_limit=LIMIT
        )
        elapsed = time.monotonic() - start
        assert out == [TIMEOUT, CORRECT, WRONG]
        assert elapsed < LIMIT + SLACK
        assert pool.check([("2", "\\sqrt{4}")]) == [CORRECT]  # the replacement works


@pytest.mark.timeout(60)
def test_dead_worker_does_not_lose_the_batch():
    dies = _HANGING_BOOT.replace("sum(range(10**12))", "__import__('os')._exit(3)")
    with one_worker_pool(dies) as pool:
        out = pool.check([("HANG", "1"), ("\\frac{2}{2}", "1")], time_limit=LIMIT)
        assert out[1] == CORRECT and out[0] not in (CORRECT, WRONG)


@pytest.mark.timeout(60)
def test_worker_that_dies_before_starting_is_replaced_without_losing_a_pair(tmp_path):
    died = tmp_path / "died"
    boot = (  # the first worker exits before it is ready; the ones after it work
        f"import os\nif not os.path.exists({str(died)!r}):\n"
        f"    open({str(died)!r}, 'w').close(); os._exit(1)\n{verify._BOOT}"
    )
    with one_worker_pool(boot) as pool:
        assert pool.check([("\\frac12", "0.5"), ("2", "\\sqrt{4}")]) == [CORRECT, CORRECT]
        assert died.exists()
        pool.close()
        assert pool.check([("3", "\\sqrt{9}")]) == [CORRECT]  # a closed pool starts again


@pytest.mark.timeout(60)
def test_workers_that_keep_dying_at_start_are_an_error_after_three(tmp_path):
    starts = tmp_path / "starts"
    with one_worker_pool(f"open({str(starts)!r}, 'a').write('x'); import os; os._exit(1)") as pool:
        with pytest.raises(RuntimeError) as err:
            pool.check([("1", "\\sqrt{1}")])
        assert starts.read_text() == "xxx"
        message = str(err.value)
        assert "worker processes keep dying before they start" in message
        assert "_mvworker.py" in message  # the command that shows why


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
    import os

    from r1lab.rewards.verify import judge, shared_pool

    assert judge(["\\frac{1}{2}"], ["0.5"]) == [CORRECT]  # the parent's pool is running
    parent_pool = shared_pool()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        ok = judge(["2\\sqrt{3}"], ["\\sqrt{12}"]) == [CORRECT] and shared_pool() is not parent_pool
        os._exit(0 if ok else 1)
    # A child forked from a process holding torch's and the pool's threads can deadlock on a lock
    # one of them held: wait a bounded time, then kill it, so that a deadlock fails, never hangs.
    deadline = time.monotonic() + 60
    while (status := os.waitpid(pid, os.WNOHANG))[0] == 0:
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child did not finish within 60 s (killed)")
        time.sleep(0.05)
    assert os.waitstatus_to_exitcode(status[1]) == 0
    assert judge(["\\frac{1}{3}"], ["0.5"]) == [WRONG]  # and the parent's still works


@pytest.mark.timeout(60)
def test_accuracy_logs_the_fraction_of_checks_cut_off_by_the_time_limit(monkeypatch):
    """`rewards/accuracy/timeout_frac` tells a run that its accuracy is limited by time: 1 of 3
    checks cut off is 1/3, a lone one cut off is 1.0; the cut-off sample scores 0.0."""
    reward = get_reward("accuracy", time_limit=LIMIT)
    with one_worker_pool(_HANGING_BOOT) as pool:
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
