"""Answer equivalence with a time limit that holds in any thread: math-verify in worker processes.

Why processes: math-verify bounds its own time with `signal.alarm`, which raises outside the main
thread (TRL runs async rewards on an event-loop thread) and cannot interrupt C code at all. A
worker process can be killed, so the bound holds whatever the input. The pool is persistent
(started on first need, reused by every call), its workers are fresh interpreters started with
`subprocess` (no fork of a torch process, no re-import of the trainer's `__main__`), and each
rank of a `torchrun` job gets `cores // LOCAL_WORLD_SIZE` workers of its own.

Simple rationals on both sides (`46` vs `46.0`, `\\frac{92}{2}`) are compared exactly in the
calling process and never reach a worker; identical (answer, reference) pairs are checked once
per batch.
"""

from __future__ import annotations

import atexit
import os
import pickle
import select
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from r1lab.rewards import _mvworker
from r1lab.rewards._mvworker import CORRECT, ERROR, TIMEOUT, UNPARSEABLE_REFERENCE, WRONG
from r1lab.rewards.answers import simple_rational

__all__ = [
    "CORRECT",
    "ERROR",
    "TIMEOUT",
    "UNPARSEABLE_REFERENCE",
    "WRONG",
    "VerifierPool",
    "default_workers",
    "judge",
    "shared_pool",
]

DEFAULT_TIME_LIMIT = 5.0
MAX_CHARS = 10_000  # longer answers or references are not math: 0.0 / None without parsing
_STARTUP_LIMIT = 120.0
_BOOT = (
    "import importlib.util as u, sys; s = u.spec_from_file_location('r1lab_mvworker', sys.argv[1]); "
    "m = u.module_from_spec(s); s.loader.exec_module(m); m.main()"
)


def default_workers() -> int:
    """`R1LAB_REWARD_WORKERS`, else this process's share of the cores (per local rank)."""
    env = os.environ.get("R1LAB_REWARD_WORKERS")
    if env:
        return max(1, int(env))
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    ranks = int(os.environ.get("LOCAL_WORLD_SIZE") or 1)
    return max(1, cores // max(1, ranks))


@dataclass
class _Worker:
    proc: subprocess.Popen
    started: float
    buffer: bytearray = field(default_factory=bytearray)
    ready: bool = False
    tasks: deque[int] = field(default_factory=deque)  # indices sent, in the order it checks them
    since: float = 0.0  # when its current check started (dispatch or the previous result)

    @property
    def fd(self) -> int:
        return self.proc.stdout.fileno()


class VerifierPool:
    """A fixed number of math-verify worker processes; `check` is thread-safe.

    Pairs go out in chunks (one pipe round trip per pair costs more than a simple check) and
    come back one result at a time, so the time limit applies to each pair: a worker that
    spends longer than the limit on one pair is killed and replaced, that pair scores TIMEOUT
    and the rest of its chunk goes back in the queue.
    """

    boot = _BOOT  # the worker's `python -c` program (tests swap in a misbehaving one)

    def __init__(self, size: int | None = None) -> None:
        self.size = size or default_workers()
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._startup_failures = 0

    def check(
        self, pairs: Sequence[tuple[str | None, str]], time_limit: float = DEFAULT_TIME_LIMIT
    ) -> list[int]:
        """Outcome of each (answer, reference) pair, each bounded by `time_limit` seconds."""
        if not pairs:
            return []
        with self._lock:
            if os.getpid() != self._pid:  # a forked child must not share the parent's workers
                self._workers, self._pid = [], os.getpid()
            return self._run(list(pairs), time_limit)

    def _run(self, pairs: list[tuple[str | None, str]], time_limit: float) -> list[int]:
        while len(self._workers) < self.size:
            self._workers.append(self._spawn())
        results: list[int | None] = [None] * len(pairs)
        pending = deque(range(len(pairs)))
        poller = select.poll()
        for w in self._workers:
            poller.register(w.fd, select.POLLIN)
        left = len(pairs)
        while left:
            for w in self._workers:
                if w.ready and not w.tasks and pending:
                    size = max(1, min(64, len(pending) // (2 * self.size)))
                    chunk = [pending.popleft() for _ in range(min(size, len(pending)))]
                    if not self._send(w, chunk, pairs, time_limit):
                        pending.extendleft(reversed(chunk))
                        self._replace(w, poller)
            now = time.monotonic()
            deadlines = [w.since + time_limit for w in self._workers if w.tasks]
            deadlines += [w.started + _STARTUP_LIMIT for w in self._workers if not w.ready]
            wait = max(0.0, min(deadlines, default=now + 1.0) - now)
            events = dict(poller.poll(wait * 1000.0 + 1.0))
            for w in list(self._workers):
                if w.fd not in events:
                    continue
                messages = self._receive(w)
                for message in messages or ():
                    if message == "ready":
                        w.ready, self._startup_failures = True, 0
                    elif w.tasks:
                        results[w.tasks.popleft()] = message
                        w.since = time.monotonic()
                        left -= 1
                if messages is None:  # the worker died (crash, out of memory, killed)
                    left -= self._fail(w, results, pending, ERROR)
                    self._replace(w, poller)
            now = time.monotonic()
            for w in list(self._workers):
                late = w.tasks and now >= w.since + time_limit
                stuck = not w.ready and now >= w.started + _STARTUP_LIMIT
                if late or stuck:
                    left -= self._fail(w, results, pending, TIMEOUT)
                    self._replace(w, poller)
        return [ERROR if r is None else r for r in results]

    def _spawn(self) -> _Worker:
        if self._startup_failures >= 3:
            raise RuntimeError(
                "math-verify worker processes keep dying before they start; run "
                f"`{sys.executable} {_mvworker.__file__}` to see why"
            )
        proc = subprocess.Popen(
            [sys.executable, "-c", self.boot, str(Path(_mvworker.__file__).resolve())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )
        return _Worker(proc=proc, started=time.monotonic())

    def _send(
        self,
        w: _Worker,
        chunk: list[int],
        pairs: list[tuple[str | None, str]],
        time_limit: float,
    ) -> bool:
        """Hand a chunk of pairs to an idle worker; False if the worker is gone."""
        items = [pairs[i] for i in chunk]
        try:
            _mvworker.write_frame(w.proc.stdin.fileno(), (items, 0.9 * time_limit))
        except OSError:
            return False
        w.tasks.extend(chunk)
        w.since = time.monotonic()
        return True

    def _receive(self, w: _Worker) -> list[object] | None:
        """Complete messages read from the worker; None at end of file."""
        try:
            data = os.read(w.fd, 1 << 16)
        except OSError:
            data = b""
        if not data:
            return None
        w.buffer += data
        messages = []
        size = _mvworker._HEADER.size
        while len(w.buffer) >= size:
            (length,) = _mvworker._HEADER.unpack_from(w.buffer)
            if len(w.buffer) < size + length:
                break
            messages.append(pickle.loads(bytes(w.buffer[size : size + length])))
            del w.buffer[: size + length]
        return messages

    def _fail(self, w: _Worker, results: list, pending: deque[int], outcome: int) -> int:
        """Give the worker's current pair `outcome`, requeue the rest of its chunk; 1 or 0."""
        if not w.ready:
            self._startup_failures += 1
        if not w.tasks:
            return 0
        results[w.tasks.popleft()] = outcome
        pending.extendleft(reversed(w.tasks))
        w.tasks.clear()
        return 1

    def _replace(self, w: _Worker, poller: select.poll) -> None:
        poller.unregister(w.fd)
        _kill(w.proc)
        fresh = self._spawn()
        self._workers[self._workers.index(w)] = fresh
        poller.register(fresh.fd, select.POLLIN)

    def close(self) -> None:
        with self._lock:
            for w in self._workers:
                _kill(w.proc)
            self._workers = []


def _kill(proc: subprocess.Popen) -> None:
    for stream in (proc.stdin, proc.stdout):
        try:
            stream.close()
        except OSError:
            pass
    if proc.poll() is None:
        proc.kill()
    proc.wait()


_POOL: VerifierPool | None = None
_POOL_LOCK = threading.Lock()


def _forget_pool_in_child() -> None:
    """After fork: drop the parent's pool (its lock may be held) without touching its workers."""
    global _POOL, _POOL_LOCK
    if _POOL is not None:
        for w in _POOL._workers:
            for stream in (w.proc.stdin, w.proc.stdout):
                try:
                    stream.close()  # only this process's copies of the pipes
                except OSError:
                    pass
    _POOL, _POOL_LOCK = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


def shared_pool() -> VerifierPool:
    """The process-wide pool, created on first use (and again in a forked child)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = VerifierPool()
            atexit.register(_POOL.close)
        return _POOL


def _exact(answer: str | None, reference: str) -> int | None:
    """CORRECT/WRONG decided exactly for simple rationals (`46`, `-7`, `0.5`, `\\frac{3}{4}`).

    Equal values are CORRECT. Unequal ones are WRONG unless a decimal meets a fraction
    (math-verify rounds, so `0.333333` may equal `1/3`); that case, like everything that is not
    a simple rational, is left to math-verify (None).
    """
    gold = simple_rational(reference)
    if gold is None:
        return None
    if answer is None:
        return WRONG
    guess = simple_rational(answer)
    if guess is None:
        return None
    if guess[0] == gold[0]:
        return CORRECT
    return None if {guess[1], gold[1]} == {"decimal", "fraction"} else WRONG


def judge(
    answers: Sequence[str | None],
    references: Sequence[str | None],
    time_limit: float = DEFAULT_TIME_LIMIT,
    pool: VerifierPool | None = None,
) -> list[int]:
    """Outcome per (answer, reference): CORRECT, WRONG, UNPARSEABLE_REFERENCE, TIMEOUT or ERROR."""
    outcomes: list[int | None] = [None] * len(answers)
    todo: dict[tuple[str | None, str], list[int]] = {}
    for i, (answer, reference) in enumerate(zip(answers, references, strict=True)):
        reference = "" if reference is None else str(reference)
        if not reference.strip() or len(reference) > MAX_CHARS:
            outcomes[i] = UNPARSEABLE_REFERENCE
            continue
        if answer is not None and len(answer) > MAX_CHARS:
            answer = None  # judged WRONG unless the reference itself cannot be parsed
        quick = _exact(answer, reference)
        if quick is not None:
            outcomes[i] = quick
            continue
        todo.setdefault((answer, reference), []).append(i)
    if todo:
        keys = sorted(todo, key=lambda pair: pair[1])  # same reference, same worker's cache
        checked = (pool or shared_pool()).check(keys, time_limit)
        for key, outcome in zip(keys, checked, strict=True):
            for i in todo[key]:
                outcomes[i] = outcome
    return [ERROR if o is None else o for o in outcomes]
