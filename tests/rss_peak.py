"""Measure one SFT-shaped training step's peak memory on the CPU, for tests/test_memory_plan.py.

Run in its own process (`python tests/rss_peak.py <config folder> <checkpointing 0|1>`), because
the kernel's high-water mark of resident memory (`ru_maxrss`) is per process: it is read after a
warm-up step and after the measured step, and the difference is the step's peak above what was
live before (glibc returns large freed blocks to the kernel, so resident memory follows the
allocator). Prints JSON: the measured bytes and the plan's terms for the same step.
"""

from __future__ import annotations

import json
import resource
import sys

import torch
from transformers import AutoConfig, AutoModelForCausalLM
from trl import SFTConfig

from r1lab import memory_plan, model_shape, sft

BATCH, LENGTH = 8, 1024


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


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
    before = peak_rss()
    step(BATCH, LENGTH)
    measured = peak_rss() - before
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
    planned = {
        "activations": memory_plan.activations(shape, work, 4).bytes,
        "logits": memory_plan.logits(shape, work).bytes,
        "gradients": shape.params * 4,
    }
    print(json.dumps({"measured": measured, "planned": planned}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] == "1")
