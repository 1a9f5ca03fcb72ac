"""Tiny end-to-end training through the real entry points (each test trains for a few steps)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from r1lab import step_time

from conftest import REPO, run_r1lab

pytestmark = pytest.mark.slow


def load_and_generate(path: Path) -> str:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    ids = tok("Compute 1 + 2", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=5, do_sample=False, pad_token_id=tok.pad_token_id)
    return tok.decode(out[0])


def changed_tensors(before: Path, after: Path) -> list[str]:
    """Names of the weights that differ between two saved models (same architecture)."""
    import torch
    from safetensors.torch import load_file

    a, b = load_file(before / "model.safetensors"), load_file(after / "model.safetensors")
    assert a.keys() == b.keys()
    return [name for name in a if not torch.equal(a[name], b[name])]


def test_sft_leaves_a_model_transformers_loads(base_model, tiny_model):
    assert load_and_generate(base_model).startswith("Compute 1 + 2")
    assert changed_tensors(tiny_model, base_model), "SFT saved the weights it started from"
    info = json.loads((base_model / "run_info.json").read_text())
    assert info["global_step"] == 30 and info["world_size"] == 1
    saved = (base_model / "recipe.yaml").read_text()
    assert "max_steps: 30" in saved and "name: base/tiny" in saved


def test_grpo_trains_logs_to_wandb_offline_and_saves(base_model, tmp_path):
    out = tmp_path / "grpo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "r1lab.kinds.grpo",
            "r1_zero/tiny",
            f"model.model_name_or_path={base_model}",
            f"trainer.output_dir={out}",
            "trainer.max_steps=2",
            "trainer.per_device_train_batch_size=16",
            "trainer.report_to=wandb",
            "trainer.logging_steps=1",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert load_and_generate(out).startswith("Compute 1 + 2")
    # two optimizer steps, each logged (the weights may legitimately stay put: when every
    # completion of a group gets the same reward, GRPO's advantages and so its gradient are 0)
    assert json.loads((out / "run_info.json").read_text())["global_step"] == 2
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    assert [h["step"] for h in history if "loss" in h] == [1, 2]
    assert any("rewards/accuracy/mean" in h and "rewards/format/mean" in h for h in history)
    # where each step's time went (r1lab.step_time), in TRL's own log: the parts cover the step,
    # every step generated (with transformers), and the step is at least TRL's own step_time
    # (which leaves out the optimizer step)
    for h in (h for h in history if "loss" in h):
        shares = [h[f"step_share/{part}"] for part in step_time.PARTS]
        assert sum(shares) == pytest.approx(1.0, abs=1e-3), h
        assert h["step_time/generate"] > 0 and h["step_time/update"] > 0, h
        assert h["step_time/total"] >= h["step_time"] * 0.99, h
    runs = list((out / "wandb").glob("offline-run-*"))
    assert runs, "wandb should log offline with no API key"


def test_two_cpu_processes_train_together(base_model, tmp_path):
    """`--multi_gpu` with the cpu config gives two gloo ranks (`--cpu` alone silently gives one)."""
    out = tmp_path / "ddp"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--config_file",
            "recipes/accelerate/cpu.yaml",
            "--multi_gpu",
            "--num_processes",
            "2",
            "-m",
            "r1lab.kinds.grpo",
            "r1_zero/tiny",
            f"model.model_name_or_path={base_model}",
            f"trainer.output_dir={out}",
            "trainer.max_steps=2",
            "trainer.per_device_train_batch_size=8",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = json.loads((out / "run_info.json").read_text())
    assert (info["world_size"], info["global_step"]) == (2, 2)
    assert load_and_generate(out).startswith("Compute 1 + 2")


STEP_LOG = re.compile(r"\{'loss': ")  # one per optimizer step with logging_steps=1


def test_killed_run_resumes_from_its_last_checkpoint(tiny_model, tmp_path):
    """Evidence from what the trainer did, not from what r1lab said it would do: the second run
    trains only the steps after the checkpoint (one logged loss per step)."""
    out = tmp_path / "sft"
    args = [
        sys.executable,
        "-m",
        "r1lab.kinds.sft",
        "base/tiny",
        f"trainer.output_dir={out}",
        "trainer.max_steps=40",
        "trainer.save_steps=5",
        "trainer.logging_steps=1",
        "data.train_size=300",
    ]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (out / "checkpoint-10" / "trainer_state.json").exists():
        assert proc.poll() is None, "run ended before it could be killed"
        assert time.time() < deadline
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "run_info.json").exists()
    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    info = json.loads((out / "run_info.json").read_text())
    resumed = int(Path(info["resumed_from"]).name.split("-")[1])
    assert resumed >= 10 and f"resuming from {out}/checkpoint-{resumed}" in done.stdout
    assert info["global_step"] == 40
    trained = len(STEP_LOG.findall(done.stdout + done.stderr))
    assert trained == 40 - resumed, f"the second run trained {trained} steps, not {40 - resumed}"


def test_launch_runs_locally_without_sbatch(base_model, tmp_path):
    out = tmp_path / "launch"
    proc = run_r1lab(
        "launch",
        "sft",
        "base/tiny",
        f"model.model_name_or_path={base_model}",
        f"trainer.output_dir={out}",
        "trainer.max_steps=2",
        env={"LOCAL": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((out / "run_info.json").read_text())["global_step"] == 2
