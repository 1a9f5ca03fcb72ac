"""Each check function called directly on a composed recipe (fast: no subprocess, no model built),
so that a check that stops refusing what it should is caught (mutmut sees these calls)."""

from __future__ import annotations

import pytest

from r1lab.checks.context import Context
from r1lab.errors import RecipeError
from r1lab.kind import get_kind
from r1lab.recipe import compose


def context(name: str, *overrides: str, drop: tuple[str, ...] = (), **kw) -> Context:
    """The check context of recipe `name` with `overrides`, less the trainer keys in `drop`."""
    recipe = compose(name, list(overrides))
    for key in drop:
        del recipe.trainer[key]
    return Context(recipe, get_kind(recipe.kind), **kw)


def findings(check_fn, ctx) -> list[tuple[str, str]]:
    """(status, message) of each finding, in order."""
    return [(f.status, f.message) for f in check_fn(ctx) or ()]


def refusal(check_fn, ctx) -> str:
    with pytest.raises(RecipeError) as err:
        list(check_fn(ctx) or ())
    return str(err.value)


# ---- trainer.py ---------------------------------------------------------------------------------


def test_accelerate_finding_names_the_config_its_type_and_the_processes():
    from r1lab.checks.trainer import check_accelerate

    assert findings(check_accelerate, context("r1_zero/qwen2.5-math-7b")) == [
        ("ok", "accelerate config 'zero3' (DEEPSPEED, 8 process(es))")
    ]
    assert "(NO, 3 process(es))" in findings(check_accelerate, context("r1_zero/tiny", processes=3))[0][1]


def test_every_unknown_trainer_key_is_an_error_of_its_own():
    from r1lab.checks.trainer import check_trainer_keys

    found = findings(
        check_trainer_keys, context("r1_zero/tiny", "trainer.learning_rat=1", "trainer.max_stepz=3")
    )
    assert [s for s, _ in found] == ["error", "error"]
    assert "trainer.learning_rat" in found[0][1] and "learning_rate" in found[0][1]
    assert "trainer.max_stepz" in found[1][1] and "GRPOConfig" in found[1][1]


def test_known_trainer_keys_are_counted_and_the_config_class_named():
    from r1lab.checks.trainer import check_trainer_keys

    ctx = context("r1_zero/tiny", "trainer.top_k=5")
    assert findings(check_trainer_keys, ctx) == [
        ("ok", f"trainer: {len(ctx.recipe.trainer)} keys, all known to TRL's GRPOConfig")
    ]
    sft = context("base/tiny")
    assert findings(check_trainer_keys, sft)[0][1].endswith("TRL's SFTConfig")


@pytest.mark.parametrize(
    ("overrides", "drop", "asked"),
    [
        (["trainer.bf16=true"], (), ["trainer.bf16=false"]),
        ([], ("bf16",), ["trainer.bf16=false"]),  # TRL's default is bf16 on
        (["trainer.gradient_checkpointing=true"], (), ["trainer.gradient_checkpointing=false"]),
        ([], ("gradient_checkpointing",), ["trainer.gradient_checkpointing=false"]),
        (["trainer.activation_checkpointing=true"], (), ["trainer.activation_checkpointing=false"]),
        ([], ("use_cpu",), ["trainer.use_cpu=true"]),
        (["trainer.bf16=true"], ("use_cpu",), ["trainer.bf16=false", "trainer.use_cpu=true"]),
    ],
)
def test_a_cpu_run_is_refused_what_makes_it_slow_and_told_each_setting(overrides, drop, asked):
    from r1lab.checks.trainer import check_cpu_settings

    msg = refusal(check_cpu_settings, context("base/tiny", *overrides, drop=drop))
    assert "16x slower" in msg
    assert msg.endswith("set " + " ".join(asked))


def test_cpu_settings_pass_on_a_cpu_recipe_and_are_not_checked_for_gpus():
    from r1lab.checks.trainer import check_cpu_settings

    assert findings(check_cpu_settings, context("base/tiny")) == [
        ("ok", "CPU settings: bf16 and gradient checkpointing off")
    ]
    assert findings(check_cpu_settings, context("r1_zero/qwen2.5-math-7b")) == []
    # use_cpu alone (accelerate not cpu) makes it a CPU run too
    gpu_acc = context("base/tiny", "accelerate=ddp")
    assert gpu_acc.on_cpu and findings(check_cpu_settings, gpu_acc)[0][0] == "ok"
    no_use_cpu = context("base/tiny", "accelerate=ddp", drop=("use_cpu",))
    assert findings(check_cpu_settings, no_use_cpu) == []


def test_a_vllm_server_on_a_cpu_is_refused_and_colocate_allowed():
    from r1lab.checks.trainer import check_cpu_settings

    msg = refusal(
        check_cpu_settings,
        context("r1_zero/tiny", "trainer.use_vllm=true", "trainer.vllm_mode=server"),
    )
    assert msg.startswith("trainer.vllm_mode=server:") and "trainer.vllm_mode=colocate" in msg
    assert "trainer.use_vllm=false" in msg
    for overrides in (["trainer.use_vllm=true"], ["trainer.vllm_mode=server"]):
        assert findings(check_cpu_settings, context("r1_zero/tiny", *overrides))[0][0] == "ok"
    colocate = context("r1_zero/tiny", "trainer.use_vllm=true", "trainer.vllm_mode=colocate")
    assert findings(check_cpu_settings, colocate)[0][0] == "ok"


def test_trl_config_and_optimizer_build_and_are_named():
    from r1lab.checks.trainer import check_trl_config

    assert findings(check_trl_config, context("r1_zero/tiny", "trainer.lr_scheduler_type=cosine")) == [
        ("ok", "trainer: TRL accepts the configuration"),
        ("ok", "optimizer adamw_torch_fused and cosine LR schedule build"),
    ]


def test_trl_config_is_not_built_while_a_trainer_key_is_unknown():
    from r1lab.checks.trainer import check_trl_config

    assert findings(check_trl_config, context("r1_zero/tiny", "trainer.learning_rat=1")) == []


def test_a_gpu_recipe_checked_without_a_gpu_skips_only_bf16_support():
    from r1lab.checks.trainer import check_trl_config

    found = findings(check_trl_config, context("r1_zero/qwen2.5-math-7b"))
    assert [s for s, _ in found] == ["ok", "ok", "skipped"]
    assert found[2][1].startswith("bf16/fp16 support: no GPU")


@pytest.mark.parametrize(
    ("override", "why"),
    [
        ("trainer.learning_rate=-0.5", "Invalid learning rate: -0.5"),
        ("trainer.adam_beta1=1.5", "1.5"),
        ("trainer.lr_scheduler_kwargs={num_cycles_x: 3}", "num_cycles_x"),
    ],
)
def test_an_optimizer_or_schedule_torch_rejects_is_refused_with_the_settings_to_check(override, why):
    from r1lab.checks.trainer import check_trl_config

    msg = refusal(check_trl_config, context("r1_zero/tiny", "trainer.lr_scheduler_type=cosine", override))
    assert msg.startswith(
        "trainer: the optimizer (adamw_torch_fused) or LR schedule (cosine) cannot be built:"
    )
    assert why in msg and "trainer.learning_rate, adam_beta1/2" in msg


def test_an_optimizer_that_needs_a_missing_package_is_left_to_run_time():
    from r1lab.checks.trainer import check_trl_config

    found = findings(check_trl_config, context("r1_zero/tiny", "trainer.optim=adamw_bnb_8bit"))
    assert found[1][0] == "skipped"
    assert found[1][1].startswith("optimizer adamw_bnb_8bit: not buildable here (")
    assert "bitsandbytes" in found[1][1] and found[1][1].endswith("built at run time")


@pytest.mark.parametrize(
    ("overrides", "warned"),
    [
        (["trainer.max_steps=300", "trainer.save_steps=300"], True),
        (["trainer.max_steps=300", "trainer.save_steps=450"], True),
        (["trainer.max_steps=300", "trainer.save_steps=299"], False),
        (["trainer.max_steps=300", "trainer.save_steps=450", "trainer.save_strategy=epoch"], False),
        (["trainer.max_steps=-1", "trainer.save_steps=450"], False),
        (["trainer.max_steps=300", "trainer.save_steps=null"], False),
    ],
)
def test_a_first_checkpoint_at_or_after_the_last_step_is_warned_of(overrides, warned):
    from r1lab.checks.trainer import check_checkpoints

    found = findings(check_checkpoints, context("r1_zero/tiny", *overrides))
    if not warned:
        assert found == []
        return
    every = overrides[1].split("=")[1]
    assert found == [
        (
            "warning",
            f"trainer.save_steps={every} >= trainer.max_steps=300: no checkpoint is saved before "
            "the end, so an interrupted run starts over; set trainer.save_steps<300",
        )
    ]


def test_checkpoints_default_to_the_steps_strategy():
    from r1lab.checks.trainer import check_checkpoints

    ctx = context("r1_zero/tiny", "trainer.max_steps=40", "trainer.save_steps=40", drop=("save_strategy",))
    assert [s for s, _ in findings(check_checkpoints, ctx)] == ["warning"]


@pytest.mark.parametrize(
    ("trainer", "expected"),
    [
        ({}, "bf16"),  # TRL turns bf16 on by default
        ({"fp16": True}, "fp16"),  # ... unless fp16 is set
        ({"bf16": False}, "no"),
        ({"bf16": False, "fp16": True}, "fp16"),
        ({"bf16": True, "fp16": False}, "bf16"),
        ({"bf16": None, "fp16": False}, "bf16"),
    ],
)
def test_precision_is_what_trl_will_run(trainer, expected):
    from r1lab.checks.trainer import precision

    assert precision(trainer) == expected


def group_batch(*overrides: str, processes: int = 1, drop: tuple[str, ...] = ()):
    from r1lab.checks.trainer import check_group_batch

    return check_group_batch, context("r1_zero/tiny", *overrides, processes=processes, drop=drop)


def test_a_group_batch_that_splits_says_prompts_and_generations():
    # 12 per device x 2 processes x 3 accumulation steps = 72 completions = 18 prompts x 4
    fn, ctx = group_batch(
        "trainer.per_device_train_batch_size=12",
        "trainer.num_generations=4",
        "trainer.gradient_accumulation_steps=3",
        processes=2,
    )
    assert findings(fn, ctx) == [
        ("ok", "GRPO batch: 72 completions per generation = 18 prompts x 4 generations on 2 process(es)")
    ]


def test_steps_per_generation_sets_the_generation_batch_over_accumulation():
    fn, ctx = group_batch(
        "trainer.per_device_train_batch_size=6",
        "trainer.num_generations=5",
        "trainer.gradient_accumulation_steps=3",
        "trainer.steps_per_generation=5",
    )
    assert findings(fn, ctx)[0][1].startswith("GRPO batch: 30 completions per generation = 6 prompts")


def test_group_batch_defaults_are_trls():
    # TRL's defaults: 8 completions per device, groups of 8, one accumulation step
    fn, ctx = group_batch(drop=("per_device_train_batch_size", "num_generations"))
    assert findings(fn, ctx)[0][1].startswith("GRPO batch: 8 completions per generation = 1 prompts x 8")


def test_a_generation_batch_size_not_a_multiple_of_the_devices_batch_is_refused():
    fn, ctx = group_batch(
        "trainer.per_device_train_batch_size=6",
        "trainer.generation_batch_size=20",
        "trainer.num_generations=4",
        processes=2,
    )
    assert refusal(fn, ctx) == (
        "trainer.generation_batch_size=20 must be a multiple of per_device_train_batch_size x "
        "processes = 6 x 2"
    )


def test_a_generation_batch_size_sets_the_batch_that_splits_into_groups():
    fn, ctx = group_batch(
        "trainer.per_device_train_batch_size=6",
        "trainer.generation_batch_size=24",
        "trainer.num_generations=4",
        processes=2,
    )
    assert findings(fn, ctx)[0][1].startswith("GRPO batch: 24 completions per generation = 6 prompts")
    fn, ctx = group_batch(
        "trainer.per_device_train_batch_size=6",
        "trainer.generation_batch_size=36",
        "trainer.num_generations=8",
        processes=2,
    )
    assert "36 completions per generation" in refusal(fn, ctx)


def test_groups_of_one_completion_are_refused():
    fn, ctx = group_batch("trainer.per_device_train_batch_size=7", "trainer.num_generations=1")
    assert refusal(fn, ctx) == (
        "trainer.num_generations=1: GRPO needs at least 2 completions per prompt"
    )
    fn, ctx = group_batch("trainer.per_device_train_batch_size=8", "trainer.num_generations=2")
    assert findings(fn, ctx)[0][0] == "ok"


def test_a_batch_that_does_not_split_lists_the_sizes_and_groups_that_do():
    # 5 x 3 processes x 2 steps = 30 completions, groups of 4: per-device sizes b with
    # b x 6 divisible by 4 are the even ones; groups that divide 30 are 2, 3, 5, 6, 10, 15, 30
    fn, ctx = group_batch(
        "trainer.per_device_train_batch_size=5",
        "trainer.num_generations=4",
        "trainer.gradient_accumulation_steps=2",
        processes=3,
    )
    msg = refusal(fn, ctx)
    assert msg.startswith(
        "GRPO batch: 5 completions per device x 3 process(es) x 2 step(s) = 30 completions per "
        "generation, which does not split into groups of num_generations=4."
    )
    assert "trainer.per_device_train_batch_size in [2, 4, 6, 8, 10, 12]" in msg
    assert msg.endswith("or trainer.num_generations in [2, 3, 5, 6, 10, 15]")


def test_the_working_sizes_reach_four_times_the_larger_of_batch_and_group():
    # groups of 7 on 1 process, 1 step: only multiples of 7 split, searched up to 4 x 7 = 28;
    # the only group size that splits a batch of 3 is 3
    fn, ctx = group_batch("trainer.per_device_train_batch_size=3", "trainer.num_generations=7")
    msg = refusal(fn, ctx)
    assert "trainer.per_device_train_batch_size in [7, 14, 21, 28]," in msg
    assert msg.endswith("or trainer.num_generations in [3]")
