"""Where a GRPO step's time goes (r1lab.step_time): TRL's profiled blocks added up per step.

The blocks are entered through TRL's real `ProfilingContext` (what GRPOTrainer uses); the
seconds are given, not slept, so the sums are exact. A tiny GRPO run that logs the parts for real
is in test_train.py (transformers generation) and test_vllm_colocate.py (vLLM, with weight sync).
"""

from __future__ import annotations

import time

import pytest

from r1lab import step_time


class Clock:
    """time.perf_counter for step_time and TRL's ProfilingContext, moved by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    import trl.extras.profiling

    c = Clock()
    monkeypatch.setattr(step_time.time, "perf_counter", c)
    monkeypatch.setattr(trl.extras.profiling.time, "perf_counter", c)
    return c


@pytest.fixture
def listener(monkeypatch: pytest.MonkeyPatch) -> step_time.StepTimes:
    times = step_time.StepTimes("GRPOTrainer")
    step_time._listen_to_trl()
    monkeypatch.setattr(step_time, "_listeners", [times])
    return times


def block(clock: Clock, name: str, seconds: float, inner=()):
    """Run TRL's ProfilingContext for `name`: `seconds` of its own, then the `inner` blocks."""
    from trl.extras.profiling import ProfilingContext

    with ProfilingContext(name=f"GRPOTrainer.{name}", report_to=[]):
        clock.now += seconds
        for args in inner:
            block(clock, *args)


def one_step(clock: Clock, times: step_time.StepTimes, prepare_inner, loss_inner=()) -> dict:
    times.on_step_begin(None, None, None)
    block(clock, "_prepare_inputs", 0.5, prepare_inner)
    block(clock, "compute_loss", 1.0, loss_inner)
    clock.now += 2.0  # backward and optimizer step: no TRL block
    times.on_step_end(None, None, None)
    return times.rows[-1]


def test_a_steps_parts_add_up_to_its_wall_time(clock, listener):
    row = one_step(
        clock,
        listener,
        prepare_inner=[
            ("sync_weights", 0.25),
            ("vLLM.generate", 3.0),
            ("_calculate_rewards", 0.75, [("accuracy", 0.5)]),  # a reward's own block: no part
            ("_get_per_token_logps_and_entropies", 1.5),  # the reference model
        ],
        loss_inner=[("_get_per_token_logps_and_entropies", 4.0)],  # the policy, in the update
    )
    seconds = {part: row[f"step_time/{part}"] for part in step_time.PARTS}
    assert seconds == {
        "generate": 3.0,
        "sync_weights": 0.25,
        "rewards": 1.25,
        "logprobs": 1.5,
        "prepare": 0.5,  # _prepare_inputs' own time
        "update": 7.0,  # compute_loss 1.0 with the policy's forward 4.0, then 2.0
    }
    assert row["step_time/total"] == 13.5
    assert sum(row[f"step_share/{p}"] for p in step_time.PARTS) == pytest.approx(1.0)
    assert row["step_share/generate"] == pytest.approx(3.0 / 13.5)


def test_transformers_generation_counts_as_generating(clock, listener):
    row = one_step(clock, listener, prepare_inner=[("transformers.generate", 2.0)])
    assert row["step_time/generate"] == 2.0
    assert row["step_time/sync_weights"] == 0.0


def test_a_step_on_buffered_completions_spends_nothing_generating(clock, listener):
    one_step(clock, listener, prepare_inner=[("vLLM.generate", 3.0)])
    listener.on_step_begin(None, None, None)
    clock.now += 1.0
    listener.on_step_end(None, None, None)
    assert listener.rows[-1]["step_time/generate"] == 0.0
    assert listener.rows[-1]["step_time/update"] == 1.0


def test_logged_values_are_the_mean_of_the_steps_since_the_last_log(clock, listener):
    one_step(clock, listener, prepare_inner=[("vLLM.generate", 3.0)])
    one_step(clock, listener, prepare_inner=[("vLLM.generate", 1.0)])
    logged = listener.take()
    assert logged["step_time/generate"] == 2.0
    assert listener.take() == {}, "a step is logged once"


def test_blocks_of_another_trainer_class_are_not_counted(clock, listener):
    from trl.extras.profiling import ProfilingContext

    listener.on_step_begin(None, None, None)
    with ProfilingContext(name="SFTTrainer.vLLM.generate", report_to=[]):
        clock.now += 5.0
    listener.on_step_end(None, None, None)
    assert listener.rows[-1]["step_time/generate"] == 0.0


def test_the_summary_weighs_every_logged_step_alike():
    history = [
        {"step": 1, **step_time.breakdown({"generate": 1.0, "building": 1.0}, 2.0)},
        {"step": 2, **step_time.breakdown({"generate": 3.0, "building": 3.0}, 6.0)},
        {"train_runtime": 8.0},
    ]
    parts = step_time.summary(history)
    assert parts["total"] == (4.0, 1.0)
    assert parts["generate"] == (2.0, 0.5)
    assert parts["update"] == (2.0, 0.5)
    assert step_time.summary([{"step": 1, "loss": 0.0}]) is None
    table = step_time.table(history)
    assert "| generate | 2.000 | 50.0% |" in table


def test_profiling_still_reports_to_trl_when_listened(monkeypatch):
    """The wrapped ProfilingContext still sends its metric where TRL sends it."""
    from trl.extras.profiling import ProfilingContext

    step_time._listen_to_trl()
    sent: list[float] = []
    monkeypatch.setattr(ProfilingContext, "_log_metrics", lambda self, d: sent.append(d))
    with ProfilingContext(name="GRPOTrainer.sync_weights", report_to=[]):
        time.sleep(0.001)
    assert len(sent) == 1 and sent[0] > 0
