"""Load a recipe's data (synthetic task, Hub id or local file) and shape it for TRL.

`data.source` is `tasks/<name>` for r1lab's own generators, a path to a `.jsonl`/`.json`/
`.parquet`/`.csv` file or a folder saved by `datasets`, or a Hub dataset id. The question column
becomes TRL's `prompt` through the recipe's template; SFT also gets a `completion` column.
Every other column is kept, because TRL hands them to reward functions as keyword arguments.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1lab.errors import RecipeError, closest, section_dataclass
from r1lab.prompts import TEMPLATES, format_completion, format_prompt

FILE_BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}


@dataclass
class DataConfig:
    """The recipe's `data:` section."""

    source: str
    subset: str | None = None
    split: str = "train"
    test_split: str | None = "test"
    train_size: int | None = None
    test_size: int | None = None
    seed: int = 0
    question_column: str = "question"
    solution_column: str = "solution"
    completion_column: str | None = "reasoning"
    template: str = "r1_zero"
    task: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_recipe(cls, section: dict[str, Any]) -> DataConfig:
        if "source" not in section:
            raise RecipeError("data: 'source' is required (tasks/arithmetic, a file, or a Hub id)")
        cfg = section_dataclass(cls, "data", section)
        if cfg.template not in TEMPLATES:
            raise RecipeError(
                f"data.template: '{cfg.template}'{closest(cfg.template, TEMPLATES)} is not one of "
                f"{', '.join(TEMPLATES)}"
            )
        return cfg

    def input_columns(self, completions: bool) -> list[str]:
        """Columns the template reads: the question, and for SFT-like kinds the completion."""
        need = [self.question_column] + ([self.completion_column] if completions else [])
        return [c for c in need if c]

    @property
    def task_name(self) -> str | None:
        return self.source.split("/", 1)[1] if self.source.startswith("tasks/") else None

    @property
    def is_local(self) -> bool:
        return self.task_name is not None or Path(self.source).expanduser().exists()


def load_raw(cfg: DataConfig, split: str):
    """The untransformed split (`"train"` or `"test"` role) as a `datasets.Dataset`."""
    import datasets

    size = cfg.train_size if split == "train" else cfg.test_size
    if cfg.task_name:
        from r1lab.tasks import make_dataset

        return make_dataset(cfg.task_name, split, size or 1000, cfg.seed, **cfg.task)
    hf_split = cfg.split if split == "train" else cfg.test_split
    if hf_split is None:
        raise RecipeError("data.test_split is null: this recipe has no test split to evaluate on")
    path = Path(cfg.source).expanduser()
    if path.is_dir() and (path / "dataset_dict.json").exists():
        ds = datasets.load_from_disk(str(path))[hf_split]
    elif path.is_dir() and (path / "dataset_info.json").exists():
        ds = datasets.load_from_disk(str(path))
    elif path.suffix in FILE_BUILDERS:
        ds = datasets.load_dataset(FILE_BUILDERS[path.suffix], data_files=str(path), split="train")
    else:
        ds = datasets.load_dataset(cfg.source, cfg.subset, split=hf_split)
    if size is not None and size < len(ds):
        ds = ds.shuffle(seed=cfg.seed).select(range(size))
    return ds


def format_dataset(ds, cfg: DataConfig, completions: bool):
    """Add TRL's `prompt` (and with `completions`, `completion`) columns through the template."""
    if cfg.template == "none":
        return ds
    missing = [c for c in cfg.input_columns(completions) if c not in ds.column_names]
    if missing:
        raise RecipeError(
            f"data: column(s) {missing} not in dataset {cfg.source} (columns: {ds.column_names}); "
            "set data.question_column / data.completion_column"
        )

    def shape(row: dict[str, Any]) -> dict[str, Any]:
        out = {"prompt": format_prompt(row[cfg.question_column], cfg.template)}
        if completions:
            out["completion"] = format_completion(row[cfg.completion_column], cfg.template)
        return out

    drop = [c for c in ("prompt", "completion", "messages") if c in ds.column_names]
    return ds.remove_columns(drop).map(shape)


def columns_after_shaping(cfg: DataConfig, completions: bool, raw_columns: list[str]) -> list[str]:
    added = ["prompt"] + (["completion"] if completions else [])
    return list(dict.fromkeys(raw_columns + ([] if cfg.template == "none" else added)))


def peek_columns(cfg: DataConfig) -> list[str] | None:
    """Columns of the raw dataset, read cheaply; None for a Hub dataset (not reachable offline)."""
    if cfg.task_name:
        from r1lab.tasks import COLUMNS, task_sampler

        task_sampler(cfg.task_name)
        return COLUMNS[cfg.task_name]
    path = Path(cfg.source).expanduser()
    if not path.exists():
        if cfg.source.startswith(("/", "./", "../", "~")) or path.suffix in FILE_BUILDERS:
            raise RecipeError(f"data.source: no file or folder at '{cfg.source}'")
        return None
    return load_raw(dataclasses.replace(cfg, train_size=None), "train").column_names
