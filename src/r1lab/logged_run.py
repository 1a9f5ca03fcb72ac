"""A command run with its output shown as it comes and kept in a log file: what a pipeline stage
leaves behind for the user to read when it fails (`r1lab.kinds.pipeline`)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path


def run_logged(cmd: list[str], log_path: Path, env: dict[str, str]) -> int:
    """Run `cmd`, its output shown here as it comes and kept in `log_path` (appended: a resumed
    stage's log holds every attempt)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as saved:
        saved.write(f"\n$ {shlex.join(cmd)}\n".encode())
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        assert proc.stdout is not None
        while chunk := os.read(proc.stdout.fileno(), 65536):
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
            saved.write(chunk)
            saved.flush()
        return proc.wait()


def tail(path: Path, lines: int = 25) -> str:
    """The last non-empty lines of a log (progress bars' carriage returns as line ends)."""
    text = path.read_text(errors="replace").replace("\r", "\n") if path.exists() else ""
    return "\n".join([line for line in text.splitlines() if line.strip()][-lines:])
