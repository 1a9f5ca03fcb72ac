"""Where a GRPO step's time goes: generation, weight sync, rewards, log-probs, the update.

"Is 281 s/step normal?" has one answer: see what the step spends its time on. TRL already times
the blocks that matter with its own `ProfilingContext` (`vLLM.generate`, `transformers.generate`,
`sync_weights`, `_calculate_rewards`, `_get_per_token_logps_and_entropies`, `_prepare_inputs`), but
sends the durations only to wandb/mlflow/trackio, one point per block, and nowhere a step's parts
add up. `install` listens to those same contexts (it wraps `ProfilingContext.__enter__/__exit__`
once per process: TRL has no public hook for them) and adds per optimizer step, into TRL's own logs
(so `trainer_state.json`, the console and wandb all get them, averaged over `logging_steps` like
TRL's `step_time`):

    step_time/<part>   seconds spent on <part> in the step
    step_share/<part>  that part's share of the step's wall time

Parts (`PARTS`): `generate`; `sync_weights` (the trainer's weights into vLLM); `rewards`;
`logprobs` (the reference model's and the old policy's log-probs, computed without gradient
before the update); `prepare` (the rest of building the batch: tokenizing, gathering,
advantages); `update` (the policy's forward, backward and optimizer step: the step's time outside
batch building). A step that reuses a buffered generation (steps_per_generation > 1) spends 0 s
generating; averaged over a logging window the shares are the run's.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from transformers import TrainerCallback

# TRL 1.16's profiled blocks (names after the trainer's class name) -> the part of a step
GENERATE = ("vLLM.generate", "transformers.generate", "transformers.generate_batch")
SYNC = "sync_weights"
REWARDS = "_calculate_rewards"
LOGPROBS = "_get_per_token_logps_and_entropies"  # also the policy's forward inside compute_loss
PREPARE = "_prepare_inputs"  # everything before the update, the blocks above included
PARTS_IN_BUILDING = ("generate", "sync_weights", "rewards", "logprobs")  # in _prepare_inputs
PARTS = (*PARTS_IN_BUILDING, "prepare", "update")
TIME_KEY, SHARE_KEY = "step_time/", "step_share/"


class StepTimes(TrainerCallback):
    """Adds up TRL's profiled blocks per optimizer step; `rows` holds the steps not yet logged."""

    def __init__(self, trainer_class: str) -> None:
        self.prefix = f"{trainer_class}."
        self.open: list[str] = []
        self.spent: dict[str, float] = defaultdict(float)
        self.started: float | None = None
        self.rows: list[dict[str, float]] = []

    # ------------------------------------------------------------- TRL's ProfilingContext
    def entered(self, name: str) -> None:
        self.open.append(name.removeprefix(self.prefix))

    def exited(self, name: str, seconds: float) -> None:
        block = name.removeprefix(self.prefix)
        if self.open and self.open[-1] == block:
            self.open.pop()
        if block in GENERATE:
            self.spent["generate"] += seconds
        elif block == SYNC:
            self.spent["sync_weights"] += seconds
        elif block == REWARDS:
            self.spent["rewards"] += seconds
        elif block == LOGPROBS and PREPARE in self.open:  # not the policy's forward in the loss
            self.spent["logprobs"] += seconds
        elif block == PREPARE and PREPARE not in self.open:
            self.spent["building"] += seconds

    # ------------------------------------------------------------- the Trainer's step
    def on_step_begin(self, args, state, control, **kwargs):
        self.spent.clear()
        self.started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if self.started is not None:
            self.rows.append(breakdown(self.spent, time.perf_counter() - self.started))
            self.started = None

    def take(self) -> dict[str, float]:
        """The logged steps' mean of every key, and forget them (called as TRL logs)."""
        rows, self.rows = self.rows, []
        if not rows:
            return {}
        return {key: sum(row[key] for row in rows) / len(rows) for key in rows[0]}


def breakdown(spent: dict[str, float], total: float) -> dict[str, float]:
    """One step's log keys: seconds per part and shares of `total` (the step's wall time)."""
    building = spent.get("building", 0.0)
    seconds = {part: spent.get(part, 0.0) for part in PARTS_IN_BUILDING}
    seconds |= {
        "prepare": max(building - sum(seconds.values()), 0.0),
        "update": max(total - building, 0.0),
    }
    row = {f"{TIME_KEY}{part}": seconds[part] for part in PARTS}
    row[f"{TIME_KEY}total"] = total
    row |= {f"{SHARE_KEY}{part}": seconds[part] / total if total > 0 else 0.0 for part in PARTS}
    return row


_listeners: list[StepTimes] = []


def _listen_to_trl() -> None:
    """Wrap TRL's ProfilingContext once per process so that every block reaches the listeners."""
    from trl.extras.profiling import ProfilingContext

    if getattr(ProfilingContext, "_r1lab_listened", False):
        return
    enter, exit_ = ProfilingContext.__enter__, ProfilingContext.__exit__

    def __enter__(self):
        for listener in _listeners:
            listener.entered(self.name)
        return enter(self)

    def __exit__(self, *exc):
        started = self._start_time
        result = exit_(self, *exc)
        if started is not None:
            seconds = time.perf_counter() - started
            for listener in _listeners:
                listener.exited(self.name, seconds)
        return result

    ProfilingContext.__enter__, ProfilingContext.__exit__ = __enter__, __exit__
    ProfilingContext._r1lab_listened = True


def install(trainer: Any) -> StepTimes:
    """Time every optimizer step of `trainer` (a TRL GRPOTrainer) and log the parts with TRL's
    metrics; returns the callback (its `rows` are the steps not yet logged)."""
    times = StepTimes(type(trainer).__name__)
    _listen_to_trl()
    _listeners[:] = [times]  # one trainer per process: the newest one is timed
    trainer.add_callback(times)
    log = trainer.log

    def log_with_times(logs: dict[str, float], start_time: float | None = None) -> None:
        if trainer.model.training:
            logs.update(times.take())
        return log(logs, start_time)

    trainer.log = log_with_times
    return times


def summary(history: Iterable[dict[str, Any]]) -> dict[str, tuple[float, float]] | None:
    """Mean seconds and share of each part over a run's logged steps (`trainer_state.json`'s
    `log_history`); None when the run logged no step times."""
    rows = [h for h in history if f"{TIME_KEY}total" in h]
    if not rows:
        return None
    total = sum(h[f"{TIME_KEY}total"] for h in rows)
    parts = {"total": (total / len(rows), 1.0)}
    for part in PARTS:
        spent = sum(h[f"{TIME_KEY}{part}"] for h in rows)
        parts[part] = (spent / len(rows), spent / total if total > 0 else 0.0)
    return parts


def table(history: Iterable[dict[str, Any]]) -> list[str]:
    """A Markdown table of `summary` (empty when there is nothing to show)."""
    parts = summary(history)
    if parts is None:
        return []
    lines = ["| part of the step | s/step | share |", "| --- | ---: | ---: |"]
    for part, (seconds, share) in parts.items():
        lines.append(f"| {part} | {seconds:.3f} | {100 * share:.1f}% |")
    return lines
