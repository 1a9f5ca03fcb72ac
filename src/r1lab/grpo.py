"""GRPO through TRL's GRPOTrainer, with rewards chosen by name in the recipe.

Run: `r1lab grpo <recipe> [key=value ...]` or `accelerate launch ... -m r1lab.grpo <recipe> ...`.
"""

from __future__ import annotations

from r1lab.train import Run, callbacks, main


def build_trainer(run: Run):
    from trl import GRPOTrainer, get_peft_config, get_quantization_config

    from r1lab.check import parse_rewards
    from r1lab.rewards import get_reward

    reward_funcs = [
        get_reward(name, **params) for name, _, params in parse_rewards(run.recipe.rewards)
    ]
    return GRPOTrainer(
        model=run.model_args.model_name_or_path,
        reward_funcs=reward_funcs,
        args=run.args,
        train_dataset=run.train_dataset,
        peft_config=get_peft_config(run.model_args),
        quantization_config=get_quantization_config(run.model_args),
        callbacks=callbacks(),
    )


if __name__ == "__main__":
    main("grpo", build_trainer)
