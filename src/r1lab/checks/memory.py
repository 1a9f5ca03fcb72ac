"""The memory plan as a check (r1lab.memory_plan): a run that cannot fit its GPUs is refused here,
not after the queue and the model's load."""

from __future__ import annotations

from pathlib import Path

from r1lab import memory_plan, model_shape
from r1lab.checks.context import Context
from r1lab.checks.findings import Finding, Findings, detail, error, ok, skipped, warning
from r1lab.checks.trainer import precision, unknown_trainer_keys
from r1lab.errors import RecipeError


def planned_gpu(ctx: Context) -> tuple[memory_plan.GPU, bool]:
    """The GPU to plan for, and whether it is only the default (nothing named one)."""
    import os

    name = ctx.gpu or os.environ.get("R1LAB_SLURM_GPU") or ctx.recipe.slurm.get("gpu")
    return memory_plan.gpu_named(str(name or memory_plan.DEFAULT_GPU)), not name


def parallel_of(ctx: Context, shape: model_shape.ModelShape) -> memory_plan.Parallel:
    """How the accelerate file and the trainer's precision hold model states on each rank."""
    acc = ctx.accelerate
    ds = acc.settings.get("deepspeed_config") or {}
    stage = int(ds.get("zero_stage", 0) or 0) if acc.distributed_type == "DEEPSPEED" else 0
    fsdp = acc.settings.get("fsdp_config") or {} if acc.distributed_type == "FSDP" else None
    if fsdp is not None:  # FSDP shards what ZeRO-3 does; without resharding, what ZeRO-2 does
        stage = 3 if fsdp.get("fsdp_reshard_after_forward", True) else 2
        if fsdp.get("fsdp_offload_params"):
            ds = {"offload_optimizer_device": "cpu", "offload_param_device": "cpu"}

    def offloaded(key: str) -> bool:
        return str(ds.get(key, "none")).lower() not in ("none", "")

    dtype = str(ctx.recipe.model.get("dtype") or "auto")
    weight_bytes = model_shape.DTYPE_BYTES.get(dtype if dtype != "auto" else shape.dtype, 4)
    compute = 2 if precision(ctx.recipe.trainer) != "no" else weight_bytes
    return memory_plan.Parallel(
        processes=ctx.num_processes,
        zero_stage=stage,
        fsdp=f"FSDP{acc.fsdp_version}" if fsdp is not None else None,
        offload_optimizer=offloaded("offload_optimizer_device"),
        offload_params=offloaded("offload_param_device"),
        weight_bytes=weight_bytes,
        compute_bytes=compute,
    )


def _shape_or_skip(ctx: Context) -> tuple[model_shape.ModelShape | None, Finding | None]:
    """The model's shape for a plan, or (None, why there is none)."""
    ref = ctx.recipe.model.get("model_name_or_path")
    if ctx.model_pending:
        return None, skipped(f"memory plan: the model ({ref}) is an earlier stage's output")
    try:
        shape = ctx.model_shape
    except (ValueError, KeyError, OSError, ImportError) as err:  # an architecture it cannot build
        return None, skipped(
            f"memory plan: transformers cannot build '{ref}' from its config ({err})"
        )
    if shape is None:
        return None, skipped(
            f"memory plan: no config.json for '{ref}' here (not a local folder, not in the Hub "
            f"cache, not in {model_shape.configs_dir()}); copy the Hub's config.json to "
            f"{model_shape.configs_dir()}/{ref}/config.json to plan offline"
        )
    return shape, None


def check_memory_plan(ctx: Context) -> Findings:
    """GPU memory per rank and time per step, from the model's config and the trainer's settings:
    a run that cannot fit is refused here, not after the queue and a 7B model's load."""
    if ctx.kind.workload is None or unknown_trainer_keys(ctx):
        return
    if ctx.on_cpu:
        yield skipped("memory plan: a CPU run (no GPU to plan for)")
        return
    shape, skip = _shape_or_skip(ctx)
    if shape is None:
        yield skip
        return
    gpu, assumed = planned_gpu(ctx)
    par = parallel_of(ctx, shape)
    try:
        config = ctx.trl_config
    except RecipeError:
        return  # check_trl_config reports it
    prompt = ctx.longest_prompt if ctx.lengths_checkable else None
    work = ctx.kind.workload(ctx.recipe, config, par.compute_bytes, prompt)
    plan = memory_plan.plan_training(shape, par, work, gpu)
    estimate = memory_plan.step_estimate(shape, par, work, gpu)
    which = f"{gpu.name} (assumed: name yours with --gpu or slurm.gpu)" if assumed else gpu.name
    head = (
        f"memory plan per rank on {which}: {memory_plan.gib(plan.total)} of "
        f"{gpu.memory_gib:.1f} GiB ({plan.fraction:.0%}); {shape.name}, "
        f"{shape.params / 1e9:.2f}B params, {par.label}"
    )
    trained = (
        f"{shape.trainable_params / 1e9:.3g}B trained (LoRA)"
        if ctx.recipe.model.get("use_peft")
        else "all trained"
    )
    yield detail(f"model: {shape.params / 1e9:.2f}B params, {trained}; config {shape.source}")
    if work.teacher is not None and work.teacher.shape is not None:
        t = work.teacher.shape
        yield detail(f"teacher: {t.name}, {t.params / 1e9:.2f}B params; config {t.source}")
    for line in [*plan.table(), *estimate.lines(work.max_steps)]:
        yield detail(line)
    if plan.fits and plan.fraction <= memory_plan.WARN_FRACTION:
        yield ok(head)
        return
    lora = (
        (lambda: model_shape.load(Path(shape.source).parent, shape.name, {"use_peft": True}))
        if not ctx.recipe.model.get("use_peft")
        else None
    )
    fixes = memory_plan.remedies(shape, par, work, gpu, lora)
    how = "; ".join(f"{r.setting} ({memory_plan.gib(r.plan.total)})" for r in fixes[:4])
    biggest = plan.biggest
    teacher = memory_plan.teacher_share(plan)
    share = f" The teacher's share is {memory_plan.gib(teacher)} of it." if teacher else ""
    bigger = [g.name for g in memory_plan.GPUS.values() if g.memory_gib * 2**30 > plan.total]
    if not plan.fits:
        yield error(
            f"{head}: does not fit. The biggest term is {biggest.name}, "
            f"{memory_plan.gib(biggest.bytes)} ({biggest.note}).{share} "
            + (f"It fits with: {how}" if fixes else "No one or two settings make it fit")
            + (f"; or on a bigger GPU: --gpu {' / '.join(bigger)}" if bigger else "")
        )
    else:
        yield warning(
            f"{head}: above {memory_plan.WARN_FRACTION:.0%}, little room for fragmentation.{share}"
            + (f" More room with: {how}" if fixes else "")
        )


def engine_plan(
    ctx: Context, tensor_parallel: int, utilization: float | None, max_model_len: int | None
) -> Findings:
    """A vLLM engine on GPUs (a Slurm job with gpus_per_node, or `--gpu`): its weights per GPU and
    how many max_model_len sequences its KV cache holds; vLLM refuses to start below one."""
    if not (ctx.gpu or ctx.recipe.slurm.get("gpus_per_node")):
        return
    gpu, assumed = planned_gpu(ctx)
    shape, skip = _shape_or_skip(ctx)
    if shape is None:
        yield skip
        return
    length = int(max_model_len or shape.context or 4096)
    plan, sequences = memory_plan.plan_engine(
        shape, gpu, tensor_parallel, utilization or 0.9, length
    )
    for line in plan.table():
        yield detail(line)
    which = f"{gpu.name} (assumed)" if assumed else gpu.name
    head = (
        f"engine plan per GPU on {which}: {shape.name} on {tensor_parallel} GPU(s), KV cache for "
        f"{sequences} sequence(s) of {length} tokens"
    )
    if sequences < 1:
        raise RecipeError(
            f"{head}: vLLM refuses to start (the KV cache must hold one max_model_len sequence). "
            "Raise generate.tensor_parallel_size or generate.gpu_memory_utilization, or lower "
            "generate.max_model_len"
        )
    yield ok(head)


# Checks of the `trainer:` section and its launch: only for kinds with a TRL config class.
