"""A recipe's data, loaded directly (small local files, no Hub): the `data:` section's checks and
defaults, which rows each split gets from each kind of source, and the prompt/completion columns
TRL is given."""

from __future__ import annotations

import json
import re
from pathlib import Path
from unittest import mock

import pytest

from r1lab.data import (
    DataConfig,
    columns_after_shaping,
    format_dataset,
    load_raw,
    load_table,
    peek_columns,
)
from r1lab.errors import RecipeError
from r1lab.prompts import format_completion, format_prompt


def rows(n: int, start: int = 0) -> list[dict]:
    return [
        {"question": f"q{i}", "solution": str(3 * i + 1), "reasoning": f"r{i}"}
        for i in range(start, start + n)
    ]


def jsonl(path: Path, items: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in items))
    return path


def dataset_dict(path: Path, **splits: list[dict]) -> Path:
    from datasets import Dataset, DatasetDict

    DatasetDict({k: Dataset.from_list(v) for k, v in splits.items()}).save_to_disk(str(path))
    return path


# ---- the data: section --------------------------------------------------------------------------


def test_a_data_section_without_a_source_is_refused_saying_what_a_source_is():
    with pytest.raises(RecipeError) as err:
        DataConfig.from_recipe({"split": "train"})
    assert str(err.value) == "data: 'source' is required (tasks/arithmetic, a file, or a Hub id)"


def test_an_unknown_data_key_is_named_under_data():
    with pytest.raises(
        RecipeError, match=r"^data.sourcee: unknown key 'sourcee' \(did you mean 'source'\?\)"
    ):
        DataConfig.from_recipe({"source": "x", "sourcee": "y"})


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.2])
def test_a_test_fraction_outside_zero_to_one_is_refused(fraction):
    with pytest.raises(
        RecipeError, match=rf"between 0 and 1 \(a share of the rows\), got {fraction}$"
    ):
        DataConfig.from_recipe({"source": "x.jsonl", "test_fraction": fraction})


def test_a_test_fraction_inside_zero_to_one_is_taken():
    assert (
        DataConfig.from_recipe({"source": "x.jsonl", "test_fraction": 0.25}).test_fraction == 0.25
    )


def test_an_unknown_template_names_the_closest_and_every_template():
    with pytest.raises(RecipeError) as err:
        DataConfig.from_recipe({"source": "x.jsonl", "template": "r1_zeroo"})
    assert str(err.value) == (
        "data.template: 'r1_zeroo' (did you mean 'r1_zero'?) is not one of "
        "r1_zero, r1_zero_chat, chat, none"
    )


def test_the_data_sections_defaults():
    cfg = DataConfig.from_recipe({"source": "x.jsonl"})
    assert (cfg.subset, cfg.split, cfg.test_split, cfg.test_source) == (None, "train", "test", None)
    assert (cfg.test_fraction, cfg.train_size, cfg.test_size, cfg.seed) == (None, None, None, 0)
    assert (cfg.question_column, cfg.solution_column, cfg.completion_column) == (
        "question",
        "solution",
        "reasoning",
    )
    assert (cfg.template, cfg.task) == ("r1_zero", {})


@pytest.mark.parametrize(
    "completions, completion_column, expected",
    [(False, "trace", ["ask"]), (True, "trace", ["ask", "trace"]), (True, None, ["ask"])],
)
def test_input_columns_are_the_question_and_for_sft_the_completion(
    completions, completion_column, expected
):
    cfg = DataConfig("x.jsonl", question_column="ask", completion_column=completion_column)
    assert cfg.input_columns(completions) == expected


@pytest.mark.parametrize(
    "source, task",
    [("tasks/countdown", "countdown"), ("tasks/a/b", "a/b"), ("data/tasks/x", None), ("x", None)],
)
def test_a_task_source_names_the_task_after_tasks_slash(source, task):
    assert DataConfig(source).task_name == task


def test_a_source_is_local_when_it_is_a_task_or_an_existing_path(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "mine.jsonl").write_text("")
    assert DataConfig("tasks/arithmetic").is_local
    assert DataConfig(str(tmp_path / "mine.jsonl")).is_local
    assert DataConfig("~/mine.jsonl").is_local
    assert not DataConfig("someone/hub-dataset").is_local


# ---- load_raw -----------------------------------------------------------------------------------


def test_validation_rows_exist_only_for_synthetic_tasks():
    with pytest.raises(RecipeError) as err:
        load_raw(DataConfig("some/hub"), "validation")
    assert str(err.value) == (
        "evaluate.split=validation: data.source some/hub has no validation split here (only "
        "r1lab's synthetic tasks have one); use evaluate.split=test"
    )
    assert len(load_raw(DataConfig("tasks/arithmetic", test_size=6), "validation")) == 6


def test_a_task_makes_its_sizes_rows_of_its_split_with_its_seed_and_parameters():
    from r1lab.tasks import make_dataset

    cfg = DataConfig("tasks/arithmetic", train_size=7, test_size=4, seed=3, task={"max_value": 5})
    train, test = load_raw(cfg, "train"), load_raw(cfg, "test")
    assert train["question"] == make_dataset("arithmetic", "train", 7, 3, max_value=5)["question"]
    assert test["question"] == make_dataset("arithmetic", "test", 4, 3, max_value=5)["question"]
    numbers = [int(n) for q in train["question"] for n in re.findall(r"\d+", q)]
    assert numbers and max(numbers) <= 5


def test_a_task_without_a_size_makes_a_thousand_rows():
    assert len(load_raw(DataConfig("tasks/arithmetic"), "test")) == 1000


def test_a_saved_dataset_dict_gives_its_train_and_test_splits(tmp_path):
    saved = dataset_dict(tmp_path / "dd", train=rows(5), test=rows(3, 100), dev=rows(2, 200))
    assert load_raw(DataConfig(str(saved)), "train")["question"] == [f"q{i}" for i in range(5)]
    assert load_raw(DataConfig(str(saved)), "test")["question"] == ["q100", "q101", "q102"]
    other = DataConfig(str(saved), split="dev", test_split="train")
    assert load_raw(other, "train")["question"] == ["q200", "q201"]
    assert len(load_raw(other, "test")) == 5


def test_a_dataset_dict_without_a_test_split_says_so(tmp_path):
    saved = dataset_dict(tmp_path / "dd", train=rows(5))
    with pytest.raises(
        RecipeError, match="^data.test_split is null: this recipe has no test split to evaluate on$"
    ):
        load_raw(DataConfig(str(saved), test_split=None), "test")


def test_a_test_source_gives_the_test_rows_from_its_own_split(tmp_path):
    train = jsonl(tmp_path / "train.jsonl", rows(6))
    held = dataset_dict(tmp_path / "held", test=rows(2, 50), dev=rows(3, 70))
    assert load_raw(DataConfig(str(train), test_source=str(held)), "test")["question"] == [
        "q50",
        "q51",
    ]
    dev = DataConfig(str(train), test_source=str(held), test_split="dev")
    assert load_raw(dev, "test")["question"] == ["q70", "q71", "q72"]
    assert load_raw(dev, "train")["question"] == [f"q{i}" for i in range(6)]


def test_a_test_source_with_a_null_test_split_reads_its_test_split(tmp_path):
    held = dataset_dict(tmp_path / "held", test=rows(2, 50))
    cfg = DataConfig(str(tmp_path / "x.jsonl"), test_source=str(held), test_split=None)
    assert load_raw(cfg, "test")["question"] == ["q50", "q51"]


def test_a_single_tables_test_fraction_is_held_out_of_training_with_the_seed(tmp_path):
    table = jsonl(tmp_path / "t.jsonl", rows(20))
    cfg = DataConfig(str(table), test_fraction=0.25, seed=4)
    train, test = list(load_raw(cfg, "train")["question"]), list(load_raw(cfg, "test")["question"])
    assert len(test) == 5 and len(train) == 15
    assert sorted(train + test) == sorted(f"q{i}" for i in range(20))
    again = list(load_raw(DataConfig(str(table), test_fraction=0.25, seed=4), "test")["question"])
    other = list(load_raw(DataConfig(str(table), test_fraction=0.25, seed=5), "test")["question"])
    assert again == test and sorted(other) != sorted(test)


def test_a_single_table_without_held_out_rows_refuses_to_give_test_rows(tmp_path):
    table = jsonl(tmp_path / "t.jsonl", rows(4))
    assert len(load_raw(DataConfig(str(table)), "train")) == 4
    with pytest.raises(RecipeError) as err:
        load_raw(DataConfig(str(table)), "test")
    assert str(err.value) == (
        f"data.source {table} is a single table with no held-out rows, so evaluating on it would "
        "score the training rows. Set data.test_source=<file of test rows>, or "
        "data.test_fraction=0.1 to hold out 10% (left out of training too)"
    )


def test_a_size_below_the_rows_takes_a_seeded_sample_and_one_above_takes_all_in_order(tmp_path):
    table = jsonl(tmp_path / "t.jsonl", rows(30))
    default = load_raw(DataConfig(str(table), train_size=8), "train")["question"]
    assert len(default) == 8 and len(set(default)) == 8
    assert default != [f"q{i}" for i in range(8)]  # shuffled, not the first rows
    assert load_raw(DataConfig(str(table), train_size=8, seed=0), "train")["question"] == default
    assert load_raw(DataConfig(str(table), train_size=8, seed=2), "train")["question"] != default
    for size in (30, 31):
        whole = load_raw(DataConfig(str(table), train_size=size), "train")["question"]
        assert whole == [f"q{i}" for i in range(30)]


def test_the_test_size_bounds_the_test_rows_and_the_train_size_the_train_rows(tmp_path):
    saved = dataset_dict(tmp_path / "dd", train=rows(10), test=rows(10, 100))
    cfg = DataConfig(str(saved), train_size=3, test_size=6)
    assert (len(load_raw(cfg, "train")), len(load_raw(cfg, "test"))) == (3, 6)


# ---- the sources ----------------------------------------------------------------------------------


def test_a_saved_single_dataset_is_one_table(tmp_path):
    from datasets import Dataset

    Dataset.from_list(rows(4)).save_to_disk(str(tmp_path / "ds"))
    cfg = DataConfig(str(tmp_path / "ds"), test_fraction=0.5, seed=1)
    assert len(load_raw(cfg, "test")) == 2  # held out of the table: it has no splits
    assert load_table(str(tmp_path / "ds"), None, None)["question"] == ["q0", "q1", "q2", "q3"]


def test_a_folder_of_parquet_shards_is_one_table_in_shard_order(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "samples"
    folder.mkdir()
    for name, part in (("shard-00001", rows(2, 10)), ("shard-00000", rows(3))):
        pq.write_table(pa.Table.from_pylist(part), folder / f"{name}.parquet")
    assert load_table(str(folder), None, "ignored")["question"] == ["q0", "q1", "q2", "q10", "q11"]
    with pytest.raises(RecipeError, match="single table"):
        load_raw(DataConfig(str(folder)), "test")


@pytest.mark.parametrize("suffix", [".json", ".csv", ".parquet"])
def test_each_file_kind_loads_by_its_suffix(tmp_path, suffix):
    import pandas as pd

    path = tmp_path / f"t{suffix}"
    frame = pd.DataFrame(rows(3))
    {
        ".json": lambda: frame.to_json(path, orient="records", lines=True),
        ".csv": lambda: frame.to_csv(path, index=False),
        ".parquet": lambda: frame.to_parquet(path),
    }[suffix]()
    assert load_table(str(path), None, None)["question"] == ["q0", "q1", "q2"]


def test_a_file_that_does_not_parse_says_which_file_and_what_to_do(tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(RecipeError) as err:
        load_table(str(bad), None, None)
    assert str(err.value).startswith(f"cannot read {bad}: ")
    # the reader's own reason, not the wrapper datasets puts around it
    assert "magic bytes not found" in str(err.value) and "Failed to read" not in str(err.value)
    assert str(err.value).endswith(
        "If another run writes it, rerun that run; if it is yours, check the file"
    )


def test_a_hub_dataset_is_loaded_by_id_subset_and_split_and_has_real_splits():
    calls = []

    def load_dataset(source, subset, split):
        calls.append((source, subset, split))
        return f"{split} rows"

    with mock.patch("datasets.load_dataset", load_dataset):
        assert load_table("org/name", "main", "dev") == "dev rows"
        cfg = DataConfig("org/name", subset="sub", test_split="eval", test_fraction=0.5)
        assert load_raw(cfg, "test") == "eval rows"  # its own test split, nothing held out
        held = DataConfig("org/name", subset="sub", test_source="org/held", test_split="eval")
        assert load_raw(held, "test") == "eval rows"
    assert calls == [
        ("org/name", "main", "dev"),
        ("org/name", "sub", "eval"),
        ("org/held", "sub", "eval"),
    ]


def test_a_hub_dataset_with_a_null_test_split_says_so():
    with pytest.raises(
        RecipeError, match="^data.test_split is null: this recipe has no test split to evaluate on$"
    ):
        load_raw(DataConfig("org/name", test_split=None), "test")


# ---- shaping ------------------------------------------------------------------------------------


def test_the_template_turns_the_question_into_the_prompt_and_the_trace_into_the_completion():
    from datasets import Dataset

    ds = Dataset.from_list(
        [
            {
                "ask": "What is 3 + 4?",
                "trace": "t7",
                "solution": "7",
                "prompt": "old",
                "messages": "m",
            }
        ]
    )
    cfg = DataConfig("x", question_column="ask", completion_column="trace", template="chat")
    shaped = format_dataset(ds, cfg, completions=True)
    assert sorted(shaped.column_names) == ["ask", "completion", "prompt", "solution", "trace"]
    assert shaped[0]["prompt"] == format_prompt("What is 3 + 4?", "chat")
    assert shaped[0]["completion"] == format_completion("t7", "chat")
    assert shaped[0]["solution"] == "7"
    prompts_only = format_dataset(ds, cfg, completions=False)
    assert "completion" not in prompts_only.column_names
    assert prompts_only[0]["prompt"] == format_prompt("What is 3 + 4?", "chat")


def test_a_generate_runs_completion_column_can_be_the_completion(tmp_path):
    from datasets import Dataset

    ds = Dataset.from_list([{"question": "q", "completion": "the trace"}])
    cfg = DataConfig("x", completion_column="completion")
    assert format_dataset(ds, cfg, completions=True)[0]["completion"] == "the trace"


def test_the_none_template_leaves_the_rows_as_they_are():
    from datasets import Dataset

    ds = Dataset.from_list([{"text": "a"}])
    assert format_dataset(ds, DataConfig("x", template="none"), completions=True) is ds


def test_missing_input_columns_are_named_with_the_columns_there():
    from datasets import Dataset

    ds = Dataset.from_list([{"problem": "a", "answer": "b"}])
    with pytest.raises(RecipeError) as err:
        format_dataset(ds, DataConfig("src.jsonl"), completions=True)
    assert str(err.value) == (
        "data: column(s) ['question', 'reasoning'] not in dataset src.jsonl (columns: "
        "['problem', 'answer']); set data.question_column / data.completion_column"
    )


@pytest.mark.parametrize(
    "template, completions, expected",
    [
        ("r1_zero", True, ["question", "prompt", "x", "completion"]),
        ("r1_zero", False, ["question", "prompt", "x"]),
        ("none", True, ["question", "prompt", "x"]),
    ],
)
def test_columns_after_shaping_add_prompt_and_completion_once(template, completions, expected):
    cfg = DataConfig("x", template=template)
    assert columns_after_shaping(cfg, completions, ["question", "prompt", "x"]) == expected


def test_peek_columns_of_a_task_a_file_and_a_hub_id(tmp_path):
    assert peek_columns(DataConfig("tasks/countdown")) == [
        "question",
        "solution",
        "reasoning",
        "nums",
        "target",
    ]
    table = jsonl(tmp_path / "t.jsonl", [{"a": 1, "b": 2}])
    assert peek_columns(DataConfig(str(table), train_size=5)) == ["a", "b"]
    assert peek_columns(DataConfig("org/hub-name")) is None


def test_peek_columns_of_a_saved_dataset_dict_are_its_training_splits(tmp_path):
    extra = [dict(r, hint="h") for r in rows(2)]
    saved = dataset_dict(tmp_path / "dd", train=extra, test=rows(2))
    assert peek_columns(DataConfig(str(saved))) == ["question", "solution", "reasoning", "hint"]


def test_peek_columns_of_an_unknown_task_names_the_tasks():
    with pytest.raises(RecipeError, match="unknown task 'arithmetc'"):
        peek_columns(DataConfig("tasks/arithmetc"))


@pytest.mark.parametrize(
    "source", ["/no/such/file", "./gone", "../gone", "~/gone-r1lab-test", "gone.jsonl", "gone.csv"]
)
def test_a_source_that_looks_like_a_path_and_is_not_there_is_an_error(source):
    with pytest.raises(
        RecipeError, match=re.escape(f"data.source: no file or folder at '{source}'")
    ):
        peek_columns(DataConfig(source))
