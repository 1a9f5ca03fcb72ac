"""The `grpo` kind: TRL's GRPOTrainer, with rewards chosen by name in the recipe's `rewards:`.

Run: `r1lab grpo <recipe> [key=value ...]` or `accelerate launch ... -m r1lab.grpo <recipe> ...`.
"""

from __future__ import annotations

import sys
from typing import Any

from r1lab import check, lora, run_dir
from r1lab.errors import exit_on_error
from r1lab.kind import Kind
from r1lab.recipe import Recipe, parse_rewards
from r1lab.train import Run, trainer_kwargs
from r1lab.train import run as run_trainer


def build_trainer(run: Run):
    from trl import GRPOTrainer

    from r1lab.rewards import get_reward

    rewards = [get_reward(spec.name, **spec.params) for spec in run.recipe.reward_specs]
    return GRPOTrainer(reward_funcs=rewards, **trainer_kwargs(run))


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


def main(argv: list[str]) -> int:
    return run_trainer(KIND, build_trainer, argv)


KIND = Kind(
    name="grpo",
    help="run a GRPO recipe in this process",
    module="r1lab.grpo",
    run=main,
    config_class=_config_class,
    finished=run_dir.finished_training,
    sections={"rewards": parse_rewards, "lora": lora.parse_section},
    checks=(
        check.check_group_batch,
        check.check_rewards,
        check.check_reward_columns,
        check.check_answers_are_verified,
        check.check_completion_fits_context,
    ),
    config_extras=reward_weights,
    config_for_processes=generation_batch_for,
    vllm_server=uses_vllm_server,
)


if __name__ == "__main__":
    exit_on_error(lambda: main(sys.argv[1:]))
