"""Checks that what a run needs is installed (vLLM, PEFT, DeepSpeed, Liger), found without importing
it, and set up as the trainer expects."""

from __future__ import annotations

from r1lab.checks import context
from r1lab.checks.context import Context
from r1lab.checks.findings import Finding, Findings, ok, skipped, warning
from r1lab.checks.trainer import precision
from r1lab.errors import RecipeError


def installed(module: str) -> bool:
    """Whether `module` can be imported, found without importing it (vLLM, DeepSpeed take
    seconds to import)."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def check_vllm(ctx: Context) -> Findings:
    if not ctx.recipe.trainer.get("use_vllm"):
        return
    if not installed("vllm"):
        raise RecipeError(
            "trainer.use_vllm=true: vLLM is not installed here. `make install` brings it (the "
            "`vllm` extra on a CUDA machine: pip install -e '.[vllm]'); or set "
            "trainer.use_vllm=false to generate with transformers"
        )
    yield ok("vLLM installed (trainer.use_vllm)")


def check_peft(ctx: Context) -> Findings:
    """LoRA (`model.use_peft`): PEFT installed, and the `lora:` section used only with it."""
    model = ctx.recipe.model
    save = ctx.recipe.sections.get("lora", {}).get("save", "merged")
    if not model.get("use_peft"):
        if "lora" in ctx.recipe.sections or any(k.startswith("lora_") for k in model):
            yield warning(
                "LoRA settings are given (model.lora_* or lora:) but model.use_peft is false, so "
                "the whole model trains; set model.use_peft=true for LoRA"
            )
        return
    if not installed("peft"):
        raise RecipeError(
            "model.use_peft=true: LoRA needs the peft package, which is not installed here: "
            "pip install 'peft>=0.17,<0.22' (`make install` brings it), or set "
            "model.use_peft=false to train the whole model"
        )
    targets = model.get("lora_target_modules") or "the model type's default"
    yield ok(
        f"LoRA: r={model.get('lora_r', 16)}, alpha={model.get('lora_alpha', 32)}, target "
        f"modules {targets}; saves the {save} model"
    )


def check_deepspeed(ctx: Context) -> Findings:
    """A DeepSpeed accelerate config (zero2, zero3) or trainer.deepspeed: DeepSpeed installed, and
    the config's mixed precision the trainer's (transformers refuses a mismatch after loading)."""
    uses = ctx.accelerate.distributed_type == "DEEPSPEED" or ctx.recipe.trainer.get("deepspeed")
    if not uses:
        return
    what = (
        f"accelerate={ctx.recipe.accelerate} runs DeepSpeed"
        if ctx.accelerate.distributed_type == "DEEPSPEED"
        else "trainer.deepspeed runs DeepSpeed"
    )
    if not installed("deepspeed"):
        raise RecipeError(
            f"{what}, which is not installed here: pip install -e '.[deepspeed]' (`make "
            "install` brings it), or choose accelerate=ddp (GPUs) or accelerate=cpu"
        )
    if ctx.accelerate.distributed_type == "DEEPSPEED":
        import os

        launched = os.environ.get("ACCELERATE_MIXED_PRECISION")  # accelerate launch's, if any
        config = launched or str(ctx.accelerate.settings.get("mixed_precision", "no"))
        wanted = precision(ctx.recipe.trainer)
        if config != wanted:
            how = (
                f"`r1lab launch` (make) passes --mixed_precision {wanted}; under accelerate "
                f"launch add --mixed_precision {wanted}"
            )
            message = (
                f"{what} with mixed_precision {config}, but the trainer's precision is {wanted} "
                f"(trainer.bf16/fp16); DeepSpeed refuses the mismatch once the model has loaded"
            )
            if launched or ctx.running:
                raise RecipeError(f"{message}. {how}")
            yield warning(f"{message}: {how}")
    yield ok(f"DeepSpeed installed ({what.split(' runs')[0]})")


def gpu_package_missing(ctx: Context, message: str) -> Finding:
    """A package only GPU machines need is not installed here: an error for the run itself or on
    a GPU machine that would run it, else a warning (checked again where the run starts)."""
    if ctx.running or context.has_gpu():
        raise RecipeError(message)
    return warning(f"{message} (a GPU-only package; checked again where the run starts)")


def check_liger(ctx: Context) -> Findings:
    """`trainer.use_liger_kernel`: Liger's Triton kernels need the package and a CUDA GPU."""
    if not ctx.recipe.trainer.get("use_liger_kernel"):
        return
    if ctx.on_cpu:
        raise RecipeError(
            "trainer.use_liger_kernel=true: Liger's Triton kernels run only on a CUDA GPU, and "
            "this run is on a CPU; set trainer.use_liger_kernel=false"
        )
    if not installed("liger_kernel"):
        yield gpu_package_missing(
            ctx,
            "trainer.use_liger_kernel=true needs the liger-kernel package, which is not "
            "installed here: pip install -e '.[liger]' on the GPU machines, or set "
            "trainer.use_liger_kernel=false",
        )
        return
    if not context.has_gpu():
        yield skipped("Liger kernels: no GPU on this machine (checked on the training nodes)")
        return
    yield ok("Liger kernels: liger-kernel installed, GPU present")
