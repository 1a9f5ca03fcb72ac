"""One math-verify worker process: reads chunks of (answer, reference) pairs, writes outcomes.

This file is loaded by path (not as part of the `r1lab` package) so that a worker imports only
the standard library and math-verify: no torch, no trainer state, and a fresh interpreter, so
no fork-after-threads deadlock. It is also imported normally by `r1lab.rewards.verify` for
`check`, the single source of truth of what "equivalent" means.

Time: math-verify's own timeouts use `signal.alarm` and cancel each other when nested, so
they are turned off and one `setitimer` bounds the whole check instead. The parent still
enforces the limit by wall clock and kills a worker stuck in C code (a signal handler only
runs between Python bytecodes, and `9^{9^{9^{9}}}` spends minutes inside one).
"""

from __future__ import annotations

import functools
import logging
import os
import pickle
import re
import signal
import struct
import sys

CORRECT, WRONG, UNPARSEABLE_REFERENCE, TIMEOUT, ERROR = 1, 0, 2, 3, 4
_HEADER = struct.Struct("!I")
# math-verify's own thousands grouping (number format 1 of its ExprExtractionConfig): a first
# group of 1-3 digits, then groups of exactly 3; a LaTeX thin space `\,` or `\ ` counts as a space.
_SEPARATOR = r"(?: |\\,|\\ )"
_GROUPED = re.compile(rf"[+-]?[1-9]\d{{0,2}}(?:{_SEPARATOR}\d{{3}})+(?:\.\d+)?")


@functools.lru_cache(maxsize=1)
def _configs() -> tuple[tuple, tuple]:
    from math_verify import ExprExtractionConfig, LatexExtractionConfig

    return (LatexExtractionConfig(boxed_match_priority=0),), (ExprExtractionConfig(),)


class _TimeUp(BaseException):
    """Raised by the interval timer; a BaseException so library `except Exception` can't eat it."""


def _parse(text: str) -> list:
    """math-verify's parse of an answer or a reference, bare LaTeX included.

    Bare LaTeX (`\\sqrt{12}`, `\\{1,2\\}`) is only found by math-verify inside `$...$` or
    `\\boxed{}`, and plain parsing of `2\\sqrt{3}` finds just `2`, so text without its own math
    delimiters is wrapped in `$...$` first; plain expressions (`1/2`) are the fallback.
    """
    from math_verify import parse

    text = ungroup_thousands(text.strip())
    if not text:
        return []
    delimited = "$" in text or "\\boxed" in text or "\\(" in text or "\\[" in text
    latex, expr = _configs()
    found = parse(text if delimited else f"${text}$", latex, parsing_timeout=None)
    if _parsed(found):
        return found
    plain = parse(text, expr, parsing_timeout=None)
    return plain if _parsed(plain) else found


def ungroup_thousands(text: str) -> str:
    """`1 000` -> `1000` when `text` is one space-grouped number, else `text` unchanged.

    Inside `$...$` LaTeX reads `1 000` as the product 1 * 000 = 0, so the grouping that
    math-verify's plain-number parser accepts is undone before parsing; `1 2` or `1 00` are
    not thousands groups and are left to math-verify as they are.
    """
    if not _GROUPED.fullmatch(text):
        return text
    return re.sub(_SEPARATOR, "", text)


def _parsed(found: list) -> bool:
    """Whether math-verify found a math object, not just its raw-text fallback."""
    return any(not isinstance(item, str) for item in found)


@functools.lru_cache(maxsize=4096)
def _parse_reference(reference: str) -> list:
    return _parse(reference)


def check(answer: str | None, reference: str) -> int:
    """CORRECT / WRONG / UNPARSEABLE_REFERENCE for one answer; no time limit of its own."""
    from math_verify import verify

    gold = _parse_reference(reference)
    if not _parsed(gold):
        return UNPARSEABLE_REFERENCE
    if answer is None:
        return WRONG
    target = _parse(answer)
    if not target:
        return WRONG
    return CORRECT if verify(gold, target, timeout_seconds=None) else WRONG


def check_within(answer: str | None, reference: str, limit: float) -> int:
    """`check` bounded by an interval timer (main thread of this process only)."""

    def time_up(signum, frame):
        raise _TimeUp

    previous = signal.signal(signal.SIGALRM, time_up)
    signal.setitimer(signal.ITIMER_REAL, max(limit, 0.001))
    try:
        return check(answer, reference)
    except _TimeUp:
        return TIMEOUT
    except (Exception, RecursionError):
        return ERROR
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def quiet_math_verify() -> None:
    """Silence math-verify's 'timeout is disabled' notice: the timeout is ours instead."""
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    import math_verify.grader
    import math_verify.parser

    math_verify.grader.TIMEOUT_WARNING_SHOWN = True
    math_verify.parser.TIMEOUT_WARNING_SHOWN = True


def write_frame(fd: int, obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exact(fd: int, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def main() -> None:
    """Serve frames on stdin/stdout until the parent closes stdin (or dies)."""
    # Ctrl-C reaches the whole process group; the trainer reports it once and closes our stdin.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out_fd = os.dup(1)
    os.dup2(2, 1)  # stray prints from libraries must not corrupt the protocol
    in_fd = sys.stdin.fileno()
    memory = int(os.environ.get("R1LAB_VERIFY_MEMORY", str(4 << 30)))
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    except (ImportError, ValueError, OSError):
        pass
    quiet_math_verify()
    check_within("1", "$\\frac{2}{2}$", 10.0)  # warm up the parser before saying ready
    write_frame(out_fd, "ready")
    while True:
        header = _read_exact(in_fd, _HEADER.size)
        if header is None:
            return
        body = _read_exact(in_fd, _HEADER.unpack(header)[0])
        if body is None:
            return
        items, limit = pickle.loads(body)
        for answer, reference in items:  # one result per pair, as soon as it is known
            write_frame(out_fd, check_within(answer, reference, limit))


if __name__ == "__main__":
    main()
