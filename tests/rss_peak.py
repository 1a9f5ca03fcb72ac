"""Measure one SFT-shaped training step's peak memory on the CPU, for tests/test_memory_plan.py.

Run in its own process (`python tests/rss_peak.py <config folder> <checkpointing 0|1>`): after a
warm-up step the kernel's high-water mark of resident memory is reset (/proc/self/clear_refs),
and the step's peak above what was resident before is VmHWM - VmRSS (with glibc's mmap threshold
fixed, freed blocks leave resident memory at once, so it follows the allocator). Prints JSON: the
measured bytes and the plan's terms for the same step.
"""

from __future__ import annotations

import json
import sys

import torch
from transformers import AutoConfig, AutoModelForCausalLM
from trl import SFTConfig

from r1lab import memory_plan, model_shape
from r1lab.kinds import sft

BATCH, LENGTH = 8, 1024


def status_bytes(field: str) -> int:
    """VmRSS (resident now) or VmHWM (its high-water mark) of this process, in bytes."""
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024  # kB
    raise KeyError(field)


def reset_peak() -> None:
    """Linux: the high-water mark starts again from what is resident now."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def main(folder: str, checkpointing: bool) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = AutoConfig.from_pretrained(folder)
    model = AutoModelForCausalLM.from_config(config).train()
    if checkpointing:
        model.gradient_checkpointing_enable({"use_reentrant": False})

    def step(batch: int, length: int) -> None:
        ids = torch.randint(0, config.vocab_size, (batch, length))
        model(input_ids=ids, labels=ids).loss.backward()
        model.zero_grad(set_to_none=True)

    step(1, 16)  # kernels, allocator pools
    reset_peak()
    before = status_bytes("VmRSS")
    step(BATCH, LENGTH)
    measured = status_bytes("VmHWM") - before
    shape = model_shape.load(folder)
    trl_config = SFTConfig(
        output_dir="unused",
        max_length=LENGTH,
        per_device_train_batch_size=BATCH,
        gradient_checkpointing=checkpointing,
        bf16=False,
        report_to=[],
    )
    work = sft.workload(None, trl_config, 4, None)  # the SFT kind's own step, float32
    logits = memory_plan.logits(shape, work).bytes
    planned = {
        "activations": memory_plan.activations(shape, work, 4).bytes,
        "logits": logits,
        "1 layer recomputed": max(memory_plan.recompute(shape, work, 4) - logits, 0),
        "gradients": shape.params * 4,
    }
    print(json.dumps({"measured": measured, "planned": planned}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] == "1")
