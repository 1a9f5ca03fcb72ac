"""Load a recipe's data (synthetic task, Hub id or local file) and shape it for TRL.

`data.source` is `tasks/<name>` for r1lab's own generators, a path to a `.jsonl`/`.json`/
`.parquet`/`.csv` file, a folder saved by `datasets` or of parquet shards (a generate run's
`samples/`), or a Hub dataset id. The question column
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
    test_source: str | None = None  # a file (or saved dataset) of held-out rows
    test_fraction: float | None = None  # hold out this share of a single-table source (seeded)
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
        if cfg.test_fraction is not None and not 0 < cfg.test_fraction < 1:
            raise RecipeError(
                f"data.test_fraction must be between 0 and 1 (a share of the rows), got {cfg.test_fraction}"
            )
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
    """The untransformed split (`"train"`, `"test"` or, for a task, `"validation"` role) as a
    `datasets.Dataset`.

    A Hub dataset or a saved DatasetDict has real splits (`data.split`, `data.test_split`). A
    single table (a .jsonl/.json/.parquet/.csv file, or a saved Dataset) has none, so its test
    role is `data.test_source`, or the `data.test_fraction` held out of it (and out of training);
    with neither it has no test rows, and asking for them is an error, never the training rows.
    """
    size = cfg.train_size if split == "train" else cfg.test_size
    if split == "validation" and not cfg.task_name:
        raise RecipeError(
            f"evaluate.split=validation: data.source {cfg.source} has no validation split here "
            "(only r1lab's synthetic tasks have one); use evaluate.split=test"
        )
    if cfg.task_name:
        from r1lab.tasks import make_dataset

        return make_dataset(cfg.task_name, split, size or 1000, cfg.seed, **cfg.task)
    if split == "test" and cfg.test_source:
        ds, _ = _load(cfg.test_source, cfg.subset, cfg.test_split or "test")
    else:
        hf_split = cfg.split if split == "train" else cfg.test_split
        ds, single = _load(cfg.source, cfg.subset, hf_split)
        if single and cfg.test_fraction:
            ds = ds.train_test_split(test_size=cfg.test_fraction, seed=cfg.seed)[split]
        elif single and split == "test":
            raise RecipeError(
                f"data.source {cfg.source} is a single table with no held-out rows, so evaluating "
                "on it would score the training rows. Set data.test_source=<file of test rows>, "
                "or data.test_fraction=0.1 to hold out 10% (left out of training too)"
            )
    if size is not None and size < len(ds):
        ds = ds.shuffle(seed=cfg.seed).select(range(size))
    return ds


def load_table(source: str, subset: str | None, split: str | None):
    """One split of a Hub dataset or saved DatasetDict; a local file or folder whole."""
    return _load(source, subset, split)[0]


def _load(source: str, subset: str | None, hf_split: str | None):
    """(dataset, single table?) for a file, a folder saved by `datasets`, or a Hub id."""
    import datasets

    path = Path(source).expanduser()
    if path.is_dir() and (path / "dataset_dict.json").exists():
        if hf_split is None:
            raise RecipeError(
                "data.test_split is null: this recipe has no test split to evaluate on"
            )
        return datasets.load_from_disk(str(path))[hf_split], False
    if path.is_dir() and (path / "dataset_info.json").exists():
        return datasets.load_from_disk(str(path)), True
    shards = sorted(path.glob("*.parquet")) if path.is_dir() else []
    if shards:  # a folder of parquet shards, e.g. a generate run's samples/
        return datasets.load_dataset(
            "parquet", data_files=[str(f) for f in shards], split="train"
        ), True
    if path.suffix in FILE_BUILDERS:
        try:
            return datasets.load_dataset(
                FILE_BUILDERS[path.suffix], data_files=str(path), split="train"
            ), True
        except Exception as err:  # pyarrow's, datasets' own: whatever the file's fault is
            raise RecipeError(
                f"cannot read {path}: {err.__cause__ or err}. If another run writes it, rerun "
                "that run; if it is yours, check the file"
            ) from None
    if hf_split is None:
        raise RecipeError("data.test_split is null: this recipe has no test split to evaluate on")
    return datasets.load_dataset(source, subset, split=hf_split), False


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

    # replaced, not merged (a chat `messages` list and a string prompt cannot share a column);
    # `shape` still reads them, so a generate run's `completion` can be the completion column
    drop = [c for c in ("prompt", "completion", "messages") if c in ds.column_names]
    return ds.map(shape, remove_columns=drop)


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
