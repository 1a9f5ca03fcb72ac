"""Checkpoint-and-stop on preemption (r1lab.preempt): the flag file, SIGUSR1, and every rank
stopping at the same step when only one of them saw the request."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[1] / "src")


def test_flag_file_saves_and_stops(tmp_path, monkeypatch):
    """The batch shell's flag file ($R1LAB_PREEMPT_FILE) -> save + stop at the next step end."""
    from transformers import TrainerControl, TrainerState

    from r1lab import preempt

    flag = tmp_path / "preempt"
    monkeypatch.setenv(preempt.PREEMPT_FILE_ENV, str(flag))
    preempt.reset()
    try:
        callback = preempt.PreemptionCallback()
        control = callback.on_step_end(None, TrainerState(global_step=3), TrainerControl())
        assert not control.should_save and not control.should_training_stop
        flag.touch()
        control = callback.on_step_end(None, TrainerState(global_step=4), TrainerControl())
        assert control.should_save and control.should_training_stop and callback.triggered_at == 4
    finally:
        preempt.reset()


def run_python(code: str, env: dict | None = None, timeout: float = 120):
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, "PYTHONPATH": SRC, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.timeout(180)
def test_sigusr1_to_the_training_process_saves_and_stops():
    """A real SIGUSR1, sent to a process of its own (not to pytest: without the handler the
    signal's default action would kill the process that receives it)."""
    done = run_python(
        """
        import os, signal
        from transformers import TrainerControl, TrainerState
        from r1lab import preempt
        callback = preempt.PreemptionCallback()
        control = callback.on_step_end(None, TrainerState(global_step=6), TrainerControl())
        assert not control.should_save
        os.kill(os.getpid(), signal.SIGUSR1)
        control = callback.on_step_end(None, TrainerState(global_step=7), TrainerControl())
        print("stopped", control.should_save, control.should_training_stop, callback.triggered_at)
        """,
        env={"R1LAB_PREEMPT_FILE": ""},
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-3000:])
    assert done.stdout.splitlines()[-1] == "stopped True True 7", done.stdout


_RANK = """
import os, sys
import torch
import torch.distributed as dist
from transformers import TrainerControl, TrainerState, TrainingArguments
from r1lab import preempt

rank, world, store = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
callback = preempt.PreemptionCallback()
args = TrainingArguments(output_dir=os.environ["OUT"], use_cpu=True, report_to=[])
for step in range(1, 6):
    if step == 3 and rank == world - 1:  # only the last rank sees the request, at step 3
        open(os.environ["R1LAB_PREEMPT_FILE"], "w").close()
    control = callback.on_step_end(args, TrainerState(global_step=step), TrainerControl())
    if control.should_training_stop:
        break
print(f"rank {rank} stopped at {callback.triggered_at} save {control.should_save}", flush=True)
dist.barrier()
dist.destroy_process_group()
"""


@pytest.mark.timeout(240)
def test_every_rank_stops_at_the_step_one_rank_saw_the_request(tmp_path):
    """Two gloo ranks, each with its own flag file; only rank 1's appears (at step 3). Both must
    save and stop at step 3: a rank that went on alone would hang the next collective, or save a
    checkpoint the others never reach."""
    world = 2
    procs = []
    for rank in range(world):
        env = {
            **os.environ,
            "PYTHONPATH": SRC,
            "OUT": str(tmp_path / f"out{rank}"),
            "R1LAB_PREEMPT_FILE": str(tmp_path / f"flag{rank}"),
            "OMP_NUM_THREADS": "1",
        }
        for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
            env.pop(key, None)
        cmd = [sys.executable, "-c", _RANK, str(rank), str(world), str(tmp_path / "store")]
        procs.append(
            subprocess.Popen(
                cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    outputs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=180)
            outputs.append((proc.returncode, out, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for rank, (code, out, err) in enumerate(outputs):
        assert code == 0, (rank, err[-3000:])
        assert f"rank {rank} stopped at 3 save True" in out, (rank, out, err[-2000:])
    assert not (tmp_path / "flag0").exists()  # rank 0 stopped on rank 1's word alone
