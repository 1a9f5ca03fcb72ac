"""`r1lab evaluate`'s recipes: a training recipe's held-out split as a benchmark (its verifier, its
sampling, where it writes) and an evaluate recipe with the command line's options."""

from __future__ import annotations

from pathlib import Path

import pytest

from r1lab.data import DataConfig
from r1lab.errors import RecipeError
from r1lab.heldout import (
    EvalConfig,
    default_model,
    evaluate_recipe,
    heldout_recipe,
    verifier_for,
    with_arguments,
)
from r1lab.recipe import Recipe, RewardSpec, parse_rewards


def training_recipe(
    tmp_path: Path,
    data: dict | None = None,
    rewards: dict | None = None,
    evaluate: dict | None = None,
    output_dir: str | None = None,
) -> Recipe:
    """A GRPO recipe on the arithmetic task, its run in tmp_path unless `output_dir` says."""
    data = {"source": "tasks/arithmetic", "test_size": 50, "template": "r1_zero"} | (data or {})
    rewards = {"accuracy": 1.0, "format": 0.2} if rewards is None else rewards
    return Recipe(
        name="r1_zero/t",
        kind="grpo",
        model={"model_name_or_path": "runs/base/t", "dtype": "float32"},
        data=data,
        trainer={"output_dir": output_dir or str(tmp_path / "run")},
        accelerate="cpu",
        slurm={"partition": "gpu"},
        evaluate=evaluate or {},
        sections={"rewards": rewards},
        parsed={"rewards": parse_rewards(rewards, {"data": data})},
        overrides=["trainer.max_steps=3"],
    )


def bench_of(made: dict) -> tuple[str, dict]:
    ((name, bench),) = made["benchmarks"].items()
    return name, bench


def _verifier(specs, data=None, **evaluate) -> RewardSpec:
    data = DataConfig.from_recipe({"source": "tasks/arithmetic"} | (data or {}))
    return verifier_for(specs, data, EvalConfig.from_recipe(evaluate))


# the verifier


def test_evaluate_reward_must_be_a_verifier():
    with pytest.raises(RecipeError, match="evaluate.reward=format does not judge answers") as err:
        _verifier([], reward="format")
    assert "accuracy, choice, code, countdown" in str(err.value)


def test_evaluate_reward_picks_the_verifier_with_the_recipes_parameters_for_it():
    code = RewardSpec("code", 0.5, {"timeout": 3})
    accuracy = RewardSpec("accuracy", 1.0, {"solution_column": "answer"})
    assert _verifier([accuracy, code], reward="code") is code


def test_a_synthetic_task_is_judged_by_its_own_verifier_before_the_recipes_first():
    accuracy = RewardSpec("accuracy", 1.0, {"solution_column": "solution"})
    countdown = RewardSpec("countdown", 1.0, {"x": 1})
    assert _verifier([accuracy, countdown], {"source": "tasks/countdown"}) is countdown
    # the task's verifier though the recipe has no such reward: no parameters it cannot take
    alone = _verifier([accuracy], {"source": "tasks/countdown"})
    assert alone == RewardSpec("countdown", 1.0, {})


def test_a_file_is_judged_by_the_recipes_first_verifying_reward():
    fmt, length = RewardSpec("format", 0.2, {}), RewardSpec("length", 0.1, {})
    code = RewardSpec("code", 1.0, {"timeout": 3})
    choice = RewardSpec("choice", 1.0, {})
    assert _verifier([fmt, length, code, choice], {"source": "my/file.jsonl"}) is code


def test_with_no_verifying_reward_accuracy_reads_the_datas_solution_column():
    spec = _verifier(
        [RewardSpec("format", 0.2, {})], {"source": "f.jsonl", "solution_column": "ans"}
    )
    assert spec == RewardSpec("accuracy", 1.0, {"solution_column": "ans"})


# the held-out recipe


def test_the_heldout_benchmark_is_the_recipes_test_split_asked_and_graded_as_in_training(
    tmp_path,
):
    data = {"question_column": "problem", "solution_column": "answer"}
    recipe = training_recipe(tmp_path, data, evaluate={"k": 4, "greedy": False, "budgets": [8]})
    made = heldout_recipe(recipe, "m")
    name, bench = bench_of(made)
    assert name == "heldout" and made["kind"] == "evaluate"
    assert bench["style"] == "task" and bench["split"] == "test"
    assert bench["data"] == recipe.data and bench["data"] is not recipe.data
    assert bench["question_column"] == "problem" and bench["template"] == "r1_zero"
    assert bench["k"] == 4 and bench["greedy"] is False and bench["budgets"] == [8]
    assert bench["verifier"] == "accuracy"
    assert bench["verifier_params"] == {"solution_column": "answer"}
    # a copy: the evaluate recipe never writes into the training recipe's reward
    bench["verifier_params"]["x"] = 1
    assert recipe.reward_specs[0].params == {"solution_column": "answer"}
    validation = heldout_recipe(training_recipe(tmp_path, evaluate={"split": "validation"}))
    assert bench_of(validation)[1]["split"] == "validation"


def test_the_model_evaluated_keeps_the_recipes_model_settings(tmp_path):
    recipe = training_recipe(tmp_path)
    made = heldout_recipe(recipe, "other/model")
    assert made["model"] == {"model_name_or_path": "other/model", "dtype": "float32"}
    assert recipe.model["model_name_or_path"] == "runs/base/t"
    assert made["accelerate"] == "cpu" and made["slurm"] == {"partition": "gpu"}


def test_command_line_options_override_the_evaluate_section_and_none_keeps_it(tmp_path):
    recipe = training_recipe(tmp_path, evaluate={"k": 4, "temperature": 1.0})
    made = heldout_recipe(recipe, "m", k=2, temperature=None, num_problems=None)
    assert bench_of(made)[1]["k"] == 2 and made["generate"]["temperature"] == 1.0
    assert bench_of(made)[1]["data"]["test_size"] == 50


def test_num_problems_draws_the_test_split_at_that_size(tmp_path):
    recipe = training_recipe(tmp_path, evaluate={"num_problems": 20})
    assert bench_of(heldout_recipe(recipe, "m"))[1]["data"]["test_size"] == 20
    assert bench_of(heldout_recipe(recipe, "m", num_problems=7))[1]["data"]["test_size"] == 7
    assert recipe.data["test_size"] == 50  # the training recipe is left as it was


def test_generate_takes_the_evaluate_sampling_with_the_backends_own_settings_last(tmp_path):
    section = {
        "backend": "openai",
        "temperature": 0.7,
        "top_p": 0.9,
        "max_new_tokens": 99,
        "seed": 3,
        "shard_size": 11,
        "batch_size": 5,
        "generate": {"base_url": "http://x", "batch_size": 6},
    }
    made = heldout_recipe(training_recipe(tmp_path, evaluate=section), "m")
    assert made["generate"] == {
        "backend": "openai",
        "temperature": 0.7,
        "top_p": 0.9,
        "max_new_tokens": 99,
        "seed": 3,
        "shard_size": 11,
        "batch_size": 6,
        "base_url": "http://x",
    }


def test_results_go_beside_the_run_named_for_the_model_or_where_out_says(tmp_path):
    recipe = training_recipe(tmp_path)
    own = heldout_recipe(recipe)
    assert own["trainer"]["output_dir"] == str(tmp_path / "run" / "heldout")
    assert own["model"]["model_name_or_path"] == "runs/base/t"  # no trained model saved yet
    other = heldout_recipe(recipe, "some/models/ckpt-7/")
    assert other["trainer"]["output_dir"] == str(tmp_path / "run" / "heldout-ckpt-7")
    assert bench_of(other)[0] == "heldout"
    given = heldout_recipe(recipe, "some/ckpt", out=str(tmp_path / "eval" / "before.json"))
    assert given["trainer"]["output_dir"] == str(tmp_path / "eval")
    assert bench_of(given)[0] == "before"


def test_a_recipe_whose_data_holds_its_own_prompts_cannot_be_evaluated(tmp_path):
    recipe = training_recipe(tmp_path, {"template": "none"})
    with pytest.raises(RecipeError, match="recipe 'r1_zero/t': data.template=none") as err:
        heldout_recipe(recipe, "m")
    # what to do about it
    assert str(err.value).endswith(
        "cannot be evaluated as a held-out benchmark; give the recipe a template "
        "(r1_zero, r1_zero_chat, chat)"
    )


def test_the_evaluate_recipe_is_validated_under_the_training_recipes_name(tmp_path):
    made = evaluate_recipe(training_recipe(tmp_path), "m", str(tmp_path / "e" / "before.json"), k=3)
    assert made.kind == "evaluate" and made.name == "r1_zero/t"
    assert made.model["model_name_or_path"] == "m"
    assert made.output_dir == str(tmp_path / "e")
    assert made.overrides == ["trainer.max_steps=3"]
    (bench,) = made.parsed["benchmarks"]
    assert bench.name == "before" and bench.k == 3


def test_the_default_model_is_the_trained_one_once_the_run_saved_it(tmp_path):
    recipe = training_recipe(tmp_path)
    out = tmp_path / "run"
    assert default_model(recipe) == "runs/base/t"
    out.mkdir()
    (out / "adapter_config.json").write_text("{}")
    assert default_model(recipe) == str(out)  # a LoRA adapter: merged on load
    (out / "adapter_config.json").unlink()
    (out / "config.json").write_text("{}")
    assert default_model(recipe) == str(out)


# an evaluate recipe with the command line's options


def evaluate_r1(output_dir: str | None = None, benchmarks=None) -> Recipe:
    benchmarks = benchmarks or {"aime24": {"k": 64, "template": "chat"}, "math_500": None}
    return Recipe(
        name="evaluate/r1",
        kind="evaluate",
        model={"model_name_or_path": "deepseek/r1", "dtype": "bfloat16"},
        data={},
        trainer={"output_dir": output_dir} if output_dir else {},
        sections={"generate": {"temperature": 0.6, "top_p": 0.95}, "benchmarks": benchmarks},
    )


def test_a_model_on_the_command_line_gets_its_own_output_dir_unless_the_recipe_sets_one():
    data = with_arguments(evaluate_r1(), "/ckpts/my-model/", None)
    assert data["model"] == {"model_name_or_path": "/ckpts/my-model/", "dtype": "bfloat16"}
    assert data["trainer"]["output_dir"] == "runs/evaluate/r1/my-model"
    kept = with_arguments(evaluate_r1("runs/mine"), "/ckpts/my-model", None)
    assert kept["trainer"]["output_dir"] == "runs/mine"
    assert with_arguments(evaluate_r1(), None, None)["model"]["model_name_or_path"] == "deepseek/r1"
    assert with_arguments(evaluate_r1(), None, None)["trainer"] == {}


def test_benchmarks_on_the_command_line_replace_the_recipes_and_keep_their_settings():
    data = with_arguments(evaluate_r1(), None, ["aime24", "gpqa_diamond"])
    assert data["benchmarks"] == {"aime24": {"k": 64, "template": "chat"}, "gpqa_diamond": {}}
    every = with_arguments(evaluate_r1(), None, None)
    assert every["benchmarks"] == {"aime24": {"k": 64, "template": "chat"}, "math_500": None}
    listed = with_arguments(evaluate_r1(benchmarks=["aime24", "aime25"]), None, None)
    assert listed["benchmarks"] == {"aime24": {}, "aime25": {}}


def test_a_template_goes_to_the_benchmarks_that_set_none():
    data = with_arguments(evaluate_r1(), None, None, "r1_zero")
    assert data["benchmarks"] == {
        "aime24": {"k": 64, "template": "chat"},
        "math_500": {"template": "r1_zero"},
    }


def test_k_problems_budgets_and_temperature_apply_to_every_benchmark():
    data = with_arguments(
        evaluate_r1(), None, None, k=4, num_problems=10, temperature=1.0, budgets=[16, 32]
    )
    expected = {"k": 4, "num_problems": 10, "budgets": [16, 32]}
    assert data["benchmarks"] == {
        "aime24": {"template": "chat", **expected},
        "math_500": expected,
    }
    assert data["generate"] == {"temperature": 1.0, "top_p": 0.95}
    only_k = with_arguments(evaluate_r1(), None, None, k=2)
    assert only_k["benchmarks"] == {"aime24": {"k": 2, "template": "chat"}, "math_500": {"k": 2}}
    assert only_k["generate"] == {"temperature": 0.6, "top_p": 0.95}
    bare = evaluate_r1()
    bare.sections.pop("generate")
    assert with_arguments(bare, None, None, temperature=0.3)["generate"] == {"temperature": 0.3}
