"""Checkpoint and stop when Slurm warns that the job is about to end (time limit, preemption).

`slurm/train.slurm` is submitted with `--signal=B:USR1@<seconds>`: Slurm sends SIGUSR1 to the
batch shell that many seconds before the time limit. The batch shell cannot signal the training
processes directly (`accelerate launch` / torchrun would die of a SIGUSR1 they do not handle), so
it creates the file named by `$R1LAB_PREEMPT_FILE` in the (shared) output dir. This callback, which
every r1lab trainer gets, sees the file (or a SIGUSR1 delivered to the training process itself) at
the end of the next optimizer step, and asks the Trainer to save a checkpoint and stop. All ranks
agree on the decision through one tiny all-reduce, so they save the same step. The batch shell then
runs `scontrol requeue`; the requeued job reruns the same command, which resumes from that
checkpoint.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

from transformers import TrainerCallback

PREEMPT_FILE_ENV = "R1LAB_PREEMPT_FILE"

_requested = threading.Event()
_installed = False


def _on_signal(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
    _requested.set()


def install_signal_handler(signum: int = signal.SIGUSR1) -> bool:
    """Make `signum` request a checkpoint-and-stop; only possible from the main thread."""
    global _installed
    if _installed:
        return True
    if threading.current_thread() is not threading.main_thread():
        return False
    signal.signal(signum, _on_signal)
    _installed = True
    return True


def reset() -> None:
    """Forget a request (tests; a process that trains twice)."""
    _requested.clear()


def requested() -> bool:
    """True once a preemption was signalled (SIGUSR1 here, or the batch shell's flag file)."""
    if _requested.is_set():
        return True
    flag = os.environ.get(PREEMPT_FILE_ENV)
    if flag and Path(flag).exists():
        _requested.set()
        return True
    return False


def _any_rank(local: bool, device) -> bool:
    """True if any rank saw the request: every rank must save and stop at the same step."""
    try:
        import torch
        import torch.distributed as dist
    except ImportError:  # pragma: no cover - torch is a hard dependency of r1lab
        return local
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() <= 1:
        return local
    if dist.get_backend() == "nccl" and getattr(device, "type", "cpu") != "cuda":
        device = torch.device("cuda", torch.cuda.current_device())
    flag = torch.tensor([1 if local else 0], dtype=torch.int32, device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


class PreemptionCallback(TrainerCallback):
    """On SIGUSR1 or `$R1LAB_PREEMPT_FILE`: save a checkpoint at the next step end and stop."""

    def __init__(self, signum: int = signal.SIGUSR1):
        install_signal_handler(signum)
        self.triggered_at: int | None = None

    def on_step_end(self, args, state, control, **kwargs):
        if self.triggered_at is not None:
            return control
        if _any_rank(requested(), getattr(args, "device", None)):
            self.triggered_at = state.global_step
            control.should_save = True
            control.should_training_stop = True
            if state.is_world_process_zero:
                print(
                    f"[r1lab] preemption requested: saving checkpoint-{state.global_step} and stopping",
                    flush=True,
                )
        return control
