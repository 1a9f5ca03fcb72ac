"""Run a completion's Python program under limits: a limit for buggy code, NOT a security boundary.

Each run is a fresh interpreter (`python -I`) in a fresh temporary directory with:
- rlimits on CPU time, address space (memory), file size, open files and processes, plus a
  wall-clock limit enforced from here by killing the whole process group;
- an environment built from scratch (PATH, HOME=TMPDIR=the run's directory, a UTF-8 locale):
  the trainer's variables (HF_TOKEN, WANDB_API_KEY, ...) are never passed on;
- where the OS allows `unshare`: no network (a new, empty network namespace) and a new PID
  namespace with its own /proc, so the program cannot see the trainer's processes (nor read
  their /proc/<pid>/environ) and every process it starts dies with it;
- when this process is root and the interpreter is readable by `nobody`, uid/gid `nobody`.

Hostile code can still do harm that rlimits do not cover (read world-readable files, use a
kernel bug, ...). For untrusted models, plug in a real sandbox (gVisor, Firecracker, E2B,
a judge service): see `Runner` and docs/rewards.md.
"""

from __future__ import annotations

import functools
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Protocol

NOBODY = 65534


@dataclass(frozen=True)
class Limits:
    """What one run may use; the defaults suit competitive-programming style tests."""

    cpu_seconds: float = 5.0
    wall_seconds: float = 10.0
    memory_bytes: int = 1 << 30
    processes: int = 32
    output_bytes: int = 1 << 20
    open_files: int = 256


@dataclass(frozen=True)
class RunResult:
    returncode: int | None  # None when killed for the wall-clock limit
    stdout: str
    timed_out: bool


class Runner(Protocol):
    """Anything that runs `source` with `stdin` under `limits`: swap in a real sandbox here."""

    def __call__(self, source: str, stdin: str, limits: Limits) -> RunResult: ...


# Runs inside the namespaces (if any) before the program: set limits, drop privileges, and act
# as the namespace's init so that every process the program leaves behind dies when it ends.
_LAUNCHER = r"""
import json, os, resource, signal, sys
cfg = json.loads(sys.argv[1])
def child():
    for name, soft, hard in cfg["rlimits"]:
        resource.setrlimit(getattr(resource, name), (soft, hard))
    if cfg["uid"] is not None:
        os.setgroups([]); os.setgid(cfg["uid"]); os.setuid(cfg["uid"])
    os.chdir(cfg["cwd"])
    os.execve(cfg["python"], [cfg["python"], "-I", "-B", cfg["program"]], cfg["env"])
if not cfg["init"]:
    child()
pid = os.fork()
if pid == 0:
    try:
        child()
    finally:
        os._exit(127)
status = 0
while True:
    try:
        done, st = os.wait()
    except ChildProcessError:
        break
    if done == pid:
        status = os.waitstatus_to_exitcode(st)
        break
sys.stdout.flush()
os._exit(status if status >= 0 else 128 - status)
"""

_UNSHARE_FLAGS = [
    ["--net", "--pid", "--fork", "--kill-child", "--mount-proc"],
    ["--user", "--map-root-user", "--net", "--pid", "--fork", "--kill-child", "--mount-proc"],
    ["--net"],
    ["--user", "--map-root-user", "--net"],
]


@functools.lru_cache(maxsize=1)
def isolation() -> tuple[list[str], bool]:
    """(`unshare` prefix that works here, whether it gives a PID namespace), probed once."""
    unshare = shutil.which("unshare")
    if unshare is None or not sys.platform.startswith("linux"):
        return [], False
    for flags in _UNSHARE_FLAGS:
        try:
            ok = (
                subprocess.run(
                    [unshare, *flags, "true"], capture_output=True, timeout=10
                ).returncode
                == 0
            )
        except (OSError, subprocess.SubprocessError):
            ok = False
        if ok:
            return [unshare, *flags], "--pid" in flags
    return [], False


@functools.lru_cache(maxsize=4)
def _nobody_can_run(python: str) -> bool:
    """Whether dropping to `nobody` still leaves a working interpreter (not when it is in /root)."""
    if os.geteuid() != 0:
        return False

    def drop() -> None:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)

    try:
        done = subprocess.run(
            [python, "-I", "-c", "pass"],
            preexec_fn=drop,
            capture_output=True,
            timeout=20,
            cwd="/",
        )
        return done.returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def clean_env(home: str) -> dict[str, str]:
    """A from-scratch environment: nothing of the trainer's (tokens, keys, paths) is inherited."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": home,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
    }


def run_python(
    source: str, stdin: str = "", limits: Limits | None = None, python: str | None = None
) -> RunResult:
    """Run `source` as a script with `stdin` under `limits` (see the module docstring)."""
    limits = limits or Limits()
    python = python or sys.executable
    prefix, pid_namespace = isolation()
    uid = NOBODY if _nobody_can_run(python) else None
    cpu = max(1, math.ceil(limits.cpu_seconds))
    rlimits = [
        ("RLIMIT_CPU", cpu, cpu + 1),
        ("RLIMIT_AS", limits.memory_bytes, limits.memory_bytes),
        ("RLIMIT_FSIZE", limits.output_bytes, limits.output_bytes),
        ("RLIMIT_NOFILE", limits.open_files, limits.open_files),
        ("RLIMIT_NPROC", limits.processes, limits.processes),
        ("RLIMIT_CORE", 0, 0),
    ]
    workdir = tempfile.mkdtemp(prefix="r1lab-code-")
    try:
        program = os.path.join(workdir, "main.py")
        with open(program, "w", encoding="utf-8", errors="surrogatepass") as f:
            f.write(source)
        if uid is not None:
            os.chown(workdir, uid, uid)
            os.chown(program, uid, uid)
        env = clean_env(workdir)
        cfg = {
            "rlimits": rlimits,
            "uid": uid,
            "cwd": workdir,
            "python": python,
            "program": program,
            "env": env,
            "init": pid_namespace,
        }
        command = [*prefix, python, "-I", "-S", "-c", _LAUNCHER, json.dumps(cfg)]
        with tempfile.TemporaryFile() as fin, tempfile.TemporaryFile() as fout:
            fin.write(stdin.encode("utf-8", errors="replace"))
            fin.seek(0)
            return _run(command, fin, fout, env, workdir, limits)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run(command, fin, fout, env, workdir, limits: Limits) -> RunResult:
    proc = subprocess.Popen(
        command,
        stdin=fin,
        stdout=fout,
        stderr=subprocess.DEVNULL,
        cwd=workdir,
        env=env,
        start_new_session=True,
        close_fds=True,
    )
    timed_out = False
    try:
        proc.wait(timeout=limits.wall_seconds)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the program and anything it left behind
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()
    fout.seek(0)
    stdout = fout.read(limits.output_bytes).decode("utf-8", errors="replace")
    return RunResult(None if timed_out else proc.returncode, stdout, timed_out)
