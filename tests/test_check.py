"""`r1lab check`: each early error, with a message that says what to change, before any model loads."""

from __future__ import annotations

import pytest

from r1lab.checks.run import check
from r1lab.recipe import compose

from conftest import run_r1lab


def errors(name: str, *overrides: str, **kw) -> str:
    return "\n".join(check(compose(name, list(overrides)), **kw).errors)


def test_tiny_recipes_pass(tiny_model):
    assert errors("base/tiny") == ""


def test_unknown_trainer_key_names_the_closest():
    assert (
        "trainer.learning_rat: SFTConfig has no field 'learning_rat' (did you mean 'learning_rate'?)"
        in errors("base/tiny", "trainer.learning_rat=1e-5")
    )


def test_unknown_model_and_data_keys():
    assert "did you mean 'dtype'" in errors("base/tiny", "model.dtyp=float32")
    assert "did you mean 'train_size'" in errors("base/tiny", "data.train_sise=10")


def test_grpo_batch_that_cannot_split_into_groups_says_what_works():
    msg = errors(
        "r1_zero/qwen2.5-math-7b",
        "trainer.per_device_train_batch_size=3",
        "trainer.gradient_accumulation_steps=1",
    )
    assert "3 completions per device x 8 process(es) x 1 step(s) = 24 completions" in msg
    assert "num_generations=16" in msg
    assert "per_device_train_batch_size in [2, 4, 6, 8" in msg
    assert "num_generations in [2, 3, 4, 6, 8, 12]" in msg
    # the same batch with 4 accumulation steps (96 completions) splits into groups of 16
    assert "GRPO batch" not in errors(
        "r1_zero/qwen2.5-math-7b", "trainer.per_device_train_batch_size=3"
    )


def test_batch_check_uses_the_number_of_processes():
    ok = check(compose("r1_zero/tiny", ["trainer.per_device_train_batch_size=12"]), num_processes=2)
    assert not [e for e in ok.errors if "GRPO batch" in e]
    bad = check(
        compose("r1_zero/tiny", ["trainer.per_device_train_batch_size=12"]), num_processes=1
    )
    assert any("GRPO batch" in e for e in bad.errors)


def test_unknown_reward_lists_known_ones():
    msg = errors("r1_zero/tiny", "+rewards.acuracy=1.0")
    assert "rewards.acuracy" in msg and "accuracy" in msg.split("rewards.acuracy", 1)[1]


def test_missing_dataset_column_for_a_reward():
    msg = errors("r1_zero/tiny", "+rewards.countdown=1.0")
    assert "rewards.countdown needs dataset column(s) ['nums', 'target']" in msg


def test_cpu_recipe_with_bf16_or_checkpointing_is_rejected():
    msg = errors("base/tiny", "trainer.bf16=true", "trainer.gradient_checkpointing=true")
    assert (
        "16x slower" in msg
        and "trainer.bf16=false" in msg
        and "trainer.gradient_checkpointing=false" in msg
    )
    on = errors("base/tiny", "trainer.activation_checkpointing=true")
    assert "trainer.activation_checkpointing=false" in on
    assert "16x slower" not in errors("base/tiny")


def test_prompt_plus_completion_longer_than_the_context(tiny_model, tmp_path):
    # the tiny model has a 256-token context; base/tiny prompts are ~90 tokens
    msg = errors(
        "r1_zero/tiny",
        f"model.model_name_or_path={tiny_model}",
        "trainer.max_completion_length=400",
    )
    assert "exceeds the model's context of 256 tokens" in msg
    assert "max_completion_length<=" in msg


def test_missing_local_model_says_how_to_make_it():
    msg = errors("r1_zero/tiny", "model.model_name_or_path=runs/nowhere/model")
    assert "no model at 'runs/nowhere/model'" in msg and "run that recipe first" in msg
    assert "relative to the current directory" in msg


def test_full_scale_recipe_is_accepted_offline_with_skips():
    report = check(compose("r1_zero/qwen2.5-math-7b"))
    assert report.errors == []
    skipped = "\n".join(report.skipped)
    assert "Qwen/Qwen2.5-Math-7B" in skipped and "Hub" in skipped


def test_cli_exit_code_and_message():
    proc = run_r1lab("check", "base/tiny", "trainer.learning_rat=1")
    assert proc.returncode == 2
    assert "did you mean 'learning_rate'" in proc.stdout
    ok = run_r1lab("check", "r1_zero/qwen2.5-math-7b")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "skipped" in ok.stdout


@pytest.mark.parametrize(
    "override", ["trainer.num_generations=1", "trainer.per_device_train_batch_size=7"]
)
def test_trainers_refuse_before_loading_a_model(override, tmp_path):
    """`r1lab grpo` runs the same checks first: exit 2 with the message, no output dir made."""
    out = tmp_path / "out"
    proc = run_r1lab("grpo", "r1_zero/tiny", override, f"trainer.output_dir={out}")
    assert proc.returncode == 2
    assert "error:" in proc.stderr and "GRPO" in proc.stderr
    assert not out.exists()


def test_evaluation_size_larger_than_the_test_split_is_caught_early():
    msg = errors("base/tiny", "+evaluate.num_problems=900")  # ~780 there
    assert "too few distinct test problems for size=900" in msg


def test_test_split_size_without_an_evaluate_section_is_checked_too():
    # base/tiny has no evaluate: section, so `r1lab evaluate` draws data.test_size problems
    assert "too few distinct test problems for size=900" in errors(
        "base/tiny", "data.test_size=900"
    )
