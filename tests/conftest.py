"""Shared fixtures: a private r1lab cache with the tiny model, and a tiny base model trained once;
and a reader of the Markdown tables that reports write."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def r1lab_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every test (and every subprocess it starts) uses a fresh cache, never the user's."""
    cache = tmp_path_factory.mktemp("r1lab-cache")
    os.environ["R1LAB_CACHE"] = str(cache)
    os.environ.setdefault("WANDB_MODE", "disabled")
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return cache


@pytest.fixture(scope="session")
def tiny_model(r1lab_cache: Path) -> Path:
    from r1lab import tiny

    return tiny.ensure()


def run_r1lab(
    *args: str, cwd: Path = REPO, env: dict | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """`r1lab ...` in a subprocess, as a user would run it; output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "r1lab.cli", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def base_model(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny base model after a short SFT (enough to emit tags), shared by the GRPO tests."""
    out = tmp_path_factory.mktemp("base") / "model"
    proc = run_r1lab(
        "sft",
        "base/tiny",
        "trainer.max_steps=30",
        "trainer.save_strategy=no",
        "data.train_size=500",
        f"trainer.output_dir={out}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def vllm_installed() -> None:
    """vLLM importable (`make install` brings the CPU build on x86-64 Linux): else skip with the
    reason, except under CI=true, where the tests that need it fail."""
    try:
        import vllm  # noqa: F401
    except ImportError as err:
        reason = f"vLLM is not installed here ({err}); `make install` adds it on x86-64 Linux"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: these tests must run)", pytrace=False)
        pytest.skip(reason)


_PORT_LOCKS: list = []  # held until this test session ends


def free_port() -> int:
    """A TCP port for a server a test starts, safe from the races of "bind port 0, close, reuse":
    it lies below the OS's ephemeral range (so no outgoing connection is handed it meanwhile) and
    below the Slurm ports (slurmd 17001+, train.slurm's rendezvous 20000-39999), and
    an flock on /tmp/r1lab-test-ports/<port>.lock, held until the session ends, keeps a
    concurrent test session from choosing it too."""
    locks = Path("/tmp/r1lab-test-ports")
    locks.mkdir(exist_ok=True)
    for _ in range(500):
        port = random.randrange(10000, 16000)
        handle = open(locks / f"{port}.lock", "a")  # noqa: SIM115 - held for the session
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            with socket.socket() as sock:
                sock.bind(("", port))
        except OSError:  # another session holds it, or something listens there
            handle.close()
            continue
        _PORT_LOCKS.append(handle)
        return port
    raise RuntimeError("no free TCP port in 10000-16000")


def as_terminal_job() -> None:
    """`preexec_fn` for a child the test will Ctrl-C: SIGINT back to its default, as in a
    terminal's foreground job. A suite started in the background (`make test &`, nohup, some CI
    runners) has SIGINT ignored, children inherit that, and Python then installs no
    KeyboardInterrupt handler, so the Ctrl-C would be lost and the test would fail for nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.contextmanager
def running_server(
    cmd: list[str], port: int, log: Path, env: dict | None = None, inherit: bool = True
):
    """Start a server (a vLLM OpenAI-compatible one) and yield its base URL once GET /health
    answers; fail with the end of its log if it exits or takes over 600 s; stop it afterwards.
    `env` is added to this process's environment, or is the whole of it with inherit=False."""
    import time
    import urllib.request

    with open(log, "w") as handle:
        proc = subprocess.Popen(
            cmd,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**(os.environ if inherit else {}), **(env or {})},
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"the server exited ({proc.returncode}):\n{log.read_text()[-4000:]}")
            try:
                urllib.request.urlopen(url + "/health", timeout=2)
                break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail(f"the server did not answer /health in 600 s:\n{log.read_text()[-4000:]}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


# ---- DeepSpeed ZeRO-2 / ZeRO-3 on 2 CPU ranks over gloo (test_scale, test_distill_online) ------


@pytest.fixture(scope="module")
def deepspeed_installed() -> None:
    from r1lab.checks.packages import installed

    if installed("deepspeed"):
        return
    reason = "DeepSpeed is not installed here; `make install` brings it (the deepspeed extra)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: these tests must run)", pytrace=False)
    pytest.skip(reason)


def launch_two_ranks(stage: str, kind: str, recipe: str, *overrides: str) -> None:
    """`accelerate launch` with the repository's zero2/zero3 file, 2 processes on the CPU (gloo);
    `--mixed_precision no` as `r1lab launch` passes it for a CPU trainer (the files say bf16)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--config_file",
            f"recipes/accelerate/{stage}.yaml",
            "--num_processes",
            "2",
            "--mixed_precision",
            "no",
            "-m",
            f"r1lab.kinds.{kind}",
            recipe,
            f"accelerate={stage}",
            "trainer.save_strategy=no",
            *overrides,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]


def assert_full_model(out: Path, reference: Path, steps: int) -> tuple:
    """The output loads, with every parameter at its full shape (not a ZeRO-3 partition)."""
    from transformers import AutoModelForCausalLM

    info = json.loads((out / "run_info.json").read_text())
    assert info["world_size"] == 2 and info["global_step"] == steps
    model = AutoModelForCausalLM.from_pretrained(out)
    ref = AutoModelForCausalLM.from_pretrained(reference)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes == {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    assert sum(v.numel() for v in model.state_dict().values()) > 800_000
    return model, ref


def markdown_tables(text: str) -> list[list[list[str]]]:
    """The Markdown tables in `text`, each as its header and body rows of cells, checked to render
    as tables: a blank line (or the start) before, a blank line (or the end) after, a `---` or
    `---:` separator under the header and as many cells in every row."""
    lines, found, i = text.split("\n"), [], 0
    while i < len(lines):
        if not lines[i].startswith("|"):
            i += 1
            continue
        j = next((j for j in range(i, len(lines)) if not lines[j].startswith("|")), len(lines))
        assert i == 0 or lines[i - 1] == "", f"no blank line before {lines[i]!r}"
        assert j == len(lines) or lines[j] == "", f"no blank line after {lines[j - 1]!r}"
        assert all(line.endswith("|") for line in lines[i:j]), lines[i:j]
        rows = [[cell.strip() for cell in line[1:-1].split("|")] for line in lines[i:j]]
        assert all(re.fullmatch("---:?", cell) for cell in rows[1]), lines[i + 1]
        assert all(len(row) == len(rows[0]) for row in rows), lines[i:j]
        found.append([rows[0], *rows[2:]])
        i = j
    return found
