"""Every check that TRL would only make after loading a model, made first, in seconds.

`r1lab check` runs them on a recipe; `r1lab sft`/`grpo` run them before anything heavy. Each check
either passes, fails with a message that says what to change, or says it was skipped and why
(a Hub model or dataset cannot be inspected offline).
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1lab.data import DataConfig, columns_after_shaping
from r1lab.errors import RecipeError, closest
from r1lab.paths import recipes_dir
from r1lab.recipe import Recipe

CHAT_TEMPLATES = ("r1_zero_chat", "chat")


@dataclass
class Report:
    recipe: str
    errors: list[str] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = [f"r1lab check {self.recipe}: " + ("FAILED" if self.errors else "ok")]
        lines += [f"  error    {m}" for m in self.errors]
        lines += [f"  ok       {m}" for m in self.passed]
        lines += [f"  skipped  {m}" for m in self.skipped]
        return "\n".join(lines)

    def raise_if_failed(self) -> None:
        if self.errors:
            raise RecipeError(self.text())


def trl_config_class(kind: str):
    from trl import GRPOConfig, SFTConfig

    return GRPOConfig if kind == "grpo" else SFTConfig


def parse_rewards(rewards: dict[str, Any]) -> list[tuple[str, float, dict[str, Any]]]:
    """`{name: weight}` or `{name: {weight: w, **params}}` -> [(name, weight, params)]."""
    out = []
    for name, value in rewards.items():
        if isinstance(value, dict):
            params = dict(value)
            weight = params.pop("weight", 1.0)
        else:
            weight, params = value, {}
        if not isinstance(weight, (int, float)):
            raise RecipeError(f"rewards.{name}: weight must be a number, got {weight!r}")
        out.append((name, float(weight), params))
    return out


def accelerate_settings(recipe: Recipe) -> dict[str, Any]:
    import yaml

    path = recipes_dir() / "accelerate" / f"{recipe.accelerate}.yaml"
    if not path.exists():
        names = [p.stem for p in (recipes_dir() / "accelerate").glob("*.yaml")]
        raise RecipeError(
            f"accelerate: '{recipe.accelerate}'{closest(recipe.accelerate, names)} has no file "
            f"{path}; choose one of {', '.join(sorted(names))}"
        )
    return yaml.safe_load(path.read_text()) or {}


def default_num_processes(recipe: Recipe) -> int:
    """Processes the run will have: $WORLD_SIZE when launched, else the accelerate config's."""
    if os.environ.get("WORLD_SIZE"):
        return int(os.environ["WORLD_SIZE"])
    return int(accelerate_settings(recipe).get("num_processes", 1) or 1)


def runs_on_cpu(recipe: Recipe) -> bool:
    return bool(recipe.trainer.get("use_cpu")) or recipe.accelerate == "cpu"


class Checker:
    """Runs the checks in order; later checks rely on what earlier ones validated."""

    def __init__(self, recipe: Recipe, num_processes: int | None = None, running: bool = False):
        self.recipe = recipe
        self.running = running
        self.report = Report(recipe.name)
        self.num_processes = num_processes
        self.data: DataConfig | None = None

    def run(self) -> Report:
        for step in (
            self.check_accelerate,
            self.check_trainer_keys,
            self.check_model_keys,
            self.check_data,
            self.check_cpu_settings,
            self.check_batch,
            self.check_trl_config,
            self.check_rewards,
            self.check_model_files,
            self.check_vllm,
        ):
            try:
                step()
            except RecipeError as err:
                self.report.errors.append(str(err))
        return self.report

    # -- keys ---------------------------------------------------------------------------------
    def check_accelerate(self) -> None:
        settings = accelerate_settings(self.recipe)
        if self.num_processes is None:
            self.num_processes = default_num_processes(self.recipe)
        self.report.passed.append(
            f"accelerate config '{self.recipe.accelerate}' "
            f"({settings.get('distributed_type', 'NO')}, {self.num_processes} process(es))"
        )

    def check_trainer_keys(self) -> None:
        cls = trl_config_class(self.recipe.kind)
        names = {f.name for f in dataclasses.fields(cls)}
        bad = [k for k in self.recipe.trainer if k not in names]
        for key in bad:
            self.report.errors.append(
                f"trainer.{key}: {cls.__name__} has no field '{key}'{closest(key, names)}"
            )
        if not bad:
            self.report.passed.append(
                f"trainer: {len(self.recipe.trainer)} keys, all known to TRL's {cls.__name__}"
            )

    def check_model_keys(self) -> None:
        from trl import ModelConfig

        names = {f.name for f in dataclasses.fields(ModelConfig)}
        for key in self.recipe.model:
            if key not in names:
                raise RecipeError(
                    f"model.{key}: TRL's ModelConfig has no field '{key}'{closest(key, names)}"
                )
        if not self.recipe.model.get("model_name_or_path"):
            raise RecipeError("model.model_name_or_path is required (a Hub id or a local folder)")

    # -- data and rewards -----------------------------------------------------------------------
    def check_data(self) -> None:
        self.data = DataConfig.from_recipe(self.recipe.data)
        if self.data.task_name:  # both splits must be drawable, or training/evaluation fails late
            from r1lab.tasks import generate_rows

            generate_rows(
                self.data.task_name,
                "train",
                self.data.train_size or 1000,
                self.data.seed,
                **self.data.task,
            )
            # the size `r1lab evaluate` draws: evaluate.num_problems, else data.test_size
            test_size = self.recipe.evaluate.get("num_problems") or self.data.test_size
            if test_size:
                generate_rows(
                    self.data.task_name, "test", test_size, self.data.seed, **self.data.task
                )
        columns = dataset_columns(self.data)
        if columns is None:
            self.report.skipped.append(
                f"dataset columns: '{self.data.source}' is a Hub dataset; its columns are checked "
                "right after it loads, before the model loads"
            )
            return
        self.check_columns(columns)

    def check_columns(self, raw_columns: list[str]) -> None:
        """Columns the template and the chosen rewards need, against what the dataset has."""
        assert self.data is not None
        data, kind = self.data, self.recipe.kind
        if data.template != "none":
            need = [data.question_column] + ([data.completion_column] if kind == "sft" else [])
            for col in need:
                if col and col not in raw_columns:
                    raise RecipeError(
                        f"data: column '{col}' not in {data.source} (columns: {raw_columns}); "
                        "set data.question_column / data.completion_column to existing columns"
                    )
        elif "prompt" not in raw_columns and "messages" not in raw_columns:
            raise RecipeError(
                f"data.template is none, so the dataset needs a 'prompt' or 'messages' column; "
                f"{data.source} has {raw_columns}"
            )
        available = columns_after_shaping(data, kind, raw_columns)
        if kind != "grpo":
            self.report.passed.append(f"dataset columns: {raw_columns}")
            return
        from r1lab.rewards import required_columns

        for name, _, params in parse_rewards(self.recipe.rewards):
            try:
                need = required_columns(name, **params)
            except ValueError:
                continue  # reported by check_rewards
            missing = sorted(set(need) - set(available))
            if missing:
                raise RecipeError(
                    f"rewards.{name} needs dataset column(s) {missing}, which {data.source} does not "
                    f"have (columns: {raw_columns}); pick a reward that fits the data, or point the "
                    "reward at the right column with its parameters"
                )
        self.report.passed.append(f"dataset columns {raw_columns} cover every reward's needs")

    def check_rewards(self) -> None:
        if self.recipe.kind != "grpo":
            if self.recipe.rewards:
                raise RecipeError("rewards: only GRPO recipes use rewards; remove the section")
            return
        if not self.recipe.rewards:
            raise RecipeError(
                "rewards: a GRPO recipe needs at least one, e.g. {accuracy: 1.0, format: 0.2}"
            )
        from r1lab.rewards import get_reward

        for name, _, params in parse_rewards(self.recipe.rewards):
            try:
                get_reward(name, **params)
            except ValueError as err:
                raise RecipeError(f"rewards.{name}: {err}") from None
        self.report.passed.append("rewards: " + ", ".join(self.recipe.rewards))

    # -- settings TRL would reject late or silently make slow -----------------------------------
    def check_cpu_settings(self) -> None:
        if not self.will_run_on_cpu():
            return
        t = self.recipe.trainer
        problems = []
        if t.get("bf16") is None or t.get("bf16"):
            problems.append("trainer.bf16=false")
        # TRL defaults gradient_checkpointing to True; activation_checkpointing is its new name
        if t.get("gradient_checkpointing", True):
            problems.append("trainer.gradient_checkpointing=false")
        if t.get("activation_checkpointing"):
            problems.append("trainer.activation_checkpointing=false")
        if not t.get("use_cpu") and self.recipe.accelerate == "cpu":
            problems.append("trainer.use_cpu=true")
        if problems:
            raise RecipeError(
                "this run is on a CPU, where TRL's defaults (bf16 and gradient checkpointing on) make "
                f"training ~16x slower; set {' '.join(problems)}"
            )
        if t.get("use_vllm"):
            raise RecipeError(
                "trainer.use_vllm: vLLM needs CUDA GPUs; set trainer.use_vllm=false on a CPU"
            )
        self.report.passed.append("CPU settings: bf16 and gradient checkpointing off")

    def will_run_on_cpu(self) -> bool:
        if runs_on_cpu(self.recipe):
            return True
        if self.running:
            import torch

            return not torch.cuda.is_available()
        return False

    def check_batch(self) -> None:
        if self.recipe.kind != "grpo":
            return
        t, n = self.recipe.trainer, self.num_processes or 1
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
                b
                for b in range(1, 4 * max(per_device, groups) + 1)
                if (b * n * steps) % groups == 0
            ]
            ok_groups = [g for g in range(2, batch + 1) if batch % g == 0]
            raise RecipeError(
                f"GRPO batch: {per_device} completions per device x {n} process(es) x {steps} "
                f"step(s) = {batch} completions per generation, which does not split into groups of "
                f"num_generations={groups}. per_device_train_batch_size counts completions, not "
                f"prompts. Working values: trainer.per_device_train_batch_size in {ok_sizes[:6]}, "
                f"or trainer.num_generations in {ok_groups[:6]}"
            )
        self.report.passed.append(
            f"GRPO batch: {batch} completions per generation = {batch // groups} prompts x "
            f"{groups} generations on {n} process(es)"
        )

    def check_trl_config(self) -> None:
        """Let TRL validate the rest of the section, exactly as it will at run time."""
        if any(m.startswith("trainer.") and "has no field" in m for m in self.report.errors):
            return
        kwargs = dict(self.recipe.trainer)
        kwargs.setdefault("output_dir", self.recipe.output_dir)
        kwargs.pop("report_to", None)  # needs wandb/tensorboard set up; checked at run time
        note = None
        if not self.will_run_on_cpu() and not _has_accelerator():
            kwargs["bf16"] = kwargs["fp16"] = False
            note = "bf16/fp16 support: no GPU on this machine (checked on the training nodes)"
        try:
            build_trl_config(self.recipe.kind, kwargs, num_processes=self.num_processes)
        except (ValueError, TypeError) as err:
            raise RecipeError(f"trainer: TRL rejects this configuration: {err}") from None
        self.report.passed.append("trainer: TRL accepts the configuration")
        if note:
            self.report.skipped.append(note)

    # -- model files ----------------------------------------------------------------------------
    def check_model_files(self) -> None:
        ref = str(self.recipe.model["model_name_or_path"])
        folder = local_model_folder(ref)
        if folder is None:
            self.report.skipped.append(
                f"model files: '{ref}' is a Hub id not in the local cache; context length and chat "
                "template are checked when it loads"
            )
            return
        if self.data is None:  # the data section is invalid and already reported
            self.report.passed.append(f"model files found in {folder}")
            return
        config = json.loads((folder / "config.json").read_text())
        context = config.get("max_position_embeddings")
        tokenizer = None
        if self.data.template in CHAT_TEMPLATES or (context and self.data.is_local):
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(folder))
        if self.data.template in CHAT_TEMPLATES and not getattr(tokenizer, "chat_template", None):
            raise RecipeError(
                f"data.template={self.data.template} needs a chat template, and the tokenizer in "
                f"{folder} has none; use data.template=r1_zero (plain text) for base models"
            )
        if context and tokenizer is not None and self.data.is_local:
            self.check_lengths(tokenizer, int(context))
        else:
            self.report.passed.append(f"model files found in {folder}")

    def check_lengths(self, tokenizer, context: int) -> None:
        from r1lab.data import for_training, load_raw

        assert self.data is not None
        sample = for_training(load_raw(self.data, "train"), self.data, self.recipe.kind)
        sample = sample.select(range(min(len(sample), 256)))
        longest = max(len(_tokenize(tokenizer, p)) for p in sample["prompt"])
        t = self.recipe.trainer
        if self.recipe.kind == "grpo":
            completion = int(t.get("max_completion_length", 256))
            if longest + completion > context:
                raise RecipeError(
                    f"prompt ({longest} tokens, longest in the data) + trainer.max_completion_length "
                    f"({completion}) = {longest + completion} exceeds the model's context of {context} "
                    f"tokens; set trainer.max_completion_length<={context - longest}"
                )
        else:
            max_length = t.get("max_length", 1024)
            if max_length is not None and max_length > context:
                raise RecipeError(
                    f"trainer.max_length={max_length} exceeds the model's context of {context} "
                    f"tokens; set trainer.max_length<={context}"
                )
        self.report.passed.append(
            f"lengths fit the model's context ({context} tokens; longest prompt {longest})"
        )

    def check_vllm(self) -> None:
        if not self.recipe.trainer.get("use_vllm"):
            return
        try:
            import vllm  # noqa: F401
        except ImportError:
            message = "vLLM is not installed here; install it on the GPU nodes with pip install -e .[vllm]"
            if self.running:
                raise RecipeError(f"trainer.use_vllm=true: {message}") from None
            self.report.skipped.append(f"vLLM: {message}")


def _tokenize(tokenizer, prompt: Any) -> list[int]:
    if isinstance(prompt, str):
        return tokenizer(prompt)["input_ids"]
    return tokenizer.apply_chat_template(prompt, tokenize=True, add_generation_prompt=True)


def _has_accelerator() -> bool:
    import torch

    return torch.cuda.is_available()


def build_trl_config(kind: str, kwargs: dict[str, Any], num_processes: int | None = None):
    """TRL's own config object from the recipe's `trainer:` section, warnings hushed."""
    cls = trl_config_class(kind)
    if kind == "grpo" and (num_processes or 1) > 1 and not os.environ.get("WORLD_SIZE"):
        # TRL derives the generation batch from the world size it sees (1 here); hand it the batch
        # the N-process run will have, which check_batch has already validated.
        kwargs = dict(kwargs)
        steps = kwargs.pop("steps_per_generation", None) or kwargs.get(
            "gradient_accumulation_steps", 1
        )
        kwargs.setdefault(
            "generation_batch_size",
            kwargs.get("per_device_train_batch_size", 8) * num_processes * steps,
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(**kwargs)


def local_model_folder(ref: str) -> Path | None:
    """The folder holding `ref`'s config.json: a local path, or the Hub cache; None if neither."""
    path = Path(ref).expanduser()
    if path.exists() or ref.startswith(("/", "./", "../", "~", "runs/")):
        if not (path / "config.json").exists():
            hint = ""
            if "tiny" in ref:
                hint = " Build the tiny model with `r1lab tiny-model`."
            if ref.startswith("runs/"):
                hint = " It is another recipe's output: run that recipe first (see README)."
            raise RecipeError(
                f"model.model_name_or_path: no model at '{ref}' (no config.json).{hint}"
            )
        return path
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(ref, "config.json")
    except Exception:  # a malformed repo id is reported by TRL when it loads
        cached = None
    return Path(cached).parent if isinstance(cached, str) else None


def dataset_columns(data: DataConfig) -> list[str] | None:
    """Columns of the raw dataset, read cheaply; None for a Hub dataset (not reachable offline)."""
    if data.task_name:
        from r1lab.tasks import COLUMNS, task_sampler

        task_sampler(data.task_name)
        return COLUMNS[data.task_name]
    path = Path(data.source).expanduser()
    if not path.exists():
        if data.source.startswith(("/", "./", "../", "~")) or path.suffix in (
            ".jsonl",
            ".json",
            ".parquet",
            ".csv",
        ):
            raise RecipeError(f"data.source: no file or folder at '{data.source}'")
        return None
    from r1lab.data import load_raw

    return load_raw(dataclasses.replace(data, train_size=None), "train").column_names


def check(recipe: Recipe, num_processes: int | None = None, running: bool = False) -> Report:
    return Checker(recipe, num_processes=num_processes, running=running).run()
