"""Rule-based rewards for GRPO, by name: `get_reward("accuracy")`, `get_reward("format")`, ...

Every reward is a TRL reward function (`completions`, `prompts`, `completion_ids`, dataset
columns as keyword arguments) returning one finite float, or None where a sample cannot be
judged, per completion. See docs/rewards.md for the table of rewards and their parameters.
"""

from r1lab.rewards.registry import (
    RewardError,
    accepts,
    get_reward,
    is_verifier,
    register_built_in,
    required_columns,
    reward_names,
    verifier_names,
)

register_built_in()  # the modules of registry.BUILT_IN, each registering its rewards

__all__ = [
    "RewardError",
    "accepts",
    "get_reward",
    "is_verifier",
    "required_columns",
    "reward_names",
    "verifier_names",
]
