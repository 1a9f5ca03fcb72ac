"""GRPO through TRL's GRPOTrainer, with rewards chosen by name in the recipe.

Run: `r1lab grpo <recipe> [key=value ...]` or `accelerate launch ... -m r1lab.grpo <recipe> ...`.
"""

from __future__ import annotations

from r1lab.check import parse_rewards
from r1lab.train import Run, main, trainer_kwargs


def build_trainer(run: Run):
    from trl import GRPOTrainer

    from r1lab.rewards import get_reward

    rewards = [get_reward(name, **params) for name, _, params in parse_rewards(run.recipe.rewards)]
    return GRPOTrainer(reward_funcs=rewards, **trainer_kwargs(run))


if __name__ == "__main__":
    main("grpo", build_trainer)
