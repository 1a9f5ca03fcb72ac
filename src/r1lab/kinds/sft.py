"""The `sft` kind: TRL's SFTTrainer, for cold-start and distillation stages and the tiny base model.

Run: `r1lab sft <recipe> [key=value ...]` or `accelerate launch ... -m r1lab.kinds.sft <recipe> ...`.
"""

from __future__ import annotations

import sys
from typing import Any

from r1lab import lora, run_dir
from r1lab.checks.lengths import check_max_length_fits_context
from r1lab.checks.memory import check_memory_plan
from r1lab.errors import exit_on_error
from r1lab.kind import Kind
from r1lab.recipe import Recipe
from r1lab.train import Run, trainer_kwargs
from r1lab.train import run as run_trainer


def build_trainer(run: Run):
    from trl import SFTTrainer

    return SFTTrainer(**trainer_kwargs(run))


def _config_class() -> type:
    from trl import SFTConfig

    return SFTConfig


def main(argv: list[str]) -> int:
    return run_trainer(KIND, build_trainer, argv)


def workload(recipe: Recipe, config: Any, compute_bytes: int, prompt_tokens: int | None) -> Any:
    """One SFT step for the memory plan (r1lab.memory_plan): sequences of max_length tokens (packed:
    exactly; else at most), logits for every position, and transformers' loss on them: the logits,
    their float32 copy, log-softmax's output and its gradient."""
    from r1lab import memory_plan

    length = int(config.max_length)
    upcast = 4 if compute_bytes < 4 else 0
    packed = "packed" if config.packing else "every sequence at max_length (an upper bound)"
    return memory_plan.Workload(
        micro_batch=int(config.per_device_train_batch_size),
        accumulation=int(config.gradient_accumulation_steps),
        sequence_tokens=length,
        logit_tokens=length,
        logit_bytes=compute_bytes + upcast + 4 + 4,
        gradient_checkpointing=bool(config.gradient_checkpointing),
        fused_logits=bool(config.use_liger_kernel),
        max_steps=int(config.max_steps) if config.max_steps > 0 else None,
        assumptions=(f"sequences of {length} tokens ({packed})",),
    )


KIND = Kind(
    name="sft",
    help="run an SFT recipe in this process",
    module="r1lab.kinds.sft",
    run=main,
    config_class=_config_class,
    finished=run_dir.finished_training,
    sections={"lora": lora.parse_section},
    checks=(check_max_length_fits_context, check_memory_plan),
    trains_on_completions=True,
    workload=workload,
)


if __name__ == "__main__":
    exit_on_error(lambda: main(sys.argv[1:]))
