"""Every check that TRL would only make after loading a model, made first, in seconds.

A check is a small function of a `Context` (the composed recipe, its kind, the process count, the
data's columns) that returns its findings: ok, skipped (and why), or an error that says what to
change; raising `RecipeError` is the short way to return one error. `check()` runs the common
checks, then the kind's own (`Kind.checks`), and reports every failure at once. A fact several
checks need (the data config, the model folder) is computed once on the context; when it cannot
be computed, each check that needs it raises the same error, which the report lists once.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from r1lab import accelerate_config, memory_plan, model_shape
from r1lab.data import DataConfig, columns_after_shaping, peek_columns
from r1lab.errors import RecipeError, unknown_key
from r1lab.kind import Kind
from r1lab.recipe import Recipe

CHAT_TEMPLATES = ("r1_zero_chat", "chat")
ANSWER_COLUMNS = ("solution", "answer", "final_answer", "reference", "target")


@dataclass(frozen=True)
class Finding:
    status: str  # "error" | "warning" | "ok" | "skipped"
    message: str


def ok(message: str) -> Finding:
    return Finding("ok", message)


def skipped(message: str) -> Finding:
    return Finding("skipped", message)


def error(message: str) -> Finding:
    return Finding("error", message)


def warning(message: str) -> Finding:
    """Runs, but probably not as meant; the run goes ahead."""
    return Finding("warning", message)


def detail(message: str) -> Finding:
    """A line of a table printed under the findings (the memory plan)."""
    return Finding("detail", message)


Findings = Iterable[Finding] | None
Check = Callable[["Context"], Findings]


@dataclass
class Report:
    recipe: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)

    def add(self, finding: Finding) -> None:
        if finding.status == "detail":
            self.details.append(finding.message)
            return
        target = {
            "error": self.errors,
            "warning": self.warnings,
            "ok": self.passed,
            "skipped": self.skipped,
        }
        bucket = target[finding.status]
        if finding.message not in bucket:  # a shared fact that failed is reported once
            bucket.append(finding.message)

    def text(self) -> str:
        lines = [f"r1lab check {self.recipe}: " + ("FAILED" if self.errors else "ok")]
        lines += [f"  error    {m}" for m in self.errors]
        lines += [f"  warning  {m}" for m in self.warnings]
        lines += [f"  ok       {m}" for m in self.passed]
        lines += [f"  skipped  {m}" for m in self.skipped]
        lines += [f"    {m}" for m in self.details]
        return "\n".join(lines)

    def raise_if_failed(self) -> None:
        if self.errors:
            raise RecipeError(self.text())


@dataclass
class Context:
    """What the checks look at. `running`: inside the run itself (GPU presence is then known)."""

    recipe: Recipe
    kind: Kind
    processes: int | None = None  # None: from the accelerate config (or $WORLD_SIZE)
    running: bool = False
    columns: list[str] | None = None  # raw dataset columns, when the caller already has them
    # outputs that earlier stages of a pipeline make and have not finished: not there yet
    made_earlier: tuple[str, ...] = ()
    gpu: str | None = None  # the GPU the memory plan assumes (`--gpu`); else slurm.gpu or default

    def made_by_earlier_stage(self, ref: str) -> bool:
        """`ref` lies in the output of an earlier pipeline stage that has not finished (what is
        there may be a cut-off run's leftovers: it is checked once that stage has run)."""
        path = Path(ref).expanduser().resolve()
        return any(path.is_relative_to(Path(o).expanduser().resolve()) for o in self.made_earlier)

    @cached_property
    def accelerate(self) -> accelerate_config.AccelerateConfig:
        return accelerate_config.load(self.recipe.accelerate)

    @cached_property
    def num_processes(self) -> int:
        return self.processes or self.accelerate.run_processes()

    @cached_property
    def data(self) -> DataConfig:
        return DataConfig.from_recipe(self.recipe.data)

    @cached_property
    def source_pending(self) -> bool:
        """`data.source` is another recipe's output (under runs/) that does not exist yet."""
        source = self.data.source
        if self.made_by_earlier_stage(source):
            return True
        return source.startswith("runs/") and not Path(source).expanduser().exists()

    @cached_property
    def raw_columns(self) -> list[str] | None:
        """The dataset's columns; None for a Hub dataset, whose columns are known once loaded,
        and, when only checking, for another recipe's output not made yet."""
        if self.columns is not None:
            return self.columns
        if self.source_pending:
            if self.running:
                raise RecipeError(
                    f"data.source: no file or folder at '{self.data.source}'."
                    f"{_how_to_make(self.data.source)}"
                )
            return None
        return peek_columns(self.data)

    @cached_property
    def on_cpu(self) -> bool:
        if self.recipe.trainer.get("use_cpu") or self.recipe.accelerate == "cpu":
            return True
        return self.running and not _has_gpu()

    @cached_property
    def model_folder(self) -> Path | None:
        if not self.kind.loads_model(self.recipe) or self.model_pending:
            return None
        return local_model_folder(str(self.recipe.model["model_name_or_path"]))

    @cached_property
    def model_pending(self) -> bool:
        """The model is an earlier pipeline stage's output, not made yet (or still being made)."""
        return self.made_by_earlier_stage(str(self.recipe.model.get("model_name_or_path", "")))

    @cached_property
    def model_context(self) -> int | None:
        folder = self.model_folder
        config = json.loads((folder / "config.json").read_text()) if folder else {}
        return config.get("max_position_embeddings")

    @property
    def gpu_unknown(self) -> bool:
        """A GPU recipe checked on a machine without one: bf16/fp16 cannot be checked here."""
        return not self.on_cpu and not _has_gpu()

    @cached_property
    def trl_config(self) -> Any:
        """TRL's own config object from `trainer:`, as the run's processes will build it (bf16/fp16
        left out where no GPU is here to accept them)."""
        kwargs = dict(self.recipe.trainer)
        kwargs.setdefault("output_dir", self.recipe.output_dir)
        kwargs.pop("report_to", None)  # needs wandb/tensorboard set up; checked at run time
        if self.gpu_unknown:
            kwargs["bf16"] = kwargs["fp16"] = False
        try:
            return self.kind.build_config(kwargs, num_processes=self.num_processes)
        except (ValueError, TypeError) as err:
            raise RecipeError(f"trainer: TRL rejects this configuration: {err}") from None

    @cached_property
    def model_shape(self) -> model_shape.ModelShape | None:
        """The model's shape from its config.json: local, the Hub cache, or the repo's copy."""
        ref = str(self.recipe.model.get("model_name_or_path", ""))
        folder = self.model_folder
        if folder is None and not self.model_pending:
            shipped = model_shape.shipped_config(ref)
            folder = shipped.parent if shipped else None
        return model_shape.load(folder, ref, lora=self.recipe.model) if folder else None

    @cached_property
    def tokenizer(self) -> Any:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(self.model_folder))

    @cached_property
    def longest_prompt(self) -> int:
        """Tokens of the longest prompt among the first 256 training rows, as the model sees it."""
        from r1lab.data import format_dataset, load_raw

        raw = load_raw(self.data, "train")
        rows = format_dataset(raw.select(range(min(len(raw), 256))), self.data, completions=False)
        return longest_tokens(self.tokenizer, rows["prompt"])

    @property
    def lengths_checkable(self) -> bool:
        if not self.kind.reads_data:
            return False
        if self.source_pending:  # made by an earlier stage: measured when it is there
            return False
        return bool(self.model_folder and self.model_context and self.data.is_local)


def longest_tokens(tokenizer: Any, prompts: Any) -> int:
    """Tokens of the longest prompt (a string or chat messages), rendered as the model sees it
    and tokenized as the generators do (no special tokens added)."""
    from r1lab.generation import render_prompt

    return max(
        len(tokenizer(render_prompt(tokenizer, p), add_special_tokens=False)["input_ids"])
        for p in prompts
    )


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def local_model_folder(ref: str) -> Path | None:
    """The folder holding `ref`'s config.json: a local path, or the Hub cache; None if neither."""
    path = Path(ref).expanduser()
    if path.exists() or ref.startswith(("/", "./", "../", "~", "runs/")):
        from r1lab import lora

        if lora.is_adapter_folder(path):  # a LoRA adapter: merged onto its base when loaded
            return local_model_folder(lora.base_of(path))
        if not (path / "config.json").exists():
            raise RecipeError(
                f"model.model_name_or_path: no model at '{ref}' (no config.json).{_how_to_make(ref)}"
            )
        return path
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(ref, "config.json")
    except Exception:  # a malformed repo id is reported by TRL when it loads
        cached = None
    return Path(cached).parent if isinstance(cached, str) else None


def producer(ref: str) -> str | None:
    """The recipe whose default output dir (runs/<recipe>) holds `ref`, if any."""
    from r1lab.recipe import list_recipes

    if not ref.startswith("runs/"):
        return None
    parts, names = Path(ref.removeprefix("runs/")).parts, set(list_recipes())
    return next((n for k in range(len(parts), 0, -1) if (n := "/".join(parts[:k])) in names), None)


def _how_to_make(ref: str) -> str:
    """Which recipe makes the model or data at `ref` (in its default output dir), and how."""
    from r1lab.recipe import compose
    from r1lab.tiny import shape_at

    shape = shape_at(ref)
    if shape is not None:
        flag = "" if shape == "tiny" else f" --shape {shape}"
        return (
            f" Build the tiny model with `.venv/bin/r1lab tiny-model{flag}` (make demo does too)."
        )
    if ref.startswith("runs/"):
        name = producer(ref)
        where = f" ('{ref}' is relative to the current directory, {Path.cwd()})"
        if name is not None:
            kind = compose(name).kind
            return (
                f" It is the output of recipe '{name}': make it first with `make {kind} "
                f"RECIPE={name}` (or `.venv/bin/r1lab {kind} {name}`), from the same directory.{where}"
            )
        return f" It is another recipe's output: run that recipe first.{where}"
    return ""


# ---- common checks, in report order ----------------------------------------------------------


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


def check_model_keys(ctx: Context) -> Findings:
    from trl import ModelConfig

    names = [f.name for f in dataclasses.fields(ModelConfig)]
    for key in ctx.recipe.model:
        if key not in names:
            raise unknown_key(f"model.{key}", key, names, owner="TRL's ModelConfig")
    if not ctx.recipe.model.get("model_name_or_path"):
        raise RecipeError("model.model_name_or_path is required (a Hub id or a local folder)")


def check_task_splits(ctx: Context) -> Findings:
    """Both splits of a synthetic task must be drawable at the sizes the run and `evaluate` use."""
    data = ctx.data
    if not data.task_name:
        return
    from r1lab.tasks import generate_rows

    generate_rows(data.task_name, "train", data.train_size or 1000, data.seed, **data.task)
    test_size = ctx.recipe.evaluate.get("num_problems") or data.test_size
    if test_size:
        generate_rows(data.task_name, "test", test_size, data.seed, **data.task)


def check_data_columns(ctx: Context) -> Findings:
    """The columns the template reads, against what the dataset has."""
    data, columns = ctx.data, ctx.raw_columns
    if columns is None and ctx.source_pending:
        yield skipped(
            f"dataset columns: '{data.source}' does not exist yet, so its columns are checked "
            f"when the run starts.{_how_to_make(data.source)}"
        )
        return
    if columns is None:
        yield skipped(
            f"dataset columns: '{data.source}' is a Hub dataset; its columns are checked right "
            "after it loads, before the model loads"
        )
        return
    if data.template == "none":
        if "prompt" not in columns and "messages" not in columns:
            raise RecipeError(
                f"data.template is none, so the dataset needs a 'prompt' or 'messages' column; "
                f"{data.source} has {columns}"
            )
    else:
        for col in data.input_columns(ctx.kind.trains_on_completions):
            if col not in columns:
                raise RecipeError(
                    f"data: column '{col}' not in {data.source} (columns: {columns}); "
                    "set data.question_column / data.completion_column to existing columns"
                )
    yield ok(f"dataset columns: {columns}")


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


def check_model_files(ctx: Context) -> Findings:
    ref = str(ctx.recipe.model["model_name_or_path"])
    folder = ctx.model_folder
    if not ctx.kind.loads_model(ctx.recipe):
        yield skipped(f"model files: '{ref}' is a served model's name; this run loads no model")
        return
    if ctx.model_pending:
        yield skipped(f"model files: '{ref}' is made by an earlier stage; checked when it has run")
        return
    if folder is None:
        yield skipped(
            f"model files: '{ref}' is a Hub id not in the local cache; context length and chat "
            "template are checked when it loads"
        )
        return
    template = ctx.data.template if ctx.kind.reads_data else None
    if template in CHAT_TEMPLATES and not getattr(ctx.tokenizer, "chat_template", None):
        raise RecipeError(
            f"data.template={template} needs a chat template, and the tokenizer in {folder} has "
            "none; use data.template=r1_zero (plain text) for base models"
        )
    yield ok(f"model files found in {folder}")


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


def precision(trainer: dict[str, Any]) -> str:
    """The mixed precision the TRL config will have: TRL turns bf16 on unless fp16 is set."""
    fp16 = bool(trainer.get("fp16"))
    bf16 = trainer.get("bf16")
    bf16 = (not fp16) if bf16 is None else bool(bf16)
    return "bf16" if bf16 else "fp16" if fp16 else "no"


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
    if ctx.running or _has_gpu():
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
    if not _has_gpu():
        yield skipped("Liger kernels: no GPU on this machine (checked on the training nodes)")
        return
    yield ok("Liger kernels: liger-kernel installed, GPU present")


COMMON_CHECKS: tuple[Check, ...] = (
    check_accelerate,
    check_trainer_keys,
    check_model_keys,
    check_task_splits,
    check_data_columns,
    check_cpu_settings,
    check_trl_config,
    check_checkpoints,
    check_model_files,
    check_vllm,
    check_peft,
    check_deepspeed,
    check_liger,
)


# ---- checks that kinds list as their own ------------------------------------------------------


def check_max_length_fits_context(ctx: Context) -> Findings:
    """SFT: `trainer.max_length` within the model's context."""
    if not ctx.lengths_checkable:
        return
    context = int(ctx.model_context or 0)
    max_length = ctx.recipe.trainer.get("max_length", 1024)
    if max_length is not None and max_length > context:
        raise RecipeError(
            f"trainer.max_length={max_length} exceeds the model's context of {context} tokens; "
            f"set trainer.max_length<={context}"
        )
    yield ok(
        f"lengths fit the model's context ({context} tokens; longest prompt {ctx.longest_prompt})"
    )


def check_completion_fits_context(ctx: Context) -> Findings:
    """GRPO: the longest prompt plus `trainer.max_completion_length` within the model's context."""
    if ctx.lengths_checkable:
        completion = int(ctx.recipe.trainer.get("max_completion_length", 256))
        yield completion_fits(ctx, "trainer.max_completion_length", completion)


def completion_fits(ctx: Context, setting: str, tokens: int, limit: int | None = None) -> Finding:
    """The longest prompt plus `tokens` new ones (the value of `setting`) within the model's
    context (or `limit`, when smaller); call only when `ctx.lengths_checkable`."""
    context, longest = int(ctx.model_context or 0), ctx.longest_prompt
    context = min(context, limit or context)
    if longest + tokens > context:
        raise RecipeError(
            f"prompt ({longest} tokens, longest in the data) + {setting} ({tokens}) = "
            f"{longest + tokens} exceeds the model's context of {context} tokens; set "
            f"{setting}<={context - longest}"
        )
    return ok(f"lengths fit the model's context ({context} tokens; longest prompt {longest})")


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


def check_rewards(ctx: Context) -> Findings:
    """GRPO: at least one reward, and each builds with its parameters."""
    from r1lab.rewards import get_reward

    specs = ctx.recipe.reward_specs
    if not specs:
        raise RecipeError(
            "rewards: a GRPO recipe needs at least one, e.g. {accuracy: 1.0, format: 0.2}"
        )
    failed = False
    for spec in specs:
        try:
            get_reward(spec.name, **spec.params)
        except ValueError as err:
            failed = True
            yield error(f"rewards.{spec.name}: {err}")
    if not failed:
        yield ok("rewards: " + ", ".join(s.name for s in specs))


def check_answers_are_verified(ctx: Context) -> Findings:
    """GRPO: some reward must judge the answer, and on a synthetic task, the task's verifier."""
    from r1lab.rewards import is_verifier, verifier_names
    from r1lab.tasks import VERIFIERS

    names = [spec.name for spec in ctx.recipe.reward_specs]
    verifiers = []
    for name in names:
        try:
            if is_verifier(name):
                verifiers.append(name)
        except ValueError as err:  # the same message check_rewards gives; listed once
            raise RecipeError(f"rewards.{name}: {err}") from None
    task = ctx.data.task_name
    wanted = VERIFIERS.get(task or "")
    if wanted and wanted not in names:
        yield warning(
            f"data {ctx.data.source} is verified by the '{wanted}' reward, which rewards: "
            f"({', '.join(names)}) does not include, so correct answers are not what GRPO "
            f"rewards; add it: +rewards.{wanted}=1.0, or a group: reward@rewards=<group>"
        )
    elif not verifiers:
        yield warning(
            f"no reward in rewards: ({', '.join(names)}) checks the answer (verifiers: "
            f"{', '.join(verifier_names())}); GRPO will optimise only the shape of completions"
        )


def check_reward_columns(ctx: Context) -> Findings:
    """GRPO: the data has every column the chosen rewards read."""
    from r1lab.rewards import required_columns

    columns = ctx.raw_columns
    if columns is None:  # a Hub dataset: checked once it loads
        return
    available = columns_after_shaping(ctx.data, ctx.kind.trains_on_completions, columns)
    failed = False
    for spec in ctx.recipe.reward_specs:
        try:
            need = required_columns(spec.name, **spec.params)
        except ValueError as err:  # the same message check_rewards gives; listed once
            failed = True
            yield error(f"rewards.{spec.name}: {err}")
            continue
        missing = sorted(set(need) - set(available))
        if missing:
            failed = True
            fix = "pick a reward that fits the data, or point the reward at the right column with its parameters"
            if spec.params.get("solution_column") in missing:
                likely = [c for c in columns if c in ANSWER_COLUMNS]
                fix = "set data.solution_column to the column holding the reference answer" + (
                    f": data.solution_column={likely[0]}" if likely else ""
                )
            yield error(
                f"rewards.{spec.name} needs dataset column(s) {missing}, which {ctx.data.source} "
                f"does not have (columns: {columns}); {fix}"
            )
    if not failed:
        yield ok(f"dataset columns {columns} cover every reward's needs")


# ---- the memory plan (r1lab.memory_plan) ------------------------------------------------------


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
    bigger = [g.name for g in memory_plan.GPUS.values() if g.memory_gib * 2**30 > plan.total]
    if not plan.fits:
        yield error(
            f"{head}: does not fit. The biggest term is {biggest.name}, "
            f"{memory_plan.gib(biggest.bytes)} ({biggest.note}). "
            + (f"It fits with: {how}" if fixes else "No one or two settings make it fit")
            + (f"; or on a bigger GPU: --gpu {' / '.join(bigger)}" if bigger else "")
        )
    else:
        yield warning(
            f"{head}: above {memory_plan.WARN_FRACTION:.0%}, little room for fragmentation"
            + (f"; more room with: {how}" if fixes else "")
        )


def engine_plan(
    ctx: Context, tensor_parallel: int, utilization: float | None, max_model_len: int | None
) -> Findings:
    """A vLLM engine on GPUs (a Slurm job with gpus_per_node, or `--gpu`): its weights per GPU and
    how many max_model_len sequences its KV cache holds; vLLM refuses to start below one."""
    if not (ctx.gpu or ctx.recipe.slurm.get("gpus_per_node")):
        return
    shape, skip = _shape_or_skip(ctx)
    if shape is None:
        yield skip
        return
    gpu, assumed = planned_gpu(ctx)
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
TRAINER_CHECKS: frozenset[Check] = frozenset(
    {
        check_accelerate,
        check_trainer_keys,
        check_cpu_settings,
        check_trl_config,
        check_checkpoints,
        check_vllm,
        check_peft,
        check_deepspeed,
        check_liger,
    }
)

# Checks of the `data:` section: only for kinds that read it (not evaluate, which has benchmarks).
DATA_CHECKS: frozenset[Check] = frozenset({check_task_splits, check_data_columns})

# The checks that read `Context.raw_columns`: what `check_columns` reruns once a Hub dataset loads.
COLUMN_CHECKS: frozenset[Check] = frozenset({check_data_columns, check_reward_columns})


# ---- the one loop ----------------------------------------------------------------------------


def run_checks(ctx: Context, only: frozenset[Check] | None = None) -> Report:
    """Common checks, then the kind's own (those in `only`, if given); every failure in one report."""
    report = Report(ctx.recipe.name)
    common = COMMON_CHECKS if ctx.kind.common_sections else ()
    for check_fn in (*common, *ctx.kind.checks):
        if only is not None and check_fn not in only:
            continue
        if ctx.kind.config_class is None and check_fn in TRAINER_CHECKS:
            continue
        if not ctx.kind.reads_data and check_fn in DATA_CHECKS:
            continue
        try:
            for finding in check_fn(ctx) or ():
                report.add(finding)
        except RecipeError as err:
            report.add(error(str(err)))
    return report


def check(
    recipe: Recipe,
    num_processes: int | None = None,
    running: bool = False,
    made_earlier: tuple[str, ...] = (),
    gpu: str | None = None,
) -> Report:
    """`r1lab check`: every check for `recipe` run by `num_processes` processes (`made_earlier`:
    the outputs that the pipeline stages before it make; `gpu`: the GPU the memory plan assumes)."""
    from r1lab.kinds import get_kind

    kind = get_kind(recipe.kind)
    ctx = Context(recipe, kind, num_processes, running, made_earlier=made_earlier, gpu=gpu)
    return run_checks(ctx)


def load_checked(recipe: Recipe, data: DataConfig) -> Any:
    """The training split as loaded; a Hub dataset's columns (unknown until now) are checked the
    moment it loads, before any model or engine starts."""
    from r1lab.data import load_raw

    raw = load_raw(data, "train")
    if peek_columns(data) is None:
        check_columns(recipe, raw.column_names).raise_if_failed()
    return raw


def check_columns(recipe: Recipe, columns: list[str]) -> Report:
    """Only the checks that read the dataset's columns, for a Hub dataset once it has loaded (the
    other checks have run already and would only repeat their work)."""
    from r1lab.kinds import get_kind

    kind = get_kind(recipe.kind)
    ctx = Context(recipe, kind, running=True, columns=columns)
    return run_checks(ctx, only=COLUMN_CHECKS | frozenset(kind.column_checks))
