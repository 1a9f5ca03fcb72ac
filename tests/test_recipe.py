"""Recipe composition: groups, overrides, names, and the errors for bad input."""

from __future__ import annotations

import pytest

from r1lab.errors import RecipeError
from r1lab.kind import KINDS
from r1lab.recipe import compose, list_recipes


def test_every_recipe_composes_into_sections():
    names = list_recipes()
    assert {"base/tiny", "r1_zero/tiny", "r1_zero/qwen2.5-math-7b"} <= set(names)
    for name in names:
        recipe = compose(name)
        assert recipe.kind in KINDS
        if KINDS[recipe.kind].common_sections:  # a pipeline has stages instead
            assert recipe.model["model_name_or_path"]
        else:
            assert recipe.parsed["stages"]
        assert recipe.output_dir, name


def test_output_dir_defaults_to_runs_slash_name_and_follows_an_override():
    assert compose("r1_zero/tiny").output_dir == "runs/r1_zero/tiny"
    assert compose("base/tiny").output_dir == "runs/base/tiny"
    assert compose("r1_zero/tiny", ["trainer.output_dir=/x/y"]).output_dir == "/x/y"


def test_groups_and_self_merge_in_order():
    recipe = compose("r1_zero/tiny")
    assert recipe.trainer["use_cpu"] is True  # from trainer/cpu.yaml
    assert recipe.trainer["per_device_train_batch_size"] == 64  # from the recipe itself
    assert recipe.rewards == {"accuracy": 1.0, "format": 0.2}  # reward/r1_zero.yaml at `rewards`
    assert recipe.model["model_name_or_path"] == "runs/base/tiny"  # recipe overrides the group


def test_overrides_set_existing_and_new_keys_and_groups():
    recipe = compose(
        "r1_zero/tiny",
        [
            "trainer.learning_rate=1e-6",
            "trainer.beta=0.04",
            "model=qwen2.5-math-7b",
            "rewards.format=0.5",
        ],
    )
    assert recipe.trainer["learning_rate"] == pytest.approx(1e-6)
    assert recipe.trainer["beta"] == pytest.approx(0.04)
    assert (
        recipe.model["model_name_or_path"] == "runs/base/tiny"
    )  # the recipe's own value still wins
    assert recipe.model["dtype"] == "bfloat16"  # ... over the swapped group
    assert recipe.rewards["format"] == pytest.approx(0.5)


def test_name_forms_are_accepted():
    assert compose("recipes/r1_zero/tiny.yaml").name == "r1_zero/tiny"


def test_unknown_recipe_names_the_closest():
    with pytest.raises(RecipeError, match="did you mean 'r1_zero/tiny'"):
        compose("r1_zero/tiyn")


def test_unknown_top_level_key():
    with pytest.raises(
        RecipeError, match="top level: unknown key 'trainr'.*did you mean 'trainer'"
    ):
        compose("base/tiny", ["+trainr.x=1"])


def test_override_without_equals_sign():
    with pytest.raises(RecipeError, match="not key=value"):
        compose("base/tiny", ["trainer.max_steps"])


def test_tiny_model_path_follows_the_cache(r1lab_cache):
    assert compose("base/tiny").model["model_name_or_path"] == str(r1lab_cache / "tiny")


def test_scalar_top_level_overrides_even_where_a_folder_has_the_name():
    # recipes/accelerate/ holds files, which Hydra would otherwise treat as a config group
    assert compose("r1_zero/tiny", ["accelerate=ddp"]).accelerate == "ddp"
    assert compose("base/tiny", ["kind=grpo"]).kind == "grpo"


def test_a_section_of_another_kind_is_refused_with_the_fix():
    with pytest.raises(RecipeError, match="kind sft has no 'rewards:' section .only grpo"):
        compose("r1_zero/tiny", ["kind=sft"])


def test_rewards_given_as_a_group_name_says_the_group_syntax():
    with pytest.raises(RecipeError, match="write `reward@rewards=countdown`"):
        compose("r1_zero/tiny", ["rewards=countdown"])


def test_reward_specs_are_parsed_once_into_typed_values():
    recipe = compose("r1_zero/tiny", ["+rewards.cosine={weight: 0.5, max_len: 9}"])
    specs = {s.name: s for s in recipe.reward_specs}
    assert specs["accuracy"].weight == 1.0
    assert specs["accuracy"].params == {"solution_column": "solution"}  # from data.solution_column
    assert specs["cosine"].weight == 0.5
    assert specs["cosine"].params == {"max_len": 9, "solution_column": "solution"}
    with pytest.raises(RecipeError, match="rewards.format: weight must be a number"):
        compose("r1_zero/tiny", ["rewards.format=high"])
