"""The `grpo` kind: TRL's GRPOTrainer, with rewards chosen by name in the recipe's `rewards:`.

Run: `r1lab grpo <recipe> [key=value ...]` or `accelerate launch ... -m r1lab.kinds.grpo <recipe> ...`.
"""

from __future__ import annotations

import sys
from typing import Any

from r1lab import lora, run_dir
from r1lab.checks.lengths import check_completion_fits_context
from r1lab.checks.memory import check_memory_plan
from r1lab.checks.rewards import check_answers_are_verified, check_reward_columns, check_rewards
from r1lab.checks.trainer import check_group_batch
from r1lab.errors import exit_on_error
from r1lab.kind import Kind
from r1lab.recipe import Recipe, parse_rewards
from r1lab.train import Run, trainer_kwargs
from r1lab.train import run as run_trainer


def build_trainer(run: Run):
    from trl import GRPOTrainer

    from r1lab import step_time, vllm_sync
    from r1lab.rewards import get_reward

    rewards = [get_reward(spec.name, **spec.params) for spec in run.recipe.reward_specs]
    # colocated vLLM on a CPU (r1lab.vllm_sync): oneDNN unpinned before the engine starts, and
    # weights synced through vLLM's reload, where TRL's per-parameter load fails
    if vllm_sync.colocated_on_cpu(run.recipe.trainer):
        vllm_sync.release_onednn_pin()
    trainer = vllm_sync.install(GRPOTrainer(reward_funcs=rewards, **trainer_kwargs(run)))
    step_time.install(trainer)  # per step: generation, sync, rewards, log-probs, update (logged)
    return trainer


def _config_class() -> type:
    from trl import GRPOConfig

    return GRPOConfig


def reward_weights(recipe: Recipe) -> dict[str, Any]:
    """GRPOConfig's `reward_weights`, in the order `build_trainer` passes the rewards."""
    return {"reward_weights": [spec.weight for spec in recipe.reward_specs]}


def generation_batch_for(kwargs: dict[str, Any], num_processes: int) -> dict[str, Any]:
    """TRL derives the generation batch from the world size it sees (1 when checking); give it
    the batch the N-process run will have, which `check_group_batch` validates."""
    steps = kwargs.pop("steps_per_generation", None) or kwargs.get("gradient_accumulation_steps", 1)
    per_device = kwargs.get("per_device_train_batch_size", 8)
    kwargs.setdefault("generation_batch_size", per_device * num_processes * steps)
    return kwargs


def uses_vllm_server(recipe: Recipe) -> bool:
    """vLLM in server mode: on Slurm, the last node serves generations (slurm/train.slurm)."""
    t = recipe.trainer
    return bool(t.get("use_vllm")) and t.get("vllm_mode", "colocate") == "server"


def workload(recipe: Recipe, config: Any, compute_bytes: int, prompt_tokens: int | None) -> Any:
    """One GRPO step for the memory plan (r1lab.memory_plan): sequences of prompt +
    max_completion_length tokens; logits for the completion tokens only (TRL's logits_to_keep),
    kept with their gradient (TRL's fused log-softmax makes no float32 copy); the reference model
    when beta > 0 (with LoRA the adapter-free model is the reference, no copy)."""
    from r1lab import memory_plan

    prompt = prompt_tokens or memory_plan.DEFAULT_PROMPT_TOKENS
    completion = int(config.max_completion_length)
    accumulation = int(config.gradient_accumulation_steps)
    # the recipe's own value: the config's is derived from the world size it saw (1 when checking)
    per_generation = int(recipe.trainer.get("steps_per_generation") or accumulation)
    lora = bool(recipe.model.get("use_peft"))
    colocate = bool(config.use_vllm) and config.vllm_mode == "colocate"
    old_logps = config.num_iterations > 1 or per_generation > accumulation
    measured = "the longest of the first 256 rows" if prompt_tokens else "assumed, data not here"
    return memory_plan.Workload(
        micro_batch=int(config.per_device_train_batch_size),
        accumulation=accumulation,
        sequence_tokens=prompt + completion,
        logit_tokens=completion,
        logit_bytes=2 * compute_bytes,
        gradient_checkpointing=bool(config.gradient_checkpointing),
        fused_logits=bool(config.use_liger_kernel),
        generated_tokens=completion,
        reference_model=bool(config.beta) and not lora,
        extra_forwards=int(bool(config.beta)) + int(old_logps),
        vllm_colocate_share=float(config.vllm_gpu_memory_utilization) if colocate else None,
        vllm_sleeps=bool(getattr(config, "vllm_enable_sleep_mode", False)),
        generation_sequences=int(config.per_device_train_batch_size) * per_generation,
        max_steps=int(config.max_steps) if config.max_steps > 0 else None,
        assumptions=(
            f"every completion at max_completion_length {completion} (an upper bound)",
            f"prompts of {prompt} tokens ({measured})",
        ),
    )


def main(argv: list[str]) -> int:
    return run_trainer(KIND, build_trainer, argv)


KIND = Kind(
    name="grpo",
    help="run a GRPO recipe in this process",
    module="r1lab.kinds.grpo",
    run=main,
    config_class=_config_class,
    finished=run_dir.finished_training,
    sections={"rewards": parse_rewards, "lora": lora.parse_section},
    checks=(
        check_group_batch,
        check_rewards,
        check_reward_columns,
        check_answers_are_verified,
        check_completion_fits_context,
        check_memory_plan,
    ),
    config_extras=reward_weights,
    config_for_processes=generation_batch_for,
    vllm_server=uses_vllm_server,
    workload=workload,
)


if __name__ == "__main__":
    exit_on_error(lambda: main(sys.argv[1:]))
