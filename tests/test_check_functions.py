"""Each check function called directly on a composed recipe (fast: no subprocess, no model built),
so that a check that stops refusing what it should is caught (mutmut sees these calls)."""

from __future__ import annotations

import copy
import dataclasses
import functools
import json

import pytest

from r1lab.checks.context import Context
from r1lab.errors import RecipeError
from r1lab.kind import get_kind
from r1lab.recipe import Recipe, compose


@functools.cache
def composed(name: str, overrides: tuple[str, ...]) -> Recipe:
    """compose() once per recipe and overrides (half a second each; mutmut reruns these tests
    for every mutant that they reach): callers get a copy to change."""
    return compose(name, list(overrides))


def recipe(name: str, *overrides: str) -> Recipe:
    return copy.deepcopy(composed(name, overrides))


def context(name: str, *overrides: str, drop: tuple[str, ...] = (), **kw) -> Context:
    """The check context of recipe `name` with `overrides`, less the trainer keys in `drop`."""
    made = recipe(name, *overrides)
    for key in drop:
        del made.trainer[key]
    return Context(made, get_kind(made.kind), **kw)


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
    assert (
        "(NO, 3 process(es))"
        in findings(check_accelerate, context("r1_zero/tiny", processes=3))[0][1]
    )


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
    assert msg.startswith(
        "this run is on a CPU, where TRL's defaults (bf16 and gradient checkpointing on) make "
        "training ~16x slower;"
    )
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
    assert msg.startswith("trainer.vllm_mode=server: the server syncs weights over NCCL")
    assert msg.endswith(
        "needs CUDA GPUs; on a CPU set trainer.vllm_mode=colocate (vLLM-CPU in the trainer's "
        "process) or trainer.use_vllm=false (transformers generation)"
    )
    for overrides in (["trainer.use_vllm=true"], ["trainer.vllm_mode=server"]):
        assert findings(check_cpu_settings, context("r1_zero/tiny", *overrides))[0][0] == "ok"
    colocate = context("r1_zero/tiny", "trainer.use_vllm=true", "trainer.vllm_mode=colocate")
    assert findings(check_cpu_settings, colocate)[0][0] == "ok"


def test_trl_config_and_optimizer_build_and_are_named():
    from r1lab.checks.trainer import check_trl_config

    assert findings(
        check_trl_config, context("r1_zero/tiny", "trainer.lr_scheduler_type=cosine")
    ) == [
        ("ok", "trainer: TRL accepts the configuration"),
        ("ok", "optimizer adamw_torch_fused and cosine LR schedule build"),
    ]


@pytest.mark.parametrize(("max_steps", "steps"), [(300, 300), (1, 1), (0, 1000), (-1, 1000)])
def test_the_lr_schedule_is_built_over_the_runs_steps_or_1000(monkeypatch, max_steps, steps):
    import sys

    from r1lab.checks.trainer import check_trl_config

    ctx = context("r1_zero/tiny", f"trainer.max_steps={max_steps}")
    assert ctx.trl_config  # imports TRL first: it leaves another `transformers` in sys.modules
    transformers = sys.modules["transformers"]
    built = []
    real = transformers.get_scheduler
    monkeypatch.setattr(
        transformers,
        "get_scheduler",
        lambda *a, **kw: built.append(kw["num_training_steps"]) or real(*a, **kw),
    )
    list(check_trl_config(ctx))
    assert built == [steps]


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
def test_an_optimizer_or_schedule_torch_rejects_is_refused_with_the_settings_to_check(
    override, why
):
    from r1lab.checks.trainer import check_trl_config

    msg = refusal(
        check_trl_config, context("r1_zero/tiny", "trainer.lr_scheduler_type=cosine", override)
    )
    assert msg.startswith(
        "trainer: the optimizer (adamw_torch_fused) or LR schedule (cosine) cannot be built:"
    )
    assert why in msg
    assert msg.endswith(
        "; check trainer.learning_rate, adam_beta1/2, adam_epsilon, weight_decay, warmup and "
        "lr_scheduler_kwargs"
    )


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


def test_a_one_step_run_checkpointing_at_its_step_is_warned_of_and_no_max_steps_is_not():
    from r1lab.checks.trainer import check_checkpoints

    one = context("r1_zero/tiny", "trainer.max_steps=1", "trainer.save_steps=1")
    assert [s for s, _ in findings(check_checkpoints, one)] == ["warning"]
    by_epochs = context("r1_zero/tiny", "trainer.save_steps=1", drop=("max_steps",))
    assert findings(check_checkpoints, by_epochs) == []


def test_checkpoints_default_to_the_steps_strategy():
    from r1lab.checks.trainer import check_checkpoints

    ctx = context(
        "r1_zero/tiny", "trainer.max_steps=40", "trainer.save_steps=40", drop=("save_strategy",)
    )
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
        (
            "ok",
            "GRPO batch: 72 completions per generation = 18 prompts x 4 generations on 2 process(es)",
        )
    ]


def test_steps_per_generation_sets_the_generation_batch_over_accumulation():
    fn, ctx = group_batch(
        "trainer.per_device_train_batch_size=6",
        "trainer.num_generations=5",
        "trainer.gradient_accumulation_steps=3",
        "trainer.steps_per_generation=5",
    )
    assert findings(fn, ctx)[0][1].startswith(
        "GRPO batch: 30 completions per generation = 6 prompts"
    )


def test_group_batch_defaults_are_trls():
    # TRL's defaults: 8 completions per device, groups of 8, one accumulation step
    fn, ctx = group_batch(drop=("per_device_train_batch_size", "num_generations"))
    assert findings(fn, ctx)[0][1].startswith(
        "GRPO batch: 8 completions per generation = 1 prompts x 8"
    )


def test_a_generation_batch_size_not_a_multiple_of_the_devices_batch_is_refused():
    fn, ctx = group_batch(
        "trainer.per_device_train_batch_size=6",
        "trainer.generation_batch_size=9",  # a multiple of 6 / 2, not of 6 x 2
        "trainer.num_generations=4",
        processes=2,
    )
    assert refusal(fn, ctx) == (
        "trainer.generation_batch_size=9 must be a multiple of per_device_train_batch_size x "
        "processes = 6 x 2"
    )


def test_a_generation_batch_size_sets_the_batch_that_splits_into_groups():
    fn, ctx = group_batch(
        "trainer.per_device_train_batch_size=6",
        "trainer.generation_batch_size=24",
        "trainer.num_generations=4",
        processes=2,
    )
    assert findings(fn, ctx)[0][1].startswith(
        "GRPO batch: 24 completions per generation = 6 prompts"
    )
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


def test_the_working_sizes_stop_at_four_times_the_per_device_batch_when_it_is_larger():
    # 11 per device, groups of 9: multiples of 9 up to 4 x 11 = 44 (45 would be the next)
    fn, ctx = group_batch("trainer.per_device_train_batch_size=11", "trainer.num_generations=9")
    assert "trainer.per_device_train_batch_size in [9, 18, 27, 36]," in refusal(fn, ctx)


def test_the_working_sizes_reach_four_times_the_larger_of_batch_and_group():
    # groups of 7 on 1 process, 1 step: only multiples of 7 split, searched up to 4 x 7 = 28;
    # the only group size that splits a batch of 3 is 3
    fn, ctx = group_batch("trainer.per_device_train_batch_size=3", "trainer.num_generations=7")
    msg = refusal(fn, ctx)
    assert "trainer.per_device_train_batch_size in [7, 14, 21, 28]," in msg
    assert msg.endswith("or trainer.num_generations in [3]")


# ---- data.py ------------------------------------------------------------------------------------


def drawn_splits(monkeypatch, ctx) -> list[tuple]:
    """(task, split, size, seed, task parameters) of each split check_task_splits draws."""
    import r1lab.tasks
    from r1lab.checks.data import check_task_splits

    calls = []
    monkeypatch.setattr(r1lab.tasks, "generate_rows", lambda *a, **kw: calls.append((*a, kw)) or [])
    assert findings(check_task_splits, ctx) == []
    return calls


def test_a_tasks_train_and_test_splits_are_drawn_at_the_runs_sizes(monkeypatch):
    ctx = context(
        "base/tiny",
        "data.train_size=70",
        "data.test_size=30",
        "data.seed=5",
        "data.task.max_value=7",
    )
    task = dict(ctx.recipe.data["task"])
    assert drawn_splits(monkeypatch, ctx) == [
        ("arithmetic", "train", 70, 5, task),
        ("arithmetic", "test", 30, 5, task),
    ]


def test_evaluates_problem_count_wins_over_the_test_size_and_train_defaults_to_1000(monkeypatch):
    ctx = context("r1_zero/tiny", "data.train_size=null", "data.test_size=30")  # num_problems: 500
    assert [c[1:3] for c in drawn_splits(monkeypatch, ctx)] == [("train", 1000), ("test", 500)]


def test_no_test_split_is_drawn_without_a_test_size(monkeypatch):
    ctx = context("base/tiny", "data.test_size=null")
    assert [c[1] for c in drawn_splits(monkeypatch, ctx)] == ["train"]


def test_a_dataset_that_is_not_a_task_draws_no_split(monkeypatch):
    ctx = context("base/tiny", "data.source=AI-MO/NuminaMath-TIR")
    assert drawn_splits(monkeypatch, ctx) == []


def test_columns_of_data_an_earlier_recipe_makes_are_checked_when_it_is_there():
    from r1lab.checks.data import check_data_columns

    found = findings(check_data_columns, context("r1_zero/tiny", "data.source=runs/nowhere/data"))
    assert len(found) == 1 and found[0][0] == "skipped"
    assert found[0][1].startswith("dataset columns: 'runs/nowhere/data' does not exist yet")
    assert "run that recipe first" in found[0][1]  # how_to_make's advice, appended


def test_columns_of_a_hub_dataset_are_checked_once_it_loads():
    from r1lab.checks.data import check_data_columns

    found = findings(
        check_data_columns, context("r1_zero/tiny", "data.source=AI-MO/NuminaMath-TIR")
    )
    assert found == [
        (
            "skipped",
            "dataset columns: 'AI-MO/NuminaMath-TIR' is a Hub dataset; its columns are checked "
            "right after it loads, before the model loads",
        )
    ]


def test_a_column_the_template_reads_must_be_in_the_data():
    from r1lab.checks.data import check_data_columns

    # SFT reads the completion column too; GRPO only the question
    sft = context("base/tiny", "data.completion_column=trace", columns=["question", "solution"])
    msg = refusal(check_data_columns, sft)
    assert msg.startswith(
        "data: column 'trace' not in tasks/arithmetic (columns: ['question', 'solution'])"
    )
    assert msg.endswith("set data.question_column / data.completion_column to existing columns")
    grpo = context("r1_zero/tiny", "data.completion_column=trace", columns=["question", "solution"])
    assert findings(check_data_columns, grpo) == [
        ("ok", "dataset columns: ['question', 'solution']")
    ]
    asked = context("r1_zero/tiny", "data.question_column=problem", columns=["question"])
    assert "column 'problem' not in" in refusal(check_data_columns, asked)


@pytest.mark.parametrize("column", ["prompt", "messages"])
def test_data_without_a_template_needs_a_prompt_or_messages_column(column):
    from r1lab.checks.data import check_data_columns

    bare = context("base/tiny", "data.template=none", columns=["question", "solution"])
    assert refusal(check_data_columns, bare) == (
        "data.template is none, so the dataset needs a 'prompt' or 'messages' column; "
        "tasks/arithmetic has ['question', 'solution']"
    )
    ready = context("base/tiny", "data.template=none", columns=[column, "solution"])
    assert findings(check_data_columns, ready) == [
        ("ok", f"dataset columns: ['{column}', 'solution']")
    ]


# ---- rewards.py ---------------------------------------------------------------------------------


def with_rewards(ctx: Context, section: dict) -> Context:
    """`ctx` with its `rewards:` section replaced by `section`, parsed as compose parses it."""
    from r1lab.recipe import parse_rewards

    ctx.recipe.parsed["rewards"] = parse_rewards(section, {"data": ctx.recipe.data})
    return ctx


def test_a_grpo_recipe_without_rewards_is_refused_with_an_example():
    from r1lab.checks.rewards import check_rewards

    msg = refusal(check_rewards, with_rewards(context("r1_zero/tiny"), {}))
    assert msg.startswith("rewards: a GRPO recipe needs at least one") and "{accuracy: 1.0" in msg


def test_each_reward_that_does_not_build_is_an_error_and_the_rest_pass_silently():
    from r1lab.checks.rewards import check_rewards

    ctx = with_rewards(
        context("r1_zero/tiny"), {"acuracy": 1.0, "format": 0.2, "lenght": {"weight": 0.5}}
    )
    found = findings(check_rewards, ctx)
    assert [s for s, _ in found] == ["error", "error"]
    assert found[0][1].startswith("rewards.acuracy: unknown reward 'acuracy'")
    assert found[1][1].startswith("rewards.lenght: unknown reward 'lenght'")
    bad_param = with_rewards(context("r1_zero/tiny"), {"length": {"weight": 0.5, "nope": 3}})
    assert findings(check_rewards, bad_param)[0][1].startswith("rewards.length: ")


def test_rewards_that_build_are_listed_in_order():
    from r1lab.checks.rewards import check_rewards

    ctx = with_rewards(context("r1_zero/tiny"), {"format": 0.2, "accuracy": 1.0, "length": 0.1})
    assert findings(check_rewards, ctx) == [("ok", "rewards: format, accuracy, length")]


def test_a_task_whose_verifier_is_not_rewarded_is_warned_of():
    from r1lab.checks.rewards import check_answers_are_verified

    ctx = with_rewards(context("r1_zero/countdown_tiny"), {"accuracy": 1.0, "format": 0.2})
    found = findings(check_answers_are_verified, ctx)
    assert len(found) == 1 and found[0][0] == "warning"
    assert found[0][1].startswith(
        "data tasks/countdown is verified by the 'countdown' reward, which rewards: "
        "(accuracy, format) does not include"
    )
    assert "+rewards.countdown=1.0" in found[0][1]
    rewarded = with_rewards(context("r1_zero/countdown_tiny"), {"countdown": 1.0, "format": 0.2})
    assert findings(check_answers_are_verified, rewarded) == []


def test_rewards_that_judge_no_answer_are_warned_of_and_the_verifiers_listed():
    from r1lab.checks.rewards import check_answers_are_verified
    from r1lab.rewards import verifier_names

    hub = context("r1_zero/tiny", "data.source=AI-MO/NuminaMath-TIR")
    found = findings(check_answers_are_verified, with_rewards(hub, {"format": 1.0, "length": 0.5}))
    assert found == [
        (
            "warning",
            "no reward in rewards: (format, length) checks the answer (verifiers: "
            f"{', '.join(verifier_names())}); GRPO will optimise only the shape of completions",
        )
    ]
    judged = with_rewards(
        context("r1_zero/tiny", "data.source=AI-MO/NuminaMath-TIR"), {"format": 1.0, "choice": 1.0}
    )
    assert findings(check_answers_are_verified, judged) == []


def test_an_unknown_reward_stops_the_verifier_check_with_its_name():
    from r1lab.checks.rewards import check_answers_are_verified

    ctx = with_rewards(context("r1_zero/tiny"), {"accuracy": 1.0, "acuracy": 1.0})
    assert refusal(check_answers_are_verified, ctx).startswith("rewards.acuracy: unknown reward")


def test_a_reward_that_reads_a_column_the_data_lacks_says_which():
    from r1lab.checks.rewards import check_reward_columns

    ctx = with_rewards(context("r1_zero/tiny"), {"format": 0.2, "countdown": 1.0})
    assert findings(check_reward_columns, ctx) == [
        (
            "error",
            "rewards.countdown needs dataset column(s) ['nums', 'target'], which tasks/arithmetic "
            "does not have (columns: ['question', 'solution', 'reasoning']); pick a reward that "
            "fits the data, or point the reward at the right column with its parameters",
        )
    ]


def test_a_missing_solution_column_names_a_likely_answer_column():
    from r1lab.checks.rewards import check_reward_columns

    ctx = context(
        "r1_zero/tiny", "data.solution_column=gold", columns=["question", "answer", "target"]
    )
    found = findings(check_reward_columns, ctx)
    assert found[0][0] == "error"
    assert found[0][1].startswith("rewards.accuracy needs dataset column(s) ['gold']")
    assert found[0][1].endswith(
        "set data.solution_column to the column holding the reference answer: "
        "data.solution_column=answer"
    )
    none_likely = context("r1_zero/tiny", "data.solution_column=gold", columns=["question", "sol"])
    assert findings(check_reward_columns, none_likely)[0][1].endswith(
        "set data.solution_column to the column holding the reference answer"
    )


def test_reward_columns_wait_for_a_hub_dataset_and_pass_when_the_data_has_them():
    from r1lab.checks.rewards import check_reward_columns

    hub = context("r1_zero/tiny", "data.source=AI-MO/NuminaMath-TIR")
    assert findings(check_reward_columns, hub) == []
    ctx = with_rewards(context("r1_zero/tiny", columns=["question", "solution"]), {"accuracy": 1.0})
    assert findings(check_reward_columns, ctx) == [
        ("ok", "dataset columns ['question', 'solution'] cover every reward's needs")
    ]


def test_an_unknown_reward_alone_fails_the_column_check_without_an_ok():
    from r1lab.checks.rewards import check_reward_columns

    ctx = with_rewards(context("r1_zero/tiny"), {"acuracy": 1.0, "format": 0.2})
    assert [s for s, _ in findings(check_reward_columns, ctx)] == ["error"]


def test_every_reward_with_unknown_name_or_missing_columns_is_reported():
    from r1lab.checks.rewards import check_reward_columns

    ctx = with_rewards(context("r1_zero/tiny"), {"acuracy": 1.0, "countdown": 1.0, "format": 0.2})
    found = findings(check_reward_columns, ctx)
    assert [s for s, _ in found] == ["error", "error"]
    assert found[0][1].startswith("rewards.acuracy: unknown reward")
    assert found[1][1].startswith("rewards.countdown needs")


# ---- lengths.py ---------------------------------------------------------------------------------


def measured(ctx: Context, context_tokens: int | None, longest_prompt: int = 90) -> Context:
    """`ctx` as if its model (a local folder) had `context_tokens` of context and the data's
    longest prompt were `longest_prompt` tokens: the facts the length checks read."""
    from pathlib import Path

    ctx.__dict__.update(
        model_folder=Path("/models/m"), model_context=context_tokens, longest_prompt=longest_prompt
    )
    return ctx


def test_sft_max_length_within_the_context_passes_and_names_both():
    from r1lab.checks.lengths import check_max_length_fits_context

    ctx = measured(context("base/tiny", "trainer.max_length=300"), 300, longest_prompt=77)
    assert findings(check_max_length_fits_context, ctx) == [
        ("ok", "lengths fit the model's context (300 tokens; longest prompt 77)")
    ]
    unset = measured(context("base/tiny", "trainer.max_length=null"), 300)
    assert findings(check_max_length_fits_context, unset)[0][0] == "ok"


def test_sft_max_length_beyond_the_context_is_refused_with_the_limit():
    from r1lab.checks.lengths import check_max_length_fits_context

    ctx = measured(context("base/tiny", "trainer.max_length=301"), 300)
    assert refusal(check_max_length_fits_context, ctx) == (
        "trainer.max_length=301 exceeds the model's context of 300 tokens; set trainer.max_length<=300"
    )


def test_sft_max_length_defaults_to_trls_1024():
    from r1lab.checks.lengths import check_max_length_fits_context

    short = measured(context("base/tiny", drop=("max_length",)), 1023)
    assert "trainer.max_length=1024 exceeds" in refusal(check_max_length_fits_context, short)
    assert findings(
        check_max_length_fits_context, measured(context("base/tiny", drop=("max_length",)), 1024)
    )


def test_lengths_are_not_checked_without_a_local_model_or_local_data():
    from r1lab.checks.lengths import check_completion_fits_context, check_max_length_fits_context

    no_model = context("base/tiny", "trainer.max_length=5000")
    no_model.__dict__.update(model_folder=None, model_context=256)
    assert findings(check_max_length_fits_context, no_model) == []
    no_context = measured(context("base/tiny", "trainer.max_length=5000"), None)
    assert findings(check_max_length_fits_context, no_context) == []
    hub = measured(
        context(
            "r1_zero/tiny", "data.source=AI-MO/NuminaMath-TIR", "trainer.max_completion_length=5000"
        ),
        256,
    )
    assert findings(check_completion_fits_context, hub) == []
    pending = measured(
        context(
            "r1_zero/tiny", "data.source=runs/nowhere/data", "trainer.max_completion_length=5000"
        ),
        256,
    )
    assert findings(check_completion_fits_context, pending) == []


def test_grpo_prompt_plus_completion_beyond_the_context_is_refused_with_the_room_left():
    from r1lab.checks.lengths import check_completion_fits_context

    ctx = measured(
        context("r1_zero/tiny", "trainer.max_completion_length=170"), 256, longest_prompt=90
    )
    assert refusal(check_completion_fits_context, ctx) == (
        "prompt (90 tokens, longest in the data) + trainer.max_completion_length (170) = 260 "
        "exceeds the model's context of 256 tokens; set trainer.max_completion_length<=166"
    )
    fits = measured(
        context("r1_zero/tiny", "trainer.max_completion_length=166"), 256, longest_prompt=90
    )
    assert findings(check_completion_fits_context, fits) == [
        ("ok", "lengths fit the model's context (256 tokens; longest prompt 90)")
    ]


def test_grpo_completion_length_defaults_to_trls_256():
    from r1lab.checks.lengths import check_completion_fits_context

    ctx = measured(context("r1_zero/tiny", drop=("max_completion_length",)), 300, longest_prompt=45)
    assert "max_completion_length (256) = 301" in refusal(check_completion_fits_context, ctx)
    ok_ctx = measured(
        context("r1_zero/tiny", drop=("max_completion_length",)), 300, longest_prompt=44
    )
    assert findings(check_completion_fits_context, ok_ctx)[0][0] == "ok"


def test_a_smaller_limit_than_the_context_is_the_one_checked():
    from r1lab.checks.lengths import completion_fits

    ctx = measured(context("r1_zero/tiny"), 256, longest_prompt=90)
    msg = refusal(lambda c: [completion_fits(c, "generate.max_new_tokens", 120, 200)], ctx)
    assert msg.endswith(
        "= 210 exceeds the model's context of 200 tokens; set generate.max_new_tokens<=110"
    )
    # a limit above the context does not raise it
    msg = refusal(lambda c: [completion_fits(c, "generate.max_new_tokens", 170, 400)], ctx)
    assert "context of 256 tokens" in msg
    assert completion_fits(ctx, "generate.max_new_tokens", 166).status == "ok"


# ---- generation.py ------------------------------------------------------------------------------


def generate_config(**changes):
    from r1lab.generation.settings import GenerateConfig

    return GenerateConfig.from_recipe({"max_new_tokens": 48, "num_samples": 2, **changes})


def test_the_openai_backend_without_a_url_is_refused_with_an_example():
    from r1lab.checks.generation import check_generation

    ctx = context("evaluate/tiny")
    msg = refusal(lambda c: check_generation(c, generate_config(backend="openai")), ctx)
    assert msg.startswith("generate.base_url: the openai backend needs the server's URL")
    assert "generate.base_url=http://localhost:8000/v1 (a list gives one per Slurm node)" in msg
    served = generate_config(backend="openai", base_url="http://localhost:8000/v1")
    assert findings(lambda c: check_generation(c, served), ctx) == []


def test_vllm_not_installed_is_a_warning_when_checking_and_an_error_when_running(monkeypatch):
    import sys

    from r1lab.checks.generation import check_generation
    from r1lab.generation.vllm_engine import vllm_missing_message

    monkeypatch.setitem(sys.modules, "vllm", None)  # `import vllm` raises ImportError
    cfg = generate_config(backend="vllm")
    found = findings(lambda c: check_generation(c, cfg), context("evaluate/tiny"))
    assert found == [("warning", f"generate.backend=vllm: {vllm_missing_message()}")]
    msg = refusal(lambda c: check_generation(c, cfg), context("evaluate/tiny", running=True))
    assert msg == f"generate.backend=vllm: {vllm_missing_message()}"
    hf = generate_config(backend="hf")
    assert findings(lambda c: check_generation(c, hf), context("evaluate/tiny", running=True)) == []


def test_a_vllm_engine_is_planned_on_the_gpu_named(monkeypatch):
    from r1lab.checks import generation

    planned = []
    monkeypatch.setattr(
        generation, "engine_plan", lambda ctx, *a: planned.append(a) or [generation.ok("planned")]
    )
    cfg = generate_config(
        backend="vllm", tensor_parallel_size=2, gpu_memory_utilization=0.7, max_model_len=900
    )
    assert findings(lambda c: generation.check_generation(c, cfg), context("evaluate/tiny")) == [
        ("ok", "planned")
    ]
    assert planned == [(2, 0.7, 900)]
    hf = generate_config(backend="hf")
    assert findings(lambda c: generation.check_generation(c, hf), context("evaluate/tiny")) == []
    assert len(planned) == 1


def test_generated_tokens_must_fit_the_context_except_on_a_served_model():
    from r1lab.checks.generation import check_generation

    ctx = measured(context("distill/tiny"), 256, longest_prompt=90)
    too_long = generate_config(backend="hf", max_new_tokens=200)
    assert "generate.max_new_tokens (200) = 290" in refusal(
        lambda c: check_generation(c, too_long), ctx
    )
    capped = generate_config(backend="hf", max_new_tokens=200, max_model_len=300)
    assert "context of 256 tokens" in refusal(lambda c: check_generation(c, capped), ctx)
    below = generate_config(backend="hf", max_new_tokens=120, max_model_len=200)  # 210 > 200
    assert "context of 200 tokens" in refusal(lambda c: check_generation(c, below), ctx)
    fits = generate_config(backend="hf", max_new_tokens=166)
    assert findings(lambda c: check_generation(c, fits), ctx)[0][0] == "ok"
    served = generate_config(backend="openai", base_url="http://h:1/v1", max_new_tokens=200)
    assert findings(lambda c: check_generation(c, served), ctx) == []


def test_a_thinking_budget_is_described():
    from r1lab.checks.generation import check_generation

    ctx = context("evaluate/tiny")
    both = generate_config(
        backend="hf",
        budget={"min_think_tokens": 16, "max_think_tokens": 40, "wait_text": "Hmm", "max_waits": 3},
    )
    assert findings(lambda c: check_generation(c, both), ctx) == [
        ("ok", "generate.budget: thinking of 16..40 tokens (up to 3 x 'Hmm' to extend it)")
    ]
    floor_only = generate_config(backend="hf", budget={"min_think_tokens": 16})
    assert findings(lambda c: check_generation(c, floor_only), ctx)[0][1].startswith(
        "generate.budget: thinking of 16..any tokens"
    )
    cap_only = generate_config(backend="hf", budget={"max_think_tokens": 40})
    assert findings(lambda c: check_generation(c, cap_only), ctx)[0][1].startswith(
        "generate.budget: thinking of 0..40 tokens (up to 1 x 'Wait'"
    )


# ---- model.py -----------------------------------------------------------------------------------


def test_an_unknown_model_key_is_refused_with_the_closest():
    from r1lab.checks.model import check_model_keys

    msg = refusal(check_model_keys, context("base/tiny", "model.lora_rr=8"))
    assert msg.startswith("model.lora_rr: TRL's ModelConfig has no field 'lora_rr'")
    assert "'lora_r'" in msg


def test_a_model_section_without_a_model_is_refused():
    from r1lab.checks.model import check_model_keys

    assert findings(check_model_keys, context("base/tiny", "model.use_peft=true")) == []
    assert refusal(check_model_keys, context("base/tiny", "model.model_name_or_path=null")) == (
        "model.model_name_or_path is required (a Hub id or a local folder)"
    )


def test_model_files_are_not_looked_for_where_the_run_loads_none_or_not_yet():
    from r1lab.checks.model import check_model_files

    served = context("evaluate/tiny", "generate.backend=openai", "generate.base_url=http://h:1/v1")
    assert findings(check_model_files, served) == [
        (
            "skipped",
            "model files: 'runs/r1_zero/tiny' is a served model's name; this run loads no model",
        )
    ]
    pending = context("r1_zero/tiny", made_earlier=("runs/base",))
    assert findings(check_model_files, pending) == [
        (
            "skipped",
            "model files: 'runs/base/tiny' is made by an earlier stage; checked when it has run",
        )
    ]
    hub = context("r1_zero/qwen2.5-math-7b")
    found = findings(check_model_files, hub)
    assert found[0][0] == "skipped"
    assert found[0][1].startswith(
        "model files: 'Qwen/Qwen2.5-Math-7B' is a Hub id not in the local cache"
    )
    assert found[0][1].endswith("context length and chat template are checked when it loads")


def with_tokenizer(ctx: Context, chat_template) -> Context:
    from pathlib import Path
    from types import SimpleNamespace

    ctx.__dict__.update(
        model_folder=Path("/models/m"), tokenizer=SimpleNamespace(chat_template=chat_template)
    )
    return ctx


@pytest.mark.parametrize("template", ["chat", "r1_zero_chat"])
def test_a_chat_template_needs_a_tokenizer_with_one(template):
    from r1lab.checks.model import check_model_files

    bare = with_tokenizer(context("r1_zero/tiny", f"data.template={template}"), None)
    assert refusal(check_model_files, bare) == (
        f"data.template={template} needs a chat template, and the tokenizer in /models/m has none; "
        "use data.template=r1_zero (plain text) for base models"
    )
    old = with_tokenizer(context("r1_zero/tiny", f"data.template={template}"), None)
    del old.tokenizer.chat_template  # a tokenizer from before chat templates
    assert refusal(check_model_files, old).startswith(f"data.template={template} needs a chat")
    chat = with_tokenizer(context("r1_zero/tiny", f"data.template={template}"), "{{ messages }}")
    assert findings(check_model_files, chat) == [("ok", "model files found in /models/m")]


def test_a_plain_template_or_a_kind_without_data_needs_no_chat_template():
    from r1lab.checks.model import check_model_files

    plain = with_tokenizer(context("r1_zero/tiny"), None)
    assert findings(check_model_files, plain) == [("ok", "model files found in /models/m")]
    bench = with_tokenizer(context("evaluate/tiny", "+data.template=chat", "+data.source=x"), None)
    assert findings(check_model_files, bench) == [("ok", "model files found in /models/m")]


# ---- findings.py --------------------------------------------------------------------------------


def test_a_report_sorts_findings_by_status_and_lists_a_shared_failure_once():
    from r1lab.checks.findings import Report, detail, error, ok, skipped, warning

    report = Report("r1_zero/tiny")
    for finding in (
        ok("a passed"),
        error("model: no model"),
        detail("row 1"),
        warning("w"),
        error("data: bad"),
        error("model: no model"),
        skipped("s"),
        detail("row 1"),
        ok("a passed"),
    ):
        report.add(finding)
    assert report.errors == ["model: no model", "data: bad"]
    assert (report.warnings, report.passed, report.skipped) == (["w"], ["a passed"], ["s"])
    assert report.details == ["row 1", "row 1"]  # a table's rows may repeat


def test_a_report_text_puts_errors_first_and_says_failed():
    from r1lab.checks.findings import Report, detail, error, ok, skipped, warning

    report = Report("base/tiny")
    for finding in (
        detail("| a | b |"),
        skipped("s1"),
        ok("o1"),
        warning("w1"),
        error("e1"),
        error("e2"),
    ):
        report.add(finding)
    assert report.text() == "\n".join(
        [
            "r1lab check base/tiny: FAILED",
            "  error    e1",
            "  error    e2",
            "  warning  w1",
            "  ok       o1",
            "  skipped  s1",
            "    | a | b |",
        ]
    )
    with pytest.raises(RecipeError) as err:
        report.raise_if_failed()
    assert str(err.value) == report.text()


def test_a_report_without_errors_says_ok_and_does_not_raise():
    from r1lab.checks.findings import Report, ok, warning

    report = Report("base/tiny")
    report.add(warning("w1"))
    report.add(ok("o1"))
    assert report.text() == "r1lab check base/tiny: ok\n  warning  w1\n  ok       o1"
    report.raise_if_failed()


# ---- run.py -------------------------------------------------------------------------------------


def recorder(seen: list, name: str, finding=None, fails: str | None = None):
    def check_fn(ctx):
        seen.append(name)
        if fails:
            raise RecipeError(fails)
        return [finding] if finding else None

    return check_fn


@pytest.fixture
def stub_checks(monkeypatch):
    """run.py's lists replaced: common (c_any, c_trainer, c_data), kind-specific (k1, k2)."""
    import dataclasses

    from r1lab.checks import run
    from r1lab.checks.findings import ok

    seen: list[str] = []
    c_any = recorder(seen, "c_any", ok("common ok"))
    c_trainer = recorder(seen, "c_trainer", fails="trainer: broken")
    c_data = recorder(seen, "c_data")
    k1 = recorder(seen, "k1", fails="kind: broken")
    k2 = recorder(seen, "k2", ok("kind ok"))
    monkeypatch.setattr(run, "COMMON_CHECKS", (c_any, c_trainer, c_data))
    monkeypatch.setattr(run, "TRAINER_CHECKS", frozenset({c_trainer}))
    monkeypatch.setattr(run, "DATA_CHECKS", frozenset({c_data}))

    def ctx_with(**kind_changes) -> Context:
        ctx = context("r1_zero/tiny")
        ctx.kind = dataclasses.replace(ctx.kind, checks=(k1, k2), **kind_changes)
        return ctx

    return seen, ctx_with, (c_any, c_trainer, c_data, k1, k2)


def test_run_checks_runs_common_then_kind_checks_and_reports_every_failure(stub_checks):
    from r1lab.checks.run import run_checks

    seen, ctx_with, _ = stub_checks
    report = run_checks(ctx_with())
    assert seen == ["c_any", "c_trainer", "c_data", "k1", "k2"]
    assert report.recipe == "r1_zero/tiny"
    assert report.errors == ["trainer: broken", "kind: broken"]
    assert report.passed == ["common ok", "kind ok"]


def test_run_checks_leaves_out_trainer_checks_without_a_trl_config_and_data_checks_without_data(
    stub_checks,
):
    from r1lab.checks.run import run_checks

    seen, ctx_with, _ = stub_checks
    run_checks(ctx_with(config_class=None))
    assert seen == ["c_any", "c_data", "k1", "k2"]
    seen.clear()
    run_checks(ctx_with(reads_data=False))
    assert seen == ["c_any", "c_trainer", "k1", "k2"]
    seen.clear()
    run_checks(ctx_with(common_sections=False))
    assert seen == ["k1", "k2"]


def test_run_checks_runs_only_the_checks_asked_for(stub_checks):
    from r1lab.checks.run import run_checks

    seen, ctx_with, (c_any, _, c_data, _, k2) = stub_checks
    report = run_checks(ctx_with(), only=frozenset({c_data, k2}))
    assert seen == ["c_data", "k2"]
    assert report.passed == ["kind ok"] and report.errors == []


def test_check_passes_its_arguments_to_the_checks_context(monkeypatch):
    from r1lab.checks import run
    from r1lab.run_facts import RunFacts

    contexts = []
    monkeypatch.setattr(run, "COMMON_CHECKS", (lambda ctx: contexts.append(ctx),))
    made = recipe("r1_zero/tiny")
    report = run.check(made, num_processes=3, running=True, made_earlier=("runs/x",), gpu="h100")
    ctx = contexts[0]
    assert ctx.recipe is made and ctx.kind.name == "grpo"
    assert (ctx.num_processes, ctx.running, ctx.made_earlier, ctx.gpu) == (
        3,
        True,
        ("runs/x",),
        "h100",
    )
    assert ctx.facts is not None and ctx.facts.recipe is made
    assert report.recipe == "r1_zero/tiny"
    for default in (lambda: run.check(made), lambda: run.check_run(RunFacts.of(made))):
        contexts.clear()
        default()
        ctx = contexts[0]
        assert (ctx.processes, ctx.running, ctx.made_earlier, ctx.gpu) == (None, False, (), None)


def test_check_columns_gives_the_checks_the_loaded_columns_as_the_run(monkeypatch):
    from r1lab.checks import run

    seen = []

    def column_check(ctx):
        seen.append((ctx.running, ctx.raw_columns))

    monkeypatch.setattr(run, "COMMON_CHECKS", (column_check,))
    monkeypatch.setattr(run, "COLUMN_CHECKS", frozenset({column_check}))
    run.check_columns(recipe("r1_zero/tiny"), ["q", "a"])
    assert seen == [(True, ["q", "a"])]


def test_check_columns_runs_only_the_column_checks_as_the_run(monkeypatch):
    from r1lab.checks.run import check_columns

    report = check_columns(recipe("r1_zero/tiny"), ["question", "reasoning"])
    assert report.errors == [
        "rewards.accuracy needs dataset column(s) ['solution'], which tasks/arithmetic does not "
        "have (columns: ['question', 'reasoning']); set data.solution_column to the column "
        "holding the reference answer"
    ]
    assert report.passed == ["dataset columns: ['question', 'reasoning']"]
    assert report.skipped == [] and report.warnings == []


def test_a_hub_dataset_is_column_checked_the_moment_it_loads(monkeypatch):
    from types import SimpleNamespace

    import r1lab.data
    from r1lab.checks import run
    from r1lab.data import DataConfig

    raw = SimpleNamespace(column_names=["problem", "solution"])
    loads, peeks = [], []
    monkeypatch.setattr(
        r1lab.data, "load_raw", lambda data, split: loads.append((data, split)) or raw
    )
    monkeypatch.setattr(run, "peek_columns", lambda data: peeks.append(data))
    hub = recipe("r1_zero/tiny", "data.source=AI-MO/NuminaMath-TIR")
    data = DataConfig.from_recipe(hub.data)
    with pytest.raises(RecipeError) as err:
        run.load_checked(hub, data)
    assert "column 'question' not in AI-MO/NuminaMath-TIR" in str(err.value)
    assert loads == [(data, "train")] and peeks == [data]
    good = SimpleNamespace(column_names=["question", "solution"])
    monkeypatch.setattr(r1lab.data, "load_raw", lambda data, split: good)
    assert run.load_checked(hub, data) is good


def test_local_data_is_not_column_checked_again_when_it_loads(monkeypatch):
    from types import SimpleNamespace

    import r1lab.data
    from r1lab.checks import run
    from r1lab.data import DataConfig

    raw = SimpleNamespace(column_names=["problem"])  # the checks have seen the real columns
    monkeypatch.setattr(r1lab.data, "load_raw", lambda data, split: raw)
    monkeypatch.setattr(run, "peek_columns", lambda data: ["question", "solution"])
    local = recipe("r1_zero/tiny")
    assert run.load_checked(local, DataConfig.from_recipe(local.data)) is raw


# ---- packages.py --------------------------------------------------------------------------------


def test_installed_finds_a_module_without_importing_it_and_never_raises():
    from r1lab.checks.packages import installed

    assert installed("json") and installed("email.mime")
    assert not installed("r1lab_no_such_module")
    assert not installed("r1lab_no_such_package.sub")  # find_spec raises ImportError
    assert not installed("")  # ... and ValueError


def missing(monkeypatch, *names: str) -> None:
    """`installed` says no for `names` (and yes for everything else)."""
    from r1lab.checks import packages

    monkeypatch.setattr(packages, "installed", lambda module: module not in names)


def test_vllm_is_needed_only_when_the_trainer_generates_with_it(monkeypatch):
    from r1lab.checks.packages import check_vllm

    missing(monkeypatch, "vllm")
    assert findings(check_vllm, context("r1_zero/tiny")) == []
    msg = refusal(check_vllm, context("r1_zero/tiny", "trainer.use_vllm=true"))
    assert msg.startswith("trainer.use_vllm=true: vLLM is not installed here.")
    assert "`make install`" in msg and "trainer.use_vllm=false" in msg
    missing(monkeypatch)
    assert findings(check_vllm, context("r1_zero/tiny", "trainer.use_vllm=true")) == [
        ("ok", "vLLM installed (trainer.use_vllm)")
    ]


def test_lora_settings_without_use_peft_are_warned_of(monkeypatch):
    from r1lab.checks.packages import check_peft

    assert findings(check_peft, context("base/tiny")) == []
    for overrides in (["model.lora_r=8"], ["+lora.save=adapter"]):
        found = findings(check_peft, context("base/tiny", *overrides))
        assert [s for s, _ in found] == ["warning"]
        assert found[0][1].startswith("LoRA settings are given (model.lora_* or lora:)")
        assert found[0][1].endswith("set model.use_peft=true for LoRA")


def test_lora_without_peft_installed_is_refused(monkeypatch):
    from r1lab.checks.packages import check_peft

    missing(monkeypatch, "peft")
    msg = refusal(check_peft, context("base/tiny", "model.use_peft=true"))
    assert msg.startswith("model.use_peft=true: LoRA needs the peft package")
    assert "pip install 'peft" in msg and "model.use_peft=false" in msg


def test_lora_settings_are_summarised_with_their_defaults(monkeypatch):
    from r1lab.checks.packages import check_peft

    missing(monkeypatch)
    assert findings(check_peft, context("base/tiny", "model.use_peft=true")) == [
        (
            "ok",
            "LoRA: r=16, alpha=32, target modules the model type's default; saves the merged model",
        )
    ]
    set_ = context(
        "base/tiny",
        "model.use_peft=true",
        "model.lora_r=4",
        "model.lora_alpha=12",
        "model.lora_target_modules=[q_proj,v_proj]",
        "+lora.save=adapter",
    )
    assert findings(check_peft, set_) == [
        ("ok", "LoRA: r=4, alpha=12, target modules ['q_proj', 'v_proj']; saves the adapter model")
    ]


def test_deepspeed_is_needed_by_a_deepspeed_config_or_trainer_deepspeed(monkeypatch):
    from r1lab.checks.packages import check_deepspeed

    missing(monkeypatch, "deepspeed")
    assert findings(check_deepspeed, context("r1_zero/qwen2.5-math-7b", "accelerate=ddp")) == []
    msg = refusal(check_deepspeed, context("r1_zero/qwen2.5-math-7b"))
    assert msg.startswith("accelerate=zero3 runs DeepSpeed, which is not installed here:")
    assert "pip install -e '.[deepspeed]'" in msg and "accelerate=ddp" in msg
    by_trainer = context("r1_zero/qwen2.5-math-7b", "accelerate=ddp", "trainer.deepspeed=ds.json")
    assert refusal(check_deepspeed, by_trainer).startswith(
        "trainer.deepspeed runs DeepSpeed, which is not installed here"
    )
    missing(monkeypatch)
    assert findings(check_deepspeed, by_trainer) == [
        ("ok", "DeepSpeed installed (trainer.deepspeed)")
    ]


def test_deepspeed_and_trainer_precision_must_agree(monkeypatch):
    from r1lab.checks.packages import check_deepspeed

    missing(monkeypatch)
    monkeypatch.delenv("ACCELERATE_MIXED_PRECISION", raising=False)
    # zero3's accelerate file says bf16, as the trainer does
    assert findings(check_deepspeed, context("r1_zero/qwen2.5-math-7b")) == [
        ("ok", "DeepSpeed installed (accelerate=zero3)")
    ]
    fp16 = context("r1_zero/qwen2.5-math-7b", "trainer.bf16=false", "trainer.fp16=true")
    found = findings(check_deepspeed, fp16)
    assert [s for s, _ in found] == ["warning", "ok"]
    assert found[0][1].startswith(
        "accelerate=zero3 runs DeepSpeed with mixed_precision bf16, but the trainer's precision "
        "is fp16 (trainer.bf16/fp16)"
    )
    assert found[0][1].endswith("under accelerate launch add --mixed_precision fp16")
    running = context(
        "r1_zero/qwen2.5-math-7b", "trainer.bf16=false", "trainer.fp16=true", running=True
    )
    assert "--mixed_precision fp16" in refusal(check_deepspeed, running)
    # what accelerate launch was given wins over the file, and is an error: the run is starting
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "fp16")
    launched = findings(check_deepspeed, fp16)
    assert launched == [("ok", "DeepSpeed installed (accelerate=zero3)")]
    msg = refusal(check_deepspeed, context("r1_zero/qwen2.5-math-7b"))
    assert msg.startswith(
        "accelerate=zero3 runs DeepSpeed with mixed_precision fp16, but the trainer's precision "
        "is bf16"
    )
    assert ". `r1lab launch` (make) passes --mixed_precision bf16;" in msg


def test_a_deepspeed_file_without_mixed_precision_means_none(monkeypatch):
    from r1lab.checks.packages import check_deepspeed

    missing(monkeypatch)
    monkeypatch.delenv("ACCELERATE_MIXED_PRECISION", raising=False)
    ctx = context("r1_zero/qwen2.5-math-7b", "trainer.bf16=false")
    ctx.accelerate.settings.pop("mixed_precision", None)
    assert findings(check_deepspeed, ctx) == [("ok", "DeepSpeed installed (accelerate=zero3)")]


def test_a_gpu_only_package_missing_is_an_error_only_where_it_runs(monkeypatch):
    from r1lab.checks import context as check_context
    from r1lab.checks.packages import gpu_package_missing

    monkeypatch.setattr(check_context, "has_gpu", lambda: False)
    finding = gpu_package_missing(context("r1_zero/tiny"), "pkg is missing")
    assert (finding.status, finding.message) == (
        "warning",
        "pkg is missing (a GPU-only package; checked again where the run starts)",
    )
    with pytest.raises(RecipeError, match="^pkg is missing$"):
        gpu_package_missing(context("r1_zero/tiny", running=True), "pkg is missing")
    monkeypatch.setattr(check_context, "has_gpu", lambda: True)
    with pytest.raises(RecipeError, match="^pkg is missing$"):
        gpu_package_missing(context("r1_zero/tiny"), "pkg is missing")


def test_liger_kernels_need_a_gpu_the_package_and_say_so(monkeypatch):
    from r1lab.checks import context as check_context
    from r1lab.checks.packages import check_liger

    assert findings(check_liger, context("r1_zero/qwen2.5-math-7b")) == []
    msg = refusal(check_liger, context("r1_zero/tiny", "trainer.use_liger_kernel=true"))
    assert msg.startswith(
        "trainer.use_liger_kernel=true: Liger's Triton kernels run only on a CUDA"
    )
    gpu = ("r1_zero/qwen2.5-math-7b", "trainer.use_liger_kernel=true")
    monkeypatch.setattr(check_context, "has_gpu", lambda: False)
    missing(monkeypatch, "liger_kernel")
    found = findings(check_liger, context(*gpu))
    assert [s for s, _ in found] == ["warning"]
    assert found[0][1].startswith("trainer.use_liger_kernel=true needs the liger-kernel package")
    missing(monkeypatch)
    assert findings(check_liger, context(*gpu)) == [
        ("skipped", "Liger kernels: no GPU on this machine (checked on the training nodes)")
    ]
    monkeypatch.setattr(check_context, "has_gpu", lambda: True)
    assert findings(check_liger, context(*gpu)) == [
        ("ok", "Liger kernels: liger-kernel installed, GPU present")
    ]


# ---- memory.py ----------------------------------------------------------------------------------

BIG = "r1_zero/qwen2.5-math-7b"  # 7.62B parameters, ZeRO-3 on 8 GPUs (its shipped config)


def test_the_planned_gpu_is_the_flag_then_the_environment_then_slurm_then_the_default(
    monkeypatch,
):
    from r1lab.checks.memory import planned_gpu

    monkeypatch.setenv("R1LAB_SLURM_GPU", "a100-40gb")
    both = context(BIG, "++slurm.gpu=l40s", gpu="h200")
    assert (planned_gpu(both)[0].name, planned_gpu(both)[1]) == ("h200", False)
    assert planned_gpu(context(BIG, "++slurm.gpu=l40s"))[0].name == "a100-40gb"
    monkeypatch.delenv("R1LAB_SLURM_GPU")
    assert planned_gpu(context(BIG, "++slurm.gpu=l40s"))[0].name == "l40s"
    default, assumed = planned_gpu(context(BIG))
    assert (default.name, assumed) == ("h100-80gb", True)


def accelerate_file(ctx: Context, **settings) -> Context:
    """`ctx` as if its accelerate file held `settings`."""
    from r1lab.accelerate_config import AccelerateConfig

    ctx.__dict__["accelerate"] = AccelerateConfig("custom", None, settings)
    return ctx


def parallel(*overrides: str, **settings):
    from r1lab.checks.memory import parallel_of

    ctx = accelerate_file(context(BIG, *overrides, processes=4), **settings)
    return parallel_of(ctx, ctx.model_shape)


def test_deepspeed_files_give_their_zero_stage_and_offloads():
    p = parallel(
        distributed_type="DEEPSPEED",
        deepspeed_config={"zero_stage": 2, "offload_optimizer_device": "cpu"},
    )
    assert (p.processes, p.zero_stage, p.fsdp) == (4, 2, None)
    assert (p.offload_optimizer, p.offload_params) == (True, False)
    p = parallel(
        distributed_type="DEEPSPEED",
        deepspeed_config={
            "zero_stage": 3,
            "offload_param_device": "NVMe",
            "offload_optimizer_device": "None",
        },
    )
    assert (p.zero_stage, p.offload_optimizer, p.offload_params) == (3, False, True)
    assert (
        parallel(distributed_type="DEEPSPEED", deepspeed_config={"zero_stage": None}).zero_stage
        == 0
    )
    assert parallel(distributed_type="DEEPSPEED").zero_stage == 0
    # a zero_stage outside DeepSpeed means nothing
    assert (
        parallel(distributed_type="MULTI_GPU", deepspeed_config={"zero_stage": 3}).zero_stage == 0
    )


def test_fsdp_is_planned_as_zero3_or_without_resharding_zero2():
    p = parallel(distributed_type="FSDP", fsdp_config={"fsdp_version": 2})
    assert (p.zero_stage, p.fsdp, p.offload_params) == (3, "FSDP2", False)
    p = parallel(
        distributed_type="FSDP",
        fsdp_config={"fsdp_version": 1, "fsdp_reshard_after_forward": False},
    )
    assert (p.zero_stage, p.fsdp) == (2, "FSDP1")
    p = parallel(
        distributed_type="FSDP", fsdp_config={"fsdp_version": 2, "fsdp_offload_params": True}
    )
    assert (p.offload_optimizer, p.offload_params) == (True, True)
    assert (
        parallel(distributed_type="FSDP").zero_stage == 3
    )  # no fsdp_config: accelerate's defaults
    assert parallel(distributed_type="MULTI_GPU", fsdp_config={"fsdp_version": 2}).fsdp is None


def test_weights_take_the_models_dtype_and_compute_the_trainers_precision():
    # the shipped 7B config is bfloat16 (2 B); model.dtype overrides it
    assert parallel(distributed_type="MULTI_GPU").weight_bytes == 2
    p = parallel("model.dtype=float32", distributed_type="MULTI_GPU")
    assert (p.weight_bytes, p.compute_bytes) == (4, 2)  # bf16 compute
    p = parallel("model.dtype=float32", "trainer.bf16=false", distributed_type="MULTI_GPU")
    assert (p.weight_bytes, p.compute_bytes) == (4, 4)  # no mixed precision: the weights' own
    assert parallel("model.dtype=auto", distributed_type="MULTI_GPU").weight_bytes == 2


def test_the_plan_is_skipped_for_a_model_not_made_yet_or_without_a_config(monkeypatch):
    from r1lab.checks.memory import check_memory_plan

    pending = context(BIG, "model.model_name_or_path=runs/base/model", made_earlier=("runs/base",))
    assert findings(check_memory_plan, pending) == [
        ("skipped", "memory plan: the model (runs/base/model) is an earlier stage's output")
    ]
    unknown = findings(check_memory_plan, context(BIG, "model.model_name_or_path=acme/nowhere-7b"))
    assert len(unknown) == 1 and unknown[0][0] == "skipped"
    assert unknown[0][1].startswith("memory plan: no config.json for 'acme/nowhere-7b' here")
    assert unknown[0][1].endswith("/acme/nowhere-7b/config.json to plan offline")


def test_a_model_config_transformers_cannot_build_skips_the_plan():
    from r1lab.checks.memory import check_memory_plan

    ctx = context(BIG)

    def broken(self):  # the model's shape, as a config.json of an unknown architecture gives it
        raise ValueError("unknown model_type 'acme'")

    ctx.__class__ = type("BrokenShape", (Context,), {"model_shape": property(broken)})
    assert findings(check_memory_plan, ctx) == [
        (
            "skipped",
            "memory plan: transformers cannot build 'Qwen/Qwen2.5-Math-7B' from its config "
            "(unknown model_type 'acme')",
        )
    ]


def test_no_plan_for_a_cpu_run_a_kind_without_one_or_unknown_trainer_keys():
    from r1lab.checks.memory import check_memory_plan

    assert findings(check_memory_plan, context("r1_zero/tiny")) == [
        ("skipped", "memory plan: a CPU run (no GPU to plan for)")
    ]
    assert findings(check_memory_plan, context(BIG, "trainer.learning_rat=1")) == []
    assert findings(check_memory_plan, context("evaluate/tiny")) == []


def test_a_plan_that_fits_is_ok_with_its_table_and_names_the_gpu():
    from r1lab.checks.memory import check_memory_plan

    found = findings(check_memory_plan, context(BIG))
    details = [m for s, m in found if s == "detail"]
    assert details[0].startswith("model: 7.62B params, all trained; config ")
    assert details[0].endswith("Qwen2.5-Math-7B/config.json")
    assert any(d.startswith("total ") for d in details)
    assert found[-1][0] == "ok"
    assert found[-1][1].startswith(
        "memory plan per rank on h100-80gb (assumed: name yours with --gpu or slurm.gpu): "
    )
    assert found[-1][1].endswith("; Qwen/Qwen2.5-Math-7B, 7.62B params, ZeRO-3, 8 rank(s)")
    named = findings(check_memory_plan, context(BIG, gpu="h200"))
    assert named[-1][1].startswith("memory plan per rank on h200: ")
    lora = findings(check_memory_plan, context(BIG, "model.use_peft=true", gpu="h200"))
    assert "B trained (LoRA); config" in lora[0][1]


def test_a_plan_that_does_not_fit_names_the_biggest_term_the_fixes_and_bigger_gpus():
    from r1lab.checks.memory import check_memory_plan

    found = findings(check_memory_plan, context(BIG, gpu="a100-40gb"))
    assert found[-1][0] == "error"
    msg = found[-1][1]
    assert msg.startswith("memory plan per rank on a100-40gb: ")
    assert ": does not fit. The biggest term is logits, " in msg
    assert "It fits with: model.use_peft=true (LoRA) (" in msg
    fixes = msg.split("It fits with: ")[1].split("; or on a bigger GPU")[0]
    assert fixes.count(" GiB)") == 4  # four fixes at most (there are more), each with its total
    assert "; or on a bigger GPU: --gpu h100-80gb / " in msg and "a100-40gb /" not in msg


def test_a_plan_near_the_gpus_memory_is_a_warning_with_more_room_offered():
    from r1lab.checks.memory import check_memory_plan

    found = findings(check_memory_plan, context(BIG, gpu="48gb"))  # about 45 of 48 GiB
    assert found[-1][0] == "warning"
    assert found[-1][1].startswith("memory plan per rank on 48gb: ")
    assert ": above 90%, little room for fragmentation." in found[-1][1]
    assert ". More room with: model.use_peft=true (LoRA) (" in found[-1][1]
    assert ".;" not in found[-1][1]


def test_an_engine_is_planned_only_on_named_gpus():
    from r1lab.checks.memory import engine_plan

    ctx = context("evaluate/tiny", "model.model_name_or_path=Qwen/Qwen2.5-Math-7B")
    assert findings(lambda c: engine_plan(c, 1, None, None), ctx) == []


def test_an_engine_plan_names_gpus_sequences_and_refuses_a_cache_for_none():
    from r1lab.checks.memory import engine_plan

    ctx = context("evaluate/r1", "model.model_name_or_path=Qwen/Qwen2.5-Math-7B", gpu="h100-80gb")
    found = findings(lambda c: engine_plan(c, 2, 0.8, 8000), ctx)
    assert found[-1][0] == "ok"
    assert found[-1][1].startswith(
        "engine plan per GPU on h100-80gb: Qwen/Qwen2.5-Math-7B on 2 GPU(s), KV cache for "
    )
    assert found[-1][1].endswith(" sequence(s) of 8000 tokens")
    assert [s for s, _ in found[:-1]] == ["detail"] * (len(found) - 1)
    small = context("evaluate/r1", "model.model_name_or_path=Qwen/Qwen2.5-Math-7B", gpu="16gb")
    msg = refusal(lambda c: engine_plan(c, 1, 0.9, 32768), small)
    assert msg.startswith(
        "engine plan per GPU on 16gb: Qwen/Qwen2.5-Math-7B on 1 GPU(s), KV cache for 0"
    )
    assert "vLLM refuses to start" in msg and "generate.tensor_parallel_size" in msg
    slurm = context(
        "evaluate/tiny", "model.model_name_or_path=Qwen/Qwen2.5-Math-7B", "++slurm.gpus_per_node=8"
    )
    found = findings(lambda c: engine_plan(c, 1, None, None), slurm)
    assert found[-1][1].startswith("engine plan per GPU on h100-80gb (assumed): ")
    assert found[-1][1].endswith(" of 4096 tokens")  # the model's own context


def test_an_engine_holding_exactly_one_sequence_starts_and_its_details_are_the_plans_lines():
    import re

    from r1lab.checks.memory import engine_plan

    ctx = context("evaluate/r1", "model.model_name_or_path=Qwen/Qwen2.5-Math-7B", gpu="h100-80gb")
    found = findings(lambda c: engine_plan(c, 1, None, 8000), ctx)
    assert found == findings(lambda c: engine_plan(c, 1, 0.9, 8000), ctx)  # vLLM's default 0.9
    assert found != findings(lambda c: engine_plan(c, 1, 0.8, 8000), ctx)
    lines = "\n".join(text for _, text in found[:-1])
    assert "KV cache" in lines and "gpu_memory_utilization 0.9 of each GPU" in lines
    tokens = int(re.search(r"([\d,]+) tokens = ", lines).group(1).replace(",", ""))
    one = findings(lambda c: engine_plan(c, 1, None, tokens), ctx)  # room for exactly one
    assert (
        one[-1] == ("ok", one[-1][1])
        and f"KV cache for 1 sequence(s) of {tokens} tokens" in one[-1][1]
    )
    msg = refusal(lambda c: engine_plan(c, 1, None, tokens + 1), ctx)  # one token short
    assert msg.endswith(
        "vLLM refuses to start (the KV cache must hold one max_model_len sequence). Raise "
        "generate.tensor_parallel_size or generate.gpu_memory_utilization, or lower "
        "generate.max_model_len"
    )


def test_an_engine_for_a_model_without_a_config_is_skipped():
    from r1lab.checks.memory import engine_plan

    ctx = context("evaluate/r1", "model.model_name_or_path=acme/nowhere-7b", gpu="h100-80gb")
    found = findings(lambda c: engine_plan(c, 1, None, None), ctx)
    assert len(found) == 1 and found[0][1].startswith(
        "memory plan: no config.json for 'acme/nowhere-7b'"
    )


# ---- context.py ---------------------------------------------------------------------------------


def test_a_path_inside_an_earlier_stages_output_is_made_by_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ctx = context("r1_zero/tiny", made_earlier=("runs/sft", str(tmp_path / "gen")))
    assert ctx.made_by_earlier_stage("runs/sft/checkpoint-40")
    assert ctx.made_by_earlier_stage("runs/sft")
    assert ctx.made_by_earlier_stage("./gen/data.jsonl")  # relative and absolute: one place
    assert not ctx.made_by_earlier_stage("runs/sft2/model")
    assert not context("r1_zero/tiny").made_by_earlier_stage("runs/sft")


def test_a_local_model_folder_is_where_its_config_is(tmp_path):
    from r1lab.checks.context import local_model_folder

    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")
    assert local_model_folder(str(tmp_path / "m")) == tmp_path / "m"
    with pytest.raises(RecipeError) as err:
        local_model_folder(str(tmp_path), setting="trainer.teacher_model_name_or_path")
    assert (
        str(err.value)
        == f"trainer.teacher_model_name_or_path: no model at '{tmp_path}' (no config.json)."
    )
    for ref in ("runs/nowhere/model", "./nowhere", "../nowhere", "~/r1lab-nowhere"):
        with pytest.raises(RecipeError, match=f"^model.model_name_or_path: no model at '{ref}'"):
            local_model_folder(ref)


def test_a_lora_adapter_folder_stands_for_its_base_model(tmp_path):
    import json

    from r1lab.checks.context import local_model_folder

    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "config.json").write_text("{}")
    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": str(tmp_path / "base")})
    )
    assert local_model_folder(str(tmp_path / "adapter")) == tmp_path / "base"
    (tmp_path / "gone").mkdir()
    (tmp_path / "gone" / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": str(tmp_path / "nowhere")})
    )
    with pytest.raises(RecipeError, match="^model.lora: no model at"):
        local_model_folder(str(tmp_path / "gone"), setting="model.lora")


def test_a_hub_model_is_found_in_the_cache_or_not_at_all(tmp_path, monkeypatch):
    import huggingface_hub

    from r1lab.checks.context import local_model_folder

    snapshot = tmp_path / "snap"
    answers = {
        "acme/cached": str(snapshot / "config.json"),
        "acme/absent": None,
        "acme/known-absent": object(),  # the cache's marker of a file the repo lacks
    }

    def lookup(repo, filename):
        assert filename == "config.json"
        if repo == "bad//id":
            raise ValueError("not a repo id")
        return answers[repo]

    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lookup)
    assert local_model_folder("acme/cached") == snapshot
    assert local_model_folder("acme/absent") is None
    assert local_model_folder("acme/known-absent") is None
    assert local_model_folder("bad//id") is None


def test_the_recipe_that_makes_a_runs_path_is_the_recipe_name_above_it():
    from r1lab.checks.context import producer

    assert producer("runs/r1_zero/tiny") == "r1_zero/tiny"
    assert producer("runs/r1_zero/tiny/checkpoint-40/model") == "r1_zero/tiny"
    assert producer("runs/base/tiny/x") == "base/tiny"
    assert producer("runs/r1_zero/huge/model") is None
    assert producer("runs/r1_zero") is None
    assert producer("elsewhere/r1_zero/tiny") is None
    assert producer("r1_zero/tiny/model") is None  # only under runs/


def test_how_to_make_a_recipes_output_names_the_recipe_its_kind_and_where(tmp_path, monkeypatch):
    from r1lab.checks.context import how_to_make

    monkeypatch.chdir(tmp_path)
    assert how_to_make("runs/r1_zero/tiny/model") == (
        " It is the output of recipe 'r1_zero/tiny': make it first with `make grpo "
        "RECIPE=r1_zero/tiny` (or `.venv/bin/r1lab grpo r1_zero/tiny`), from the same directory. "
        f"('runs/r1_zero/tiny/model' is relative to the current directory, {tmp_path})"
    )
    assert how_to_make("runs/other/x") == (
        " It is another recipe's output: run that recipe first. ('runs/other/x' is relative to "
        f"the current directory, {tmp_path})"
    )
    assert how_to_make("/data/x") == "" and how_to_make("acme/model") == ""


def test_how_to_make_the_tiny_model_names_its_shape():
    from r1lab import tiny
    from r1lab.checks.context import how_to_make

    assert how_to_make(str(tiny.cached_dir("tiny"))) == (
        " Build the tiny model with `.venv/bin/r1lab tiny-model` (make demo does too)."
    )
    assert how_to_make(str(tiny.cached_dir("tiny-wide"))) == (
        " Build the tiny model with `.venv/bin/r1lab tiny-model --shape tiny-wide` (make demo does too)."
    )


def test_the_longest_prompt_is_counted_as_rendered_without_special_tokens():
    from r1lab.checks.context import longest_tokens

    class Words:  # a tokenizer of words; special tokens would add two
        chat_template = None

        def __call__(self, text, add_special_tokens=True):
            return {"input_ids": text.split() + (["<s>", "</s>"] if add_special_tokens else [])}

    assert longest_tokens(Words(), ["a b c", "a b c d e", "a"]) == 5


# ---- kinds/evaluate.py --------------------------------------------------------------------------


def test_evaluate_arguments_and_their_defaults():
    from r1lab.kinds.evaluate import parse_args

    args = parse_args(["evaluate/tiny"])
    assert (args.target, args.overrides, args.model, args.benchmark) == (
        "evaluate/tiny",
        [],
        None,
        None,
    )
    assert (args.k, args.num_problems, args.temperature, args.budgets) == (None, None, None, None)
    assert (args.out, args.fresh) == (None, False)
    args = parse_args(
        ["runs/m", "generate.seed=3", "--model", "m2", "--k", "4", "--num-problems", "12"]
        + ["--temperature", "0.7", "--out", "o/h.json", "--fresh"]
    )
    assert (args.target, args.overrides, args.model, args.k) == (
        "runs/m",
        ["generate.seed=3"],
        "m2",
        4,
    )
    assert (args.num_problems, args.temperature, args.out, args.fresh) == (
        12,
        0.7,
        "o/h.json",
        True,
    )


def test_overrides_after_benchmarks_or_budgets_are_overrides():
    from r1lab.kinds.evaluate import parse_args

    args = parse_args(
        [
            "evaluate/tiny",
            "a=1",
            "--benchmark",
            "aime24",
            "b=2",
            "math_500",
            "--budgets",
            "8",
            "c=3",
            "24",
        ]
    )
    assert args.benchmark == ["aime24", "math_500"]
    assert args.budgets == [8, 24]
    assert args.overrides == ["a=1", "b=2", "c=3"]


def test_budgets_that_are_not_whole_numbers_are_refused(capsys):
    from r1lab.kinds.evaluate import parse_args

    with pytest.raises(SystemExit) as exit_:
        parse_args(["evaluate/tiny", "--budgets", "8", "1e3"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--budgets takes whole numbers (max_think_tokens), got ['8', '1e3']" in err
    assert err.startswith("usage: r1lab evaluate ")


def test_evaluate_help_describes_each_argument(capsys):
    from r1lab.kinds.evaluate import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for shown in (
        "numbers you can trust. positional",  # the docstring's first line
        "target an evaluate recipe, a training recipe, or a model overrides recipe overrides, "
        "key=value options",
        "--model MODEL the model to evaluate (folder or Hub id) --benchmark",
        "[BENCHMARK ...] only these benchmarks --k K samples per problem, every benchmark "
        "--num-problems NUM_PROBLEMS the first n problems --temperature",
        "[BUDGETS ...] thinking budgets (max_think_tokens) to sample each benchmark at: the "
        "budget curve --out OUT training recipes: the held-out metrics' file (DIR/NAME.json) "
        "--fresh delete the output dir first",
    ):
        assert shown in text


def test_an_evaluate_recipe_takes_its_samples_per_problem_from_each_benchmark():
    from r1lab.kinds.evaluate import parse_generate

    with pytest.raises(RecipeError) as err:
        parse_generate({"num_samples": 8, "backend": "hf"})
    assert str(err.value).startswith("generate.num_samples: an evaluate recipe takes its samples")
    assert "benchmarks.<name>.k (or --k for all)" in str(err.value)
    cfg = parse_generate({"backend": "hf", "temperature": 0.3})
    assert (cfg.backend, cfg.temperature, cfg.num_samples) == ("hf", 0.3, 1)
    assert parse_generate(None).backend == "vllm"


def test_evaluate_checks_its_generation_settings_and_names_the_shards():
    from r1lab.kinds.evaluate import check_evaluate_generation

    ctx = context("evaluate/tiny", "generate.backend=hf", "generate.shard_size=25")
    assert findings(check_evaluate_generation, ctx) == [
        ("ok", "generate: samples on hf, shards of 25 prompts")
    ]
    served = context("evaluate/tiny", "generate.backend=openai")
    assert refusal(check_evaluate_generation, served).startswith("generate.base_url:")


def test_benchmarks_are_listed_with_their_samples_style_and_source():
    from r1lab.kinds.evaluate import check_benchmarks

    ctx = context("evaluate/tiny")
    ctx.__dict__["model_folder"] = None
    assert findings(check_benchmarks, ctx) == [
        (
            "ok",
            "benchmarks: aime24 (k=64, math, synthetic), aime25 (k=64, math, synthetic), "
            "math_500 (k=16, math, synthetic)",
        )
    ]


def test_an_evaluate_recipe_without_benchmarks_is_refused():
    from r1lab.kinds.evaluate import check_benchmarks

    ctx = context("evaluate/tiny")
    ctx.recipe.parsed["benchmarks"] = []
    assert refusal(check_benchmarks, ctx).startswith(
        "benchmarks: none named; e.g. benchmarks: [aime24"
    )


def test_several_greedy_samples_per_problem_are_refused():
    from r1lab.kinds.evaluate import check_benchmarks

    ctx = context(
        "evaluate/tiny",
        "generate.temperature=0",
        "benchmarks.aime24.k=1",
        "benchmarks.aime25.k=1",
        "benchmarks.math_500.k=2",
    )
    ctx.__dict__["model_folder"] = None
    assert refusal(check_benchmarks, ctx) == (
        "benchmarks.math_500.k=2 at generate.temperature=0: greedy samples are all the same; use "
        "k=1 (--k 1) for greedy evaluation"
    )


def test_a_benchmark_budget_or_verifier_that_cannot_hold_is_refused():
    from r1lab.kinds.evaluate import check_benchmarks

    # a budget of 50 thinking tokens under a floor of 100
    budget = context(
        "evaluate/tiny",
        "generate.backend=hf",
        "+generate.budget={min_think_tokens: 100}",
        "benchmarks.aime25.budgets=[200,50]",
    )
    assert refusal(check_benchmarks, budget).startswith("benchmarks.aime25.budgets: 50: ")
    verifier = context("evaluate/tiny", "+benchmarks.aime24.verifier=acuracy")
    assert "acuracy" in refusal(check_benchmarks, verifier)


def test_a_local_benchmark_file_must_exist(tmp_path):
    from r1lab.kinds.evaluate import check_benchmarks

    for source in (f"{tmp_path}/aime.jsonl", "./aime", "data/aime.parquet"):
        ctx = context("evaluate/tiny", f"benchmarks.aime24.source={source}")
        assert refusal(check_benchmarks, ctx) == f"benchmarks.aime24.source: no file at '{source}'"


class Words:
    """A tokenizer of words (a prompt's length is its word count)."""

    chat_template = None

    def __call__(self, text, add_special_tokens=True):
        return {"input_ids": text.split()}


def bench_context(*overrides: str, context_tokens: int = 256) -> Context:
    from pathlib import Path

    ctx = context("evaluate/tiny", "generate.backend=hf", *overrides)
    ctx.__dict__.update(
        model_folder=Path("/models/m"), model_context=context_tokens, tokenizer=Words()
    )
    return ctx


def longest_words(bench) -> int:
    from r1lab.prompts import format_prompt

    return max(len(format_prompt(p["question"], bench.template).split()) for p in bench.problems())


def test_a_benchmark_prompt_plus_new_tokens_beyond_the_context_is_an_error():
    from r1lab.kinds.evaluate import benchmarks, prompt_fits

    ctx = bench_context("benchmarks.aime24.num_problems=5")
    bench, cfg = benchmarks(ctx.recipe)[0], ctx.recipe.parsed["generate"]
    longest = longest_words(bench)
    fits = prompt_fits(ctx, bench, dataclasses.replace(cfg, max_new_tokens=256 - longest))
    assert (fits.status, fits.message) == (
        "ok",
        f"benchmarks.aime24: prompts fit the context ({longest} tokens at most)",
    )
    over = prompt_fits(ctx, bench, dataclasses.replace(cfg, max_new_tokens=257 - longest))
    assert (over.status, over.message) == (
        "error",
        f"benchmarks.aime24: its longest prompt ({longest} tokens) + generate.max_new_tokens "
        f"({257 - longest}) = 257 exceeds the model's context (256 tokens); lower "
        "generate.max_new_tokens, or leave this benchmark out for this model",
    )
    # generate.max_model_len below the context is the limit; above it, the context is
    capped = dataclasses.replace(cfg, max_new_tokens=10, max_model_len=longest + 9)
    assert f"({longest + 9} tokens)" in prompt_fits(ctx, bench, capped).message
    wide = dataclasses.replace(cfg, max_new_tokens=257 - longest, max_model_len=400)
    assert prompt_fits(ctx, bench, wide).status == "error"


def test_benchmark_prompts_are_measured_only_with_a_local_model_and_problems():
    from r1lab.kinds.evaluate import check_benchmarks

    ctx = bench_context("generate.max_new_tokens=250")
    found = findings(check_benchmarks, ctx)
    assert [s for s, _ in found] == ["error", "error", "error", "ok"]
    assert [m.split(":")[0] for _, m in found[:3]] == [
        "benchmarks.aime24",
        "benchmarks.aime25",
        "benchmarks.math_500",
    ]
    no_context = bench_context("generate.max_new_tokens=250", context_tokens=None)
    assert [s for s, _ in findings(check_benchmarks, no_context)] == ["ok"]
    no_model = bench_context("generate.max_new_tokens=250")
    no_model.__dict__["model_folder"] = None
    assert [s for s, _ in findings(check_benchmarks, no_model)] == ["ok"]
    # a Hub benchmark not downloaded is measured when it loads
    hub = bench_context("generate.max_new_tokens=250", "benchmarks.aime24.source=acme/aime-x")
    assert [m.split(":")[0] for _, m in findings(check_benchmarks, hub)] == [
        "benchmarks.aime25",
        "benchmarks.math_500",
        "benchmarks",
    ]


def test_a_benchmarks_settings_are_what_its_samples_depend_on():
    from r1lab import __version__
    from r1lab.kinds.evaluate import benchmarks, settings

    made = recipe("evaluate/tiny", "model.model_revision=abc1", "benchmarks.aime24.budgets=[8]")
    bench, cfg = benchmarks(made)[0], made.parsed["generate"]
    got = settings(made, bench, cfg)
    assert got["model"] == "runs/r1_zero/tiny" and got["revision"] == "abc1"
    assert got["model_settings"] == made.model and got["backend"] == "vllm"
    assert got["sampling"] == json.loads(cfg.provenance())
    assert got["benchmark"]["name"] == "aime24" and got["benchmark"]["k"] == 64
    assert "budgets" not in got["benchmark"]
    assert got["r1lab"] == __version__
    assert set(got) == {
        "model",
        "revision",
        "model_settings",
        "backend",
        "sampling",
        "benchmark",
        "r1lab",
    }


def test_a_budget_point_samples_k_with_the_thinking_capped():
    from r1lab.kinds.evaluate import benchmarks, budget_point

    made = recipe("evaluate/tiny", "generate.backend=hf", "+generate.budget={min_think_tokens: 4}")
    bench, cfg = benchmarks(made)[2], made.parsed["generate"]
    point = budget_point(bench, cfg, 40)
    assert (point.num_samples, point.budget.max_think_tokens, point.budget.min_think_tokens) == (
        16,
        40,
        4,
    )
    assert point.temperature == cfg.temperature and cfg.budget.max_think_tokens is None


def test_sample_sets_are_the_k_samples_then_greedy_then_each_budget_in_folders_of_their_own():
    from pathlib import Path

    from r1lab.kinds.evaluate import ADMITTED, benchmarks, sample_sets

    made = recipe(
        "evaluate/tiny",
        "generate.backend=hf",
        "benchmarks.aime24.greedy=true",
        "benchmarks.aime24.budgets=[8,16]",
        "trainer.output_dir=/out/ev",
    )
    bench, cfg = benchmarks(made)[0], made.parsed["generate"]
    sets = sample_sets(made, bench, cfg)
    assert [s.out for s in sets] == [
        Path("/out/ev/aime24"),
        Path("/out/ev/aime24/greedy"),
        Path("/out/ev/aime24/budget-8"),
        Path("/out/ev/aime24/budget-16"),
    ]
    assert [s.cfg.num_samples for s in sets] == [64, 1, 64, 64]
    assert [s.cfg.temperature for s in sets] == [0.6, 0.0, 0.6, 0.6]
    assert [s.cfg.budget and s.cfg.budget.max_think_tokens for s in sets] == [None, None, 8, 16]
    assert all(s.compared == ADMITTED for s in sets)
    assert [s.settings["sampling"]["temperature"] for s in sets] == [0.6, 0.0, 0.6, 0.6]
    assert sets[1].made_by != sets[0].made_by  # each set's own sampling is what its samples carry
    plain = sample_sets(made, benchmarks(made)[1], cfg)
    assert [s.out for s in plain] == [Path("/out/ev/aime25")]


def test_an_evaluation_is_finished_when_every_benchmark_and_the_table_are_there(tmp_path):
    from r1lab import run_dir
    from r1lab.kinds.evaluate import finished

    made = recipe("evaluate/tiny", f"trainer.output_dir={tmp_path}")
    run_dir.write_recipe(made, tmp_path)
    for name in ("aime24", "aime25"):
        (tmp_path / f"{name}.json").write_text("{}")
    (tmp_path / "results.md").write_text("| table |")
    assert not finished(made)  # math_500 not scored
    (tmp_path / "math_500.json").write_text("{}")
    assert finished(made)
    (tmp_path / "results.md").unlink()
    assert not finished(made)
    (tmp_path / "results.md").write_text("| table |")
    other = recipe("evaluate/tiny", f"trainer.output_dir={tmp_path}", "generate.top_p=0.5")
    assert not finished(other)  # another recipe's results


def evaluated(*argv: str):
    from r1lab.kinds.evaluate import parse_args, recipe_of

    return recipe_of(parse_args(list(argv)))


def test_an_evaluate_recipe_runs_with_the_command_lines_model_and_options():
    from r1lab.kinds.evaluate import benchmarks

    made = evaluated(
        "evaluate/tiny",
        "generate.top_p=0.5",
        "--model",
        "runs/x/m/",
        "--k",
        "3",
        "--num-problems",
        "7",
    )
    assert (made.name, made.kind) == ("evaluate/tiny", "evaluate")
    assert made.model["model_name_or_path"] == "runs/x/m/"
    assert made.output_dir == "runs/evaluate/tiny/m"
    assert made.parsed["generate"].top_p == 0.5 and made.overrides == ["generate.top_p=0.5"]
    assert [(b.name, b.k, b.num_problems) for b in benchmarks(made)] == [
        ("aime24", 3, 7),
        ("aime25", 3, 7),
        ("math_500", 3, 7),
    ]
    only = evaluated(
        "evaluate/tiny", "--benchmark", "math_500", "--temperature", "0.2", "--budgets", "9"
    )
    assert [(b.name, b.k, b.budgets) for b in benchmarks(only)] == [("math_500", 16, [9])]
    assert only.parsed["generate"].temperature == 0.2


def test_a_model_alone_is_evaluated_with_the_r1_protocol_recipe(tmp_path):
    from r1lab.kinds.evaluate import DEFAULT_RECIPE

    made = evaluated("runs/mine/model", "generate.seed=4")
    assert made.name == DEFAULT_RECIPE == "evaluate/r1"
    assert made.model["model_name_or_path"] == "runs/mine/model"
    assert made.parsed["generate"].seed == 4
    # a folder that exists is a model even where its first part names recipes
    (tmp_path / "evaluate" / "mine").mkdir(parents=True)
    folder = evaluated(str(tmp_path / "evaluate" / "mine"))
    assert folder.model["model_name_or_path"] == str(tmp_path / "evaluate" / "mine")


def test_a_mistyped_evaluate_recipe_is_not_taken_for_a_model():
    with pytest.raises(RecipeError, match="evaluate/tin"):
        evaluated("evaluate/tin")


def test_a_training_recipe_with_benchmarks_evaluates_its_model_as_it_was_prompted():
    from r1lab.kinds.evaluate import benchmarks

    made = evaluated(
        "r1_zero/tiny", "--benchmark", "aime24", "math_500", "generate.seed=5", "--k", "2"
    )
    assert made.name == "evaluate/r1" and made.kind == "evaluate"
    # runs/r1_zero/tiny holds no model here: the model it starts from
    assert made.model["model_name_or_path"] == "runs/base/tiny"
    assert [(b.name, b.template, b.k) for b in benchmarks(made)] == [
        ("aime24", "r1_zero", 2),
        ("math_500", "r1_zero", 2),
    ]
    assert made.parsed["generate"].seed == 5
    chosen = evaluated("r1_zero/tiny", "--benchmark", "aime24", "--model", "runs/other/m")
    assert chosen.model["model_name_or_path"] == "runs/other/m"


def test_a_training_recipe_alone_evaluates_its_held_out_split():
    from r1lab.kinds.evaluate import benchmarks

    made = evaluated("r1_zero/tiny", "data.seed=9", "--k", "2")
    assert made.name == "r1_zero/tiny" and made.kind == "evaluate"
    [bench] = benchmarks(made)
    assert bench.data["seed"] == 9  # the overrides are the training recipe's
    assert (bench.name, bench.k, bench.style, bench.template) == ("heldout", 2, "task", "r1_zero")
    assert made.output_dir == "runs/r1_zero/tiny/heldout"
    out = evaluated("r1_zero/tiny", "--out", "/tmp/x/held.json")
    assert benchmarks(out)[0].name == "held" and out.output_dir == "/tmp/x"


class Answers:
    """A generator that answers every prompt with `answer`, and counts its calls."""

    def __init__(self, answer: str = "7") -> None:
        self.answer, self.calls = answer, []

    def generate(self, prompts, n, sampling, ids=None):
        from r1lab.generation.base import Completion

        self.calls.append((len(prompts), n))
        text = f"<think> add </think> <answer> {self.answer} </answer>"
        return [[Completion(text, "stop", 10, 9) for _ in range(n)] for _ in prompts]


def small_evaluation(tmp_path, monkeypatch, *overrides: str):
    """evaluate/tiny on 3 problems of two benchmarks, k=2, generated by `Answers`: the recipe and
    the engines `GenerateConfig.load` made (with the model section each was asked for)."""
    from r1lab.generation.settings import GenerateConfig

    loaded = []

    def load(self, model, node=0):
        loaded.append((dict(model), node, Answers()))
        return loaded[-1][2]

    monkeypatch.setattr(GenerateConfig, "load", load)
    made = evaluated(
        "evaluate/tiny",
        "generate.backend=hf",
        f"trainer.output_dir={tmp_path}",
        *overrides,
        "--benchmark",
        "aime24",
        "math_500",
        "--k",
        "2",
        "--num-problems",
        "3",
    )
    return made, loaded


def test_an_evaluation_generates_with_one_engine_and_scores_every_benchmark(
    tmp_path, monkeypatch, capsys
):
    from r1lab.kinds.evaluate import evaluate

    made, loaded = small_evaluation(tmp_path, monkeypatch, "benchmarks.aime24.greedy=true")
    reports = evaluate(made)
    assert list(reports) == ["aime24", "math_500"]
    [(model, node, engine)] = loaded  # one engine for both benchmarks and the greedy samples
    assert model == made.model and node == 0
    assert sorted(engine.calls) == [(3, 1), (3, 2), (3, 2)]
    for name in ("aime24", "math_500"):
        assert json.loads((tmp_path / f"{name}.json").read_text())["benchmark"] == name
    table = (tmp_path / "results.md").read_text()
    assert "aime24" in table and "math_500" in table and table in capsys.readouterr().out
    assert (tmp_path / "scaling.md").read_text().strip() and (
        tmp_path / "scaling.png"
    ).stat().st_size
    assert json.loads((tmp_path / "lineage.json").read_text())["benchmarks"] == [
        "aime24",
        "math_500",
    ]


@pytest.mark.timeout(60)  # a node that went on to score would wait for every shard
def test_a_node_other_than_the_first_only_generates_its_shards(tmp_path, monkeypatch):
    from r1lab.kinds.evaluate import evaluate

    monkeypatch.setenv("R1LAB_NODE_RANK", "1")
    monkeypatch.setenv("R1LAB_NUM_NODES", "2")
    made, loaded = small_evaluation(tmp_path, monkeypatch, "generate.shard_size=1")
    assert evaluate(made) == {}
    [(_, node, engine)] = loaded
    assert node == 1 and engine.calls  # shards 1 of each benchmark (3 problems, 1 per shard)
    assert not (tmp_path / "results.md").exists() and not (tmp_path / "aime24.json").exists()


def test_main_starts_the_run_admitting_other_benchmarks_and_evaluates(monkeypatch):
    from r1lab import run_start
    from r1lab.generation.settings import NOT_GENERATION
    from r1lab.kinds import evaluate as kind

    begun, ran = [], []
    monkeypatch.setattr(
        run_start, "begin", lambda facts, fresh, ignore: begun.append((facts, fresh, ignore))
    )
    monkeypatch.setattr(kind, "evaluate", lambda made: ran.append(made))
    assert kind.main(["evaluate/tiny", "generate.seed=3", "--fresh"]) == 0
    [(facts, fresh, ignore)] = begun
    assert facts.kind is kind.KIND and fresh is True
    assert facts.recipe.name == "evaluate/tiny" and facts.recipe.parsed["generate"].seed == 3
    # what each benchmark's sample sets admit themselves is not the output dir's to refuse
    assert set(ignore) == {*NOT_GENERATION, "benchmarks", "model", "generate"}
    assert ran == [facts.recipe]
    kind.main(["evaluate/tiny"])
    assert begun[1][1] is False
