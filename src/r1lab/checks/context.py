"""What the checks look at: the recipe and its kind, with the facts several checks need computed
once (the data config, the accelerate file, the model folder, TRL's config object)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from r1lab import accelerate_config, model_shape
from r1lab.data import DataConfig, peek_columns
from r1lab.errors import RecipeError
from r1lab.kind import Kind
from r1lab.recipe import Recipe
from r1lab.run_facts import RunFacts


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
    # the run's facts, when its launcher has found them (the accelerate file read once per launch)
    facts: RunFacts | None = None

    def made_by_earlier_stage(self, ref: str) -> bool:
        """`ref` lies in the output of an earlier pipeline stage that has not finished (what is
        there may be a cut-off run's leftovers: it is checked once that stage has run)."""
        path = Path(ref).expanduser().resolve()
        return any(path.is_relative_to(Path(o).expanduser().resolve()) for o in self.made_earlier)

    @cached_property
    def accelerate(self) -> accelerate_config.AccelerateConfig:
        return (self.facts or RunFacts(self.recipe, self.kind)).accelerate

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
                    f"{how_to_make(self.data.source)}"
                )
            return None
        return peek_columns(self.data)

    @cached_property
    def on_cpu(self) -> bool:
        if self.recipe.trainer.get("use_cpu") or self.recipe.accelerate == "cpu":
            return True
        return self.running and not has_gpu()

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
        return not self.on_cpu and not has_gpu()

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


def has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def local_model_folder(ref: str, setting: str = "model.model_name_or_path") -> Path | None:
    """The folder holding `ref`'s config.json: a local path, or the Hub cache; None if neither.
    `setting`: the recipe key that names `ref`, for the message when a local path holds no model."""
    path = Path(ref).expanduser()
    if path.exists() or ref.startswith(("/", "./", "../", "~", "runs/")):
        from r1lab import lora

        if lora.is_adapter_folder(path):  # a LoRA adapter: merged onto its base when loaded
            return local_model_folder(lora.base_of(path), setting)
        if not (path / "config.json").exists():
            raise RecipeError(f"{setting}: no model at '{ref}' (no config.json).{how_to_make(ref)}")
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


def how_to_make(ref: str) -> str:
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
