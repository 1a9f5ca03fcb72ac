"""Recipe composition: groups, overrides, names, and the errors for bad input."""

from __future__ import annotations

import re

import pytest
import yaml

from r1lab.errors import RecipeError
from r1lab.kind import KINDS
from r1lab.paths import recipes_dir
from r1lab.recipe import (
    Recipe,
    compose,
    flatten,
    from_argv,
    from_dict,
    hydra_value,
    list_recipes,
    normalize_name,
    parse_rewards,
    yaml_error_message,
)


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


# ---- the pieces of composition, called directly -------------------------------------------------


def test_rewards_that_are_not_a_mapping_say_the_group_and_the_one_reward_syntax():
    with pytest.raises(RecipeError) as err:
        parse_rewards("countdown")
    assert str(err.value) == (
        "rewards: expected a mapping of reward name to weight, got 'countdown'. To use a reward "
        "group from recipes/reward/, write `reward@rewards=countdown`; to add one reward, "
        "`+rewards.<name>=<weight>` (e.g. +rewards.countdown=1.0)"
    )


def test_a_reward_weight_is_a_number_given_alone_or_as_weight_else_one():
    specs = parse_rewards(
        {"format": 2, "cosine": {"weight": 0.3, "max_len": 9}, "language": {"language": "en"}}
    )
    assert [(s.name, s.weight, type(s.weight)) for s in specs] == [
        ("format", 2.0, float),
        ("cosine", 0.3, float),
        ("language", 1.0, float),
    ]
    assert specs[1].params == {"max_len": 9, "solution_column": "solution"}
    assert specs[2].params == {"language": "en"}


@pytest.mark.parametrize("weight", [True, "0.5", None])
def test_a_reward_weight_that_is_not_a_number_is_refused(weight):
    with pytest.raises(
        RecipeError, match=rf"^rewards.cosine: weight must be a number, got {weight!r}$"
    ):
        parse_rewards({"cosine": {"weight": weight}})


def test_the_data_solution_column_reaches_every_reward_that_reads_a_reference_unless_it_sets_its_own():
    specs = parse_rewards(
        {"accuracy": 1.0, "cosine": {"solution_column": "gold"}, "format": 0.2},
        {"data": {"solution_column": "answer"}},
    )
    assert [s.params for s in specs] == [
        {"solution_column": "answer"},
        {"solution_column": "gold"},
        {},
    ]


def test_without_a_data_section_references_are_in_the_solution_column_and_a_null_column_adds_none():
    assert parse_rewards({"accuracy": 1.0}, {"data": None})[0].params == {
        "solution_column": "solution"
    }
    assert parse_rewards({"accuracy": 1.0})[0].params == {"solution_column": "solution"}
    assert parse_rewards({"accuracy": 1.0}, {"data": {"solution_column": None}})[0].params == {}


def test_a_recipe_writes_itself_as_name_common_sections_its_own_sections_and_overrides():
    recipe = compose("r1_zero/tiny", ["trainer.max_steps=9"])
    written = recipe.to_dict()
    assert list(written) == [
        "name",
        "kind",
        "accelerate",
        "model",
        "data",
        "trainer",
        "slurm",
        "evaluate",
        *recipe.sections,
        "overrides",
    ]
    assert written["name"] == "r1_zero/tiny" and written["overrides"] == ["trainer.max_steps=9"]
    assert "rewards" in recipe.sections
    assert yaml.safe_load(recipe.to_yaml()) == written


def test_a_written_recipe_read_back_is_the_same_recipe():
    recipe = compose("r1_zero/tiny", ["trainer.max_steps=9", "accelerate=ddp"])
    again = from_dict(recipe.name, yaml.safe_load(recipe.to_yaml()), recipe.overrides)
    assert again == recipe


def test_a_recipe_without_rewards_has_none():
    recipe = Recipe("x", "sft", {}, {}, {})
    assert (recipe.rewards, recipe.reward_specs, recipe.accelerate) == ({}, [], "cpu")
    assert (recipe.slurm, recipe.evaluate, recipe.overrides) == ({}, {}, [])


def test_runnable_recipes_are_the_yaml_files_in_subfolders_other_than_the_groups(
    tmp_path, monkeypatch
):
    for rel in (
        "top.yaml",
        "a/b.yaml",
        "a/notes.txt",
        "c/d/e.yaml",
        "model/m.yaml",
        "hydra/h.yaml",
    ):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("kind: sft\n")
    monkeypatch.setenv("R1LAB_RECIPES", str(tmp_path))
    assert list_recipes() == ["a/b", "c/d/e"]


@pytest.mark.parametrize(
    "given",
    ["r1_zero/tiny", "r1_zero/tiny.yml", "recipes/r1_zero/tiny.yaml", "{root}/r1_zero/tiny.yaml"],
)
def test_a_recipe_name_may_be_its_file(given):
    assert normalize_name(given.format(root=recipes_dir())) == "r1_zero/tiny"


def test_an_absolute_path_outside_the_recipes_stays_as_it_is():
    assert normalize_name("/elsewhere/x.yaml") == "/elsewhere/x"


@pytest.mark.parametrize(
    "value, text",
    [
        (True, "true"),
        (False, "false"),
        (None, "null"),
        (3, "3"),
        (2.5e-7, "2.5e-07"),
        ([1, "a b", False], "[1,'a b',false]"),
        ({"k": "it's", "n": [2, None]}, "{k:'it\\'s',n:[2,null]}"),
        ("end\\", "'end\\\\'"),
        ("a\\b", "'a\\b'"),  # Hydra unescapes a backslash only before a quote or at the end
        ("C:\\runs\\it's", "'C:\\runs\\it\\'s'"),
        ("a\\'b", "'a\\\\\\'b'"),
        ("1e-3", "'1e-3'"),
    ],
)
def test_a_value_written_as_an_override_composes_back_to_the_same_value(value, text):
    assert hydra_value(value) == text
    assert compose("base/tiny", [f"trainer.note={hydra_value(value)}"]).trainer["note"] == value


def test_nested_overrides_flatten_to_dotted_keys_and_an_empty_mapping_stays_one_value():
    assert flatten("", {"trainer": {"max_steps": 5, "opt": {"lr": 0.1}}, "x": {}}) == [
        ("trainer.max_steps", 5),
        ("trainer.opt.lr", 0.1),
        ("x", {}),
    ]
    assert flatten("stages", {"a": 1}) == [("stages.a", 1)]


def yaml_error(text: str) -> yaml.YAMLError:
    with pytest.raises(yaml.YAMLError) as err:
        yaml.safe_load(text)
    return err.value


def test_a_yaml_error_names_the_line_and_column_counted_from_one_and_what_is_wrong():
    # line 2 is `  b: 2`; its colon, the 4th character, is where a mapping may not start
    assert yaml_error_message(yaml_error("a: 1\n  b: 2\n")) == (
        "<unicode string>:2:4: invalid YAML: mapping values are not allowed here. Check the "
        "indentation and that brackets and quotes are closed on that line or the one before"
    )


def test_a_yaml_error_says_what_the_parser_was_doing():
    # the bracket opened on line 2 is still open at line 3's colon, its 2nd character
    assert yaml_error_message(yaml_error("a: 1\nb: [2, 3\nc: 4\n")).startswith(
        "<unicode string>:3:2: invalid YAML: expected ',' or ']', but got ':' (while parsing a "
        "flow sequence). Check"
    )


def test_a_yaml_error_without_a_place_says_a_recipe_file():
    assert yaml_error_message(yaml.YAMLError("boom")).startswith(
        "a recipe file: invalid YAML: boom. "
    )


def test_a_recipe_file_that_is_not_yaml_is_named_with_its_line(tmp_path, monkeypatch):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "bad.yaml").write_text("kind: sft\nmodel: {a: 1\ntrainer: {}\n")
    monkeypatch.setenv("R1LAB_RECIPES", str(tmp_path))
    with pytest.raises(RecipeError, match=r"bad.yaml:\d+:\d+: invalid YAML: "):
        compose("x/bad")


def test_an_unknown_recipe_lists_where_recipes_are_and_which_there_are():
    with pytest.raises(RecipeError) as err:
        compose("nothing/like/it")
    text = str(err.value)
    assert text.startswith(
        f"unknown recipe 'nothing/like/it'. Recipes are YAML files under {recipes_dir()}"
    )
    assert "available: " in text and "base/tiny" in text.split("available: ")[1]


def test_a_hydra_or_interpolation_error_names_the_recipe_and_the_overrides():
    for override in ("model=no_such_group", "trainer.note=${no_such_key}"):
        with pytest.raises(
            RecipeError, match=rf"^recipe 'base/tiny' with overrides \['{re.escape(override)}'\]: "
        ):
            compose("base/tiny", [override])


def test_composition_works_where_hydra_was_left_initialised_and_leaves_it_uninitialised():
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    initialize_config_dir(config_dir=str(recipes_dir()), version_base="1.3")  # as a caller may
    assert GlobalHydra.instance().is_initialized()
    assert compose("base/tiny").name == "base/tiny"
    assert not GlobalHydra.instance().is_initialized()


def test_a_dotted_key_with_dashes_is_added_and_an_undotted_new_key_is_left_to_hydra():
    assert compose("base/tiny", ["trainer.my-note=7"]).trainer["my-note"] == 7
    with pytest.raises(
        RecipeError, match=r"^recipe 'base/tiny' with overrides \['extra_top=1'\]: "
    ):
        compose("base/tiny", ["extra_top=1"])  # Hydra refuses a new key without + or ++


def test_a_pipeline_stage_outputs_follow_the_pipelines_output_dir_before_interpolation():
    recipe = compose("r1/tiny", ["trainer.output_dir=/out/p"])
    stages = {s.name: s for s in recipe.parsed["stages"]}
    assert stages["sft"].output == "/out/p/sft"
    assert (
        "model.model_name_or_path='/out/p/reasoning_rl'" in stages["rejection_sampling"].overrides
    )
    assert stages["base"].output == "runs/base/tiny"  # given in the recipe


def test_a_stage_free_kind_gets_empty_model_data_and_trainer_sections():
    recipe = from_dict(
        "p", {"kind": "pipeline", "stages": {"a": {"recipe": "base/tiny", "output": "o"}}}
    )
    assert (recipe.model, recipe.data, recipe.trainer) == ({}, {}, {})


def test_a_trainer_kind_without_a_model_section_is_refused():
    for missing in ("model", "data", "trainer"):
        data = {"kind": "sft", "model": {"a": 1}, "data": {"source": "x"}, "trainer": {}}
        data[missing] = "oops"
        with pytest.raises(
            RecipeError, match=rf"^recipe 'x': section '{missing}:' is missing or not a mapping$"
        ):
            from_dict("x", data)


def test_a_recipe_of_an_unknown_kind_is_named():
    with pytest.raises(RecipeError, match=r"^recipe 'x': .*kind.*'sftt'"):
        from_dict("x", {"kind": "sftt"})


def test_the_name_and_overrides_a_written_recipe_holds_are_not_sections():
    data = {
        "kind": "sft",
        "model": {},
        "data": {},
        "trainer": {},
        "name": "y",
        "overrides": ["a=1"],
    }
    recipe = from_dict("x", data, ["b=2"])
    assert (recipe.name, recipe.overrides) == ("x", ["b=2"])
    assert data["name"] == "y"  # the caller's mapping is left alone


def test_every_section_of_the_kind_is_parsed_even_when_absent():
    recipe = from_dict("x", {"kind": "grpo", "model": {}, "data": {}, "trainer": {}, "slurm": None})
    assert recipe.sections == {} and recipe.parsed["rewards"] == []
    assert recipe.slurm == {} and recipe.accelerate == "cpu"


def test_another_kinds_section_names_its_kinds_and_the_fix():
    with pytest.raises(RecipeError) as err:
        from_dict("x", {"kind": "sft", "model": {}, "data": {}, "trainer": {}, "stages": {}})
    assert str(err.value) == (
        "recipe 'x': kind sft has no 'stages:' section (only pipeline recipes do); remove it, "
        "or set kind: pipeline"
    )


def test_a_kind_command_takes_a_recipe_its_overrides_and_fresh_anywhere(capsys):
    recipe, fresh = from_argv("sft", "train", ["base/tiny", "--fresh", "trainer.max_steps=4"])
    assert (recipe.name, recipe.overrides, fresh) == ("base/tiny", ["trainer.max_steps=4"], True)
    assert from_argv("sft", "train", ["base/tiny"])[1] is False
    for flag in ("-h", "--help"):
        assert from_argv("sft", "train a model", [flag]) is None
        assert capsys.readouterr().out == (
            "usage: r1lab sft <recipe> [key=value ...] [--fresh]   (train a model)\n"
        )


@pytest.mark.parametrize("argv", [[], ["--fresh"], ["-x", "base/tiny"]])
def test_a_kind_command_without_a_recipe_shows_its_usage(argv):
    with pytest.raises(RecipeError) as err:
        from_argv("grpo", "rl", argv)
    assert str(err.value) == (
        "usage: r1lab grpo <recipe> [key=value ...] [--fresh]   (rl)"
        "   --fresh: delete the output dir's earlier run first"
    )
