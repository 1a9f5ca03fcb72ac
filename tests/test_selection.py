"""Verified selection: each drop reason (once, the first that applies), the pass-rate band,
R1's filters, decontamination, batching, the written files and the `select:` checks."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

import r1lab.rewards
from r1lab.checks.context import Context
from r1lab.errors import RecipeError
from r1lab.kind import get_kind
from r1lab.recipe import Recipe
from r1lab.selection import (
    Decontaminator,
    SelectConfig,
    check_select,
    check_select_columns,
    select,
    select_rows,
    summary_text,
    tokens,
    write_selection,
)

BENCHMARKS = Path("/work/shared/benchmarks/rows.json")
RECIPE = {"data": {"source": "x.jsonl", "solution_column": "solution"}}


def think(reasoning: str, answer: str = "7") -> str:
    return f"<think> {reasoning} </think> <answer> {answer} </answer>"


RIGHT = think("3 + 4 = 7")
WRONG = think("3 + 4 = 8", "8")


def row(pid: int, sample: int, completion: str, finish: str = "stop", **extra) -> dict:
    base = {
        "prompt_id": pid,
        "sample": sample,
        "question": f"Problem {pid}: what is 3 + 4?",
        "solution": "7",
        "prompt": f"User: Problem {pid}: what is 3 + 4? Assistant:",
        "completion": completion,
        "finish_reason": finish,
        "prompt_tokens": 10,
        "completion_tokens": 20,
        "teacher": "tiny",
        "sampling": '{"temperature": 0.6}',
    }
    return {**base, **extra}


def config(**section) -> SelectConfig:
    return SelectConfig.from_recipe(section, RECIPE)


def reasons(rows: list[dict], cfg: SelectConfig) -> dict[str, int]:
    return select_rows(rows, cfg)[1]["dropped"]


def kept_samples(rows: list[dict], cfg: SelectConfig) -> list[tuple[int, int]]:
    return [(r["prompt_id"], r["sample"]) for r in select_rows(rows, cfg)[0]]


# ---- the section ---------------------------------------------------------------------------


def test_defaults_verify_with_accuracy_on_the_recipes_solution_column():
    cfg = SelectConfig.from_recipe(None, {"data": {"solution_column": "answer"}})
    assert [(s.name, s.weight, s.params) for s in cfg.verifiers] == [
        ("accuracy", 1.0, {"solution_column": "answer"})
    ]
    assert cfg.drop_truncated and cfg.dedup and cfg.ngram == 8
    cfg = config(verifiers={"accuracy": {"min": 0.5, "solution_column": "ref"}, "format": 1})
    assert [(s.name, s.weight, s.params) for s in cfg.verifiers] == [
        ("accuracy", 0.5, {"solution_column": "ref"}),
        ("format", 1.0, {}),
    ]


def test_unknown_select_key_names_the_closest():
    with pytest.raises(RecipeError, match="did you mean 'max_per_prompt'"):
        config(max_per_promt=2)
    with pytest.raises(RecipeError, match="threshold, not a weight"):
        config(verifiers={"accuracy": {"weight": 1.0}})


@pytest.mark.parametrize(
    "section, message",
    [
        ({"ngram": 0}, "ngram must be a whole number >= 1"),
        ({"max_per_prompt": 0}, "max_per_prompt must be a whole number >= 1"),
        ({"language_min_fraction": 1.5}, r"language_min_fraction must be a fraction in \[0, 1\]"),
        ({"pass_rate_above": 0.5, "pass_rate_below": 0.5}, "keeps no prompt"),
        ({"pass_rate_above": -0.1}, "pass_rate_above must be a fraction"),
        ({"language": "klingon"}, "select.language: .*klingon"),
        ({"verifiers": {"accuracy": "high"}}, "minimum score must be a number"),
        ({"dedup": "yes"}, "dedup must be true or false"),
    ],
)
def test_values_out_of_range_are_refused(section, message):
    with pytest.raises(RecipeError, match=message):
        config(**section)


# ---- drop reasons --------------------------------------------------------------------------


def test_verifier_failures_and_the_first_failing_verifier():
    rows = [
        row(0, 0, RIGHT),
        row(0, 1, WRONG),  # wrong answer, good format
        row(0, 2, "7 because 3 + 4 = 7 <answer> 7 </answer>"),  # right answer, bad format
        row(0, 3, "no idea <answer> 8 </answer>"),  # fails both: counted under accuracy only
    ]
    cfg = config(verifiers={"accuracy": 1.0, "format": 1.0})
    kept, report = select_rows(rows, cfg)
    assert [r["sample"] for r in kept] == [0]
    assert report["dropped"] == {"verifier:accuracy": 2, "verifier:format": 1}
    assert kept[0]["pass_rate"] == 0.25


def test_an_unjudgeable_score_fails(tmp_path, monkeypatch):
    (tmp_path / "select_probe_none.py").write_text(
        "def unsure(completions, **kwargs):\n"
        "    return [None if '?' in c else 1.0 for c in completions]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = config(verifiers={"select_probe_none:unsure": 0.0})  # even a zero threshold
    rows = [row(0, 0, RIGHT), row(0, 1, think("3 + 4 = ?"))]
    assert reasons(rows, cfg) == {"verifier:select_probe_none:unsure": 1}


def test_truncated_samples_are_dropped_once_even_when_also_wrong():
    rows = [
        row(0, 0, RIGHT),
        row(0, 1, "<think> 3 + 4 = ", "length"),
        row(0, 2, think("3 + 4 = 7 indeed"), "length"),
    ]
    assert reasons(rows, config()) == {"truncated": 2}
    assert kept_samples(rows, config(drop_truncated=False)) == [(0, 0), (0, 2)]


def test_mixed_language_chain_of_thought():
    rows = [
        row(0, 0, think("Adding three and four gives seven, so the answer is 7.")),
        row(0, 1, think("Adding three and four 得到 seven 所以 the answer is 7.")),
        row(0, 2, think("3 + 4 = 7")),  # no words at all: nothing mixed, kept
        row(0, 3, f"{think('Three plus four is seven.')} 答案是七"),  # after the reasoning
    ]
    assert kept_samples(rows, config(language="en")) == [(0, 0), (0, 2), (0, 3)]
    assert reasons(rows, config(language="en")) == {"mixed_language": 1}
    # a looser fraction keeps the mixed one (8 of 12 words are English)
    assert len(select_rows(rows, config(language="en", language_min_fraction=0.6))[0]) == 4


def test_long_paragraph_counts_words_per_paragraph_of_the_chain_of_thought():
    ten = "one two three four five six seven eight nine ten"
    rows = [
        row(0, 0, think(f"{ten} {ten}")),  # one paragraph of 20 words
        row(0, 1, think(f"{ten}\n\n{ten}")),  # two of 10
        row(0, 2, think(ten) + f"\n\n{ten} {ten}"),  # the long paragraph is after </think>
    ]
    assert kept_samples(rows, config(max_paragraph_words=10)) == [(0, 1), (0, 2)]
    assert reasons(rows, config(max_paragraph_words=10)) == {"long_paragraph": 1}
    assert len(select_rows(rows, config(max_paragraph_words=20))[0]) == 3


def test_code_fence_in_the_reasoning_but_not_after_it():
    fence = "```python\nprint(3 + 4)\n```"
    rows = [
        row(0, 0, think(f"Let me compute it:\n{fence}\nwhich prints 7")),
        row(0, 1, f"{RIGHT}\n{fence}"),
    ]
    assert kept_samples(rows, config(drop_code_in_reasoning=True)) == [(0, 1)]
    assert reasons(rows, config(drop_code_in_reasoning=True)) == {"code_in_reasoning": 1}
    assert len(select_rows(rows, config())[0]) == 2  # off by default


def test_a_sample_failing_several_filters_counts_under_the_first():
    words = " ".join(["word"] * 30)
    rows = [
        row(0, 0, think(f"{words}\n```\ncode\n```"), "length"),  # truncated, long, code
        row(0, 1, think(f"{words}\n```\ncode\n```")),  # long paragraph and code
        row(0, 2, think("short\n```\ncode\n```")),  # code only
        row(0, 3, RIGHT),
    ]
    cfg = config(max_paragraph_words=20, drop_code_in_reasoning=True)
    _, report = select_rows(rows, cfg)
    assert report["dropped"] == {"truncated": 1, "long_paragraph": 1, "code_in_reasoning": 1}
    assert report["samples"] == report["kept"] + sum(report["dropped"].values())


def test_duplicates_keep_the_lowest_sample_of_the_same_prompt():
    other = think("4 + 3 = 7")
    rows = [row(0, 2, RIGHT), row(0, 1, other), row(0, 0, RIGHT), row(1, 0, RIGHT)]
    assert kept_samples(rows, config()) == [(0, 1), (0, 0), (1, 0)]  # input order
    assert reasons(rows, config()) == {"duplicate": 1}
    assert len(select_rows(rows, config(dedup=False))[0]) == 4


def test_max_per_prompt_keeps_the_lowest_samples_after_the_other_filters():
    rows = [
        row(0, 3, think("3 + 4 = 7, checked")),
        row(0, 0, WRONG),
        row(0, 2, think("4 + 3 = 7")),
        row(0, 1, RIGHT),
        row(1, 0, RIGHT),
    ]
    kept, report = select_rows(rows, config(max_per_prompt=2))
    assert [(r["prompt_id"], r["sample"]) for r in kept] == [(0, 2), (0, 1), (1, 0)]
    assert report["dropped"] == {"verifier:accuracy": 1, "max_per_prompt": 1}


# ---- pass rate -----------------------------------------------------------------------------


def test_pass_rate_band_is_exclusive():
    rows = []
    for pid, right in enumerate([0, 1, 2, 3, 4]):  # pass rates 0, .25, .5, .75, 1
        rows += [row(pid, s, think(f"try {s}") if s < right else WRONG) for s in range(4)]
    kept, report = select_rows(rows, config(pass_rate_above=0.25, pass_rate_below=0.75))
    assert {r["prompt_id"] for r in kept} == {2}
    assert report["pass_rates"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert report["dropped"] == {"pass_rate": 16, "verifier:accuracy": 2}
    assert report["prompts_dropped"] == {"contaminated": 0, "pass_rate": 4}
    only_below = select(rows, config(pass_rate_below=1.0))
    assert [p["prompt_id"] for p in only_below.prompts] == [0, 1, 2, 3]


def test_truncated_samples_count_in_the_pass_rate():
    rows = [row(0, 0, RIGHT), row(0, 1, "<think> 3 + 4 is", "length")]
    kept, report = select_rows(rows, config(pass_rate_below=1.0))
    # the truncated sample fails, so the rate is 1/2 and the prompt stays below 1.0
    assert [r["sample"] for r in kept] == [0]
    assert kept[0]["pass_rate"] == 0.5
    assert report["dropped"] == {"truncated": 1}


def test_prompt_table_has_one_row_per_surviving_prompt_without_sample_columns():
    rows = [row(0, 0, RIGHT), row(0, 1, WRONG), row(1, 0, RIGHT), row(1, 1, RIGHT)]
    selection = select(rows, config(pass_rate_below=1.0))
    assert selection.prompts == [
        {
            "prompt_id": 0,
            "question": "Problem 0: what is 3 + 4?",
            "solution": "7",
            "prompt": "User: Problem 0: what is 3 + 4? Assistant:",
            "teacher": "tiny",
            "sampling": '{"temperature": 0.6}',
            "pass_rate": 0.5,
        }
    ]


# ---- decontamination -----------------------------------------------------------------------


@pytest.fixture
def benchmark(tmp_path: Path) -> Path:
    """aime24, aimo and math500 synthetic rows (column `problem`) as a jsonl file."""
    rows = json.loads(BENCHMARKS.read_text())
    path = tmp_path / "bench.jsonl"
    path.write_text("".join(json.dumps(rows[k]) + "\n" for k in ("aime24", "aimo", "math500")))
    return path


def test_tokens_keep_symbols_apart():
    assert tokens("What is 7 + 5?") == ("what", "is", "7", "+", "5", "?")
    assert tokens("7 + 5") != tokens("7 - 5")


def test_eight_gram_overlap_contaminates_and_other_questions_do_not(benchmark):
    math500 = json.loads(BENCHMARKS.read_text())["math500"]["problem"]
    rows = [
        row(0, 0, RIGHT, question=f"Warm-up. {math500} Simplify fully."),  # embeds it
        row(1, 0, RIGHT, question="Then \\frac{1}{2}+\\frac{1}{3} is what?"),  # 8-gram shared
        row(2, 0, RIGHT, question="What is 2 + 3 + 4?"),  # "$2+3$" in aime24: no 8-gram
        row(3, 0, RIGHT, question="Compute the sum of 1/2 and 1/3."),
    ]
    kept, report = select_rows(rows, config(decontaminate=[str(benchmark)]))
    assert [r["prompt_id"] for r in kept] == [2, 3]
    assert report["dropped"] == {"contaminated": 2}
    assert report["prompts_dropped"]["contaminated"] == 2


def test_contamination_is_the_first_reason(benchmark):
    rows = [row(0, 0, WRONG, "length", question="What is $2+3$?")]
    assert reasons(rows, config(decontaminate=[str(benchmark)])) == {"contaminated": 1}


def test_texts_shorter_than_n_are_matched_whole_in_either_direction():
    index = Decontaminator(
        ["What is 7 + 5?", "Find the number of ordered pairs of positive integers (a, b)."], n=8
    )
    # a short benchmark question inside a longer training question
    assert index.contaminated("Quick one before lunch: what is 7 + 5? Show your work.")
    assert not index.contaminated("Quick one before lunch: what is 7 - 5? Show your work.")
    # a short training question inside a benchmark question
    assert index.contaminated("ordered pairs of positive integers")
    assert not index.contaminated("ordered pairs of negative integers")
    assert not index.contaminated("")  # no tokens: matches nothing
    assert not Decontaminator(["", None], n=8).contaminated("anything at all")


def test_benchmark_question_column_found_or_named(tmp_path):
    rows = json.loads(BENCHMARKS.read_text())
    gpqa = tmp_path / "gpqa.jsonl"
    gpqa.write_text(json.dumps(rows["gpqa"]) + "\n")  # `Question`, among 70-odd columns
    sample = [row(0, 0, RIGHT, question="Tell me: what is 2+3?")]
    assert reasons(sample, config(decontaminate=[str(gpqa)])) == {"contaminated": 1}
    maxwell = tmp_path / "maxwell.jsonl"
    maxwell.write_text(json.dumps(rows["maxwell"]) + "\n")  # PascalCase `Problem`
    with pytest.raises(RecipeError, match=r"\['ID', 'Problem', 'Solution', 'Answer'\]"):
        select_rows(sample, config(decontaminate=[str(maxwell)]))
    cfg = config(decontaminate=[str(maxwell)], decontaminate_column="Problem")
    assert select_rows([row(0, 0, RIGHT, question="What is $2+3$?")], cfg)[0] == []


# ---- batching ------------------------------------------------------------------------------


def test_a_thousand_rows_call_each_reward_once(monkeypatch, tmp_path):
    (tmp_path / "select_probe_count.py").write_text(
        textwrap.dedent(
            """
            CALLS = []

            def answered(completions, solution, **kwargs):
                CALLS.append(len(completions))
                return [float(f"<answer> {s} </answer>" in c) for c, s in zip(completions, solution)]
            answered.verifier = True
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "select_probe_count", raising=False)  # a rerun's fresh CALLS
    calls: dict[str, list[int]] = {}
    real = r1lab.rewards.get_reward

    def counting(name, **params):
        reward = real(name, **params)

        def call(*args, **kwargs):
            calls.setdefault(name, []).append(len(kwargs["completions"]))
            return reward(*args, **kwargs)

        return call

    monkeypatch.setattr(r1lab.rewards, "get_reward", counting)
    rows = [
        row(p, s, think(f"Seven it is, try {s}") if s % 4 else WRONG)
        for p in range(100)
        for s in range(10)
    ]
    cfg = config(verifiers={"accuracy": 1.0, "select_probe_count:answered": 1.0}, language="en")
    kept, report = select_rows(rows, cfg)
    import select_probe_count

    assert select_probe_count.CALLS == [1000]
    assert calls["accuracy"] == [1000] and calls["select_probe_count:answered"] == [1000]
    assert calls["language"] == [700]  # once, over the samples still in the running
    assert report["kept"] == len(kept) == 700


# ---- output --------------------------------------------------------------------------------


def _load(path: Path):
    import datasets

    return datasets.load_dataset("parquet", data_files=str(path), split="train")


def test_written_files_load_back(tmp_path):
    rows = [row(0, 0, RIGHT), row(0, 1, WRONG), row(1, 0, RIGHT), row(1, 1, RIGHT)]
    selection = select(rows, config(pass_rate_above=0.0, pass_rate_below=1.0))
    out = tmp_path / "selection"
    write_selection(out, selection.kept, selection.prompts, selection.report)
    selected = _load(out / "selected.parquet")
    assert selected["completion"] == [RIGHT] and selected["pass_rate"] == [0.5]
    prompts = _load(out / "prompts.parquet")
    assert prompts["prompt_id"] == [0] and "completion" not in prompts.column_names
    saved = json.loads((out / "selection.json").read_text())
    assert saved["kept"] == 1 and saved["config"]["pass_rate_below"] == 1.0
    assert saved["config"]["verifiers"] == {"accuracy": {"min": 1.0, "solution_column": "solution"}}
    assert (out / "pass_rate.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in out.iterdir()) == [
        "pass_rate.png",
        "prompts.parquet",
        "selected.parquet",
        "selection.json",
    ]  # no temporary file left behind


def test_an_empty_selection_writes_loadable_files_with_columns(tmp_path):
    import datasets
    import pyarrow.parquet as pq

    rows = [row(0, 0, WRONG), row(0, 1, WRONG)]
    selection = select(rows, config(pass_rate_above=0.5))
    assert selection.kept == [] and selection.prompts == []
    assert selection.report["empty"] and "nothing was kept" in summary_text(selection.report)
    write_selection(tmp_path, selection.kept, selection.prompts, selection.report)
    # datasets.load_dataset refuses every parquet file of no rows; an arrow table loads
    selected = datasets.Dataset(pq.read_table(tmp_path / "selected.parquet"))
    assert len(selected) == 0
    assert {"completion", "sample", "question", "pass_rate"} <= set(selected.column_names)
    assert str(selected.features["sample"].dtype) == "int64"
    prompts = datasets.Dataset(pq.read_table(tmp_path / "prompts.parquet"))
    assert len(prompts) == 0 and {"prompt_id", "question", "pass_rate"} <= set(prompts.column_names)
    assert json.loads((tmp_path / "selection.json").read_text())["empty"] is True


def test_summary_text_lists_reasons_and_tokens():
    rows = [row(0, 0, RIGHT), row(0, 1, WRONG), row(0, 2, RIGHT, "length")]
    text = summary_text(select_rows(rows, config())[1])
    assert text.splitlines()[0] == "selected 1/3 samples (33.3%) from 1/1 prompts"
    assert "truncated" in text and "verifier:accuracy" in text
    assert "prompt 30, completion 60 (kept: completion 20)" in text


# ---- check ---------------------------------------------------------------------------------


def findings(section: dict, columns: list[str], data: dict | None = None) -> dict[str, list[str]]:
    data = {"source": "prompts.jsonl", **(data or {})}
    recipe = Recipe(
        name="distill/test",
        kind="sft",
        model={"model_name_or_path": "x"},
        data=data,
        trainer={},
        parsed={"select": SelectConfig.from_recipe(section, {"data": data})},
    )
    ctx = Context(recipe, get_kind("sft"), columns=columns)
    out: dict[str, list[str]] = {}
    for check_fn in (check_select, check_select_columns):
        for finding in check_fn(ctx):
            out.setdefault(finding.status, []).append(finding.message)
    return out


def test_check_reports_a_missing_column_with_the_fix():
    found = findings({}, ["question", "answer"])
    assert len(found["error"]) == 1
    assert "['solution']" in found["error"][0]
    assert "data.solution_column=answer" in found["error"][0]
    assert "error" not in findings({}, ["question", "answer"], {"solution_column": "answer"})


def test_check_reports_an_unknown_reward_and_a_verifier_free_selection():
    found = findings({"verifiers": {"acuracy": 1.0}}, ["question", "solution"])
    assert found["error"] == [found["error"][0]]
    assert "unknown reward 'acuracy'" in found["error"][0]
    assert "did you mean 'accuracy'" in found["error"][0]
    found = findings({"verifiers": {"format": 1.0}}, ["question", "solution"])
    assert "error" not in found and "nothing checks the answers" in found["warning"][0]
    assert "warning" not in findings({}, ["question", "solution"])


def test_check_loads_the_benchmark_files(benchmark, tmp_path):
    found = findings({"decontaminate": [str(benchmark)]}, ["question", "solution"])
    assert "error" not in found and any("3 questions" in m for m in found["ok"])
    found = findings({"decontaminate": [str(tmp_path / "gone.jsonl")]}, ["question", "solution"])
    assert "no file at" in found["error"][0]
    found = findings({"decontaminate": [str(benchmark)]}, ["problem", "solution"])
    assert "question column 'question'" in found["error"][0]


# ---- what the verifiers are given, and what the report says (aimed at mutation survivors) ----


@pytest.fixture
def probe_verifier(tmp_path, monkeypatch) -> str:
    """A plug-in verifier that records what it was called with."""
    (tmp_path / "select_probe_seen.py").write_text(
        textwrap.dedent(
            """
            SEEN = []

            def seen(completions, prompts, level=0.0, **kwargs):
                SEEN.append({"prompts": prompts, "level": level, "kwargs": sorted(kwargs)})
                return [level] * len(completions)
            seen.verifier = True
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "select_probe_seen", raising=False)
    return "select_probe_seen:seen"


def test_a_verifier_gets_the_prompts_its_parameters_and_the_other_columns(probe_verifier):
    rows = [row(0, 0, RIGHT), row(1, 0, WRONG)]
    section = {"verifiers": {probe_verifier: {"min": 0.5, "level": 0.75}}}
    kept, _ = select_rows(rows, config(**section))
    import select_probe_seen

    (call,) = select_probe_seen.SEEN
    assert call["prompts"] == [r["prompt"] for r in rows]
    assert call["level"] == 0.75  # its parameter: 0.75 >= min 0.5 keeps both samples
    assert len(kept) == 2
    assert "prompt" not in call["kwargs"] and "completion" not in call["kwargs"]
    assert {"solution", "question", "finish_reason"} <= set(call["kwargs"])


def test_the_language_filter_judges_the_language_the_recipe_names():
    chinese = row(0, 0, think("三 加 四 等于 七 所以 答案 是 七"))
    english = row(0, 1, think("Adding three and four gives seven."))
    assert kept_samples([chinese, english], config(language="zh")) == [(0, 0)]
    assert kept_samples([chinese, english], config(language="en")) == [(0, 1)]


def test_the_report_orders_drop_reasons_as_the_filters_run_and_names_its_columns():
    rows = [
        row(0, 0, RIGHT),
        row(0, 1, RIGHT),  # a duplicate of sample 0
        row(0, 2, WRONG),
        row(0, 3, RIGHT, "length"),
        row(1, 0, think("3 + 4 = 7 again", "8")),
    ]
    _, report = select_rows(rows, config())
    assert list(report["dropped"]) == ["truncated", "verifier:accuracy", "duplicate"]
    assert report["prompts_selected"] == 2 and report["question_column"] == "question"
    _, report = select_rows(rows, config(), question_column="problem")
    assert report["question_column"] == "problem"


def test_decontamination_reads_the_question_column_it_is_given(benchmark):
    rows = [row(0, 0, RIGHT, question="a question that no benchmark holds")]
    cfg = config(decontaminate=[str(benchmark)])
    with pytest.raises(RecipeError, match="no question column 'problem'"):
        select_rows(rows, cfg, question_column="problem")
    assert select_rows(rows, cfg)[1]["dropped"] == {}  # the default column: 'question'


def test_samples_without_a_needed_column_are_refused_with_what_select_reads():
    bad = [{k: v for k, v in row(0, 0, RIGHT).items() if k != "sample"}]
    with pytest.raises(RecipeError, match="no 'sample' column .* output of a generate recipe"):
        select_rows(bad, config())


@pytest.mark.parametrize(
    "section, message",
    [
        ({"ngram": None}, "select.ngram"),
        ({"max_paragraph_words": "long"}, "select.max_paragraph_words"),
        ({"pass_rate_below": 1.5}, "pass_rate_below must be a fraction"),
        ({"pass_rate_above": "0.5"}, "pass_rate_above must be a fraction"),
        ({"pass_rate_above": True}, "pass_rate_above must be a fraction"),
        ({"pass_rate_above": 1}, "the pass-rate bounds are exclusive"),
        ({"pass_rate_below": 0}, "the pass-rate bounds are exclusive"),
        ({"decontaminate": [""]}, "select.decontaminate must be a list of benchmark files"),
        ({"decontaminate_column": 3}, "select.decontaminate_column must be a column name"),
    ],
)
def test_more_values_are_refused_with_the_setting_named(section, message):
    with pytest.raises(RecipeError, match=message):
        config(**section)


def test_written_files_go_into_a_folder_made_with_its_parents(tmp_path):
    kept, report = select_rows([row(0, 0, RIGHT)], config())
    out = tmp_path / "deep" / "down" / "selection"
    write_selection(out, kept, [], report)
    assert len(_load(out / "selected.parquet")) == 1


def test_summary_text_of_nothing_and_of_a_timed_generation():
    _, report = select_rows([row(0, 0, WRONG)], config())
    lines = summary_text(report).splitlines()
    assert lines[0] == "selected 0/1 samples (0.0%) from 0/1 prompts"
    assert lines[1] == "  nothing was kept: the dropped counts below say which filter to loosen"
    report["generation"] = {"generation_seconds": 12.4, "tokens_per_second": 1234.5}
    assert summary_text(report).splitlines()[-1] == (
        "  generation: 12 s, 1,234 completion tokens/s"
    )
    _, empty = select_rows([], config())
    assert summary_text(empty).splitlines()[0] == "selected 0/0 samples from 0/0 prompts"


def test_check_names_every_verifier_that_does_not_build_and_then_no_ok():
    found = findings({"verifiers": {"acuracy": 1.0, "formatt": 1.0}}, ["question", "solution"])
    assert len(found["error"]) == 2
    assert not any(m.startswith("select.verifiers:") for m in found.get("ok", []))
    found = findings({"verifiers": {"format": 1.0, "tag_count": 1.0}}, ["question", "solution"])
    warning = found["warning"][0]
    assert "select.verifiers (format, tag_count): none of them judges the answer" in warning
    assert "accuracy, " in warning  # the verifiers it could use, listed
    ok = findings({"verifiers": {"accuracy": 1.0, "format": 0.5}}, ["question", "solution"])["ok"]
    assert "select.verifiers: accuracy >= 1.0, format >= 0.5" in ok


def test_check_without_a_parsed_select_section_reads_the_recipes_solution_column():
    data = {"source": "prompts.jsonl", "solution_column": "answer"}
    recipe = Recipe(name="distill/test", kind="sft", model={}, data=data, trainer={}, parsed={})
    ctx = Context(recipe, get_kind("sft"), columns=["question", "answer"])
    assert [f.status for f in check_select_columns(ctx)] == []
    ctx = Context(recipe, get_kind("sft"), columns=["question", "solution"])
    [finding] = check_select_columns(ctx)
    assert finding.status == "error" and "needs column(s) ['answer']" in finding.message


def test_check_builds_each_verifier_with_its_parameters():
    found = findings({"verifiers": {"accuracy": {"time_limit": -1}}}, ["question", "solution"])
    assert found["error"] == [
        "select.verifiers.accuracy: time_limit must be a number of seconds in (0, 600], got -1"
    ]


def test_check_with_no_verifiers_at_all_says_none():
    found = findings({"verifiers": {}}, ["question", "solution"])
    assert found["warning"][0].startswith("select.verifiers (none): none of them judges the answer")


def test_check_gives_no_ok_to_verifiers_when_one_of_them_does_not_build():
    found = findings({"verifiers": {"accuracy": 1.0, "formatt": 1.0}}, ["question", "solution"])
    assert len(found["error"]) == 1 and "formatt" in found["error"][0]
    assert not any(m.startswith("select.verifiers") for m in found.get("ok", []))
    assert "warning" not in found  # accuracy judges the answer


def test_check_reports_every_benchmark_file_after_one_that_does_not_load(benchmark, tmp_path):
    gone = str(tmp_path / "gone.jsonl")
    found = findings({"decontaminate": [gone, str(benchmark)]}, ["question", "solution"])
    assert found["error"] == [f"select.decontaminate: no file at '{gone}'"]
    assert f"select.decontaminate: {benchmark} (3 questions)" in found["ok"]


def test_check_of_columns_not_known_yet_says_when_they_are_checked():
    recipe = Recipe(
        name="distill/test",
        kind="sft",
        model={},
        data={"source": "runs/x/out"},
        trainer={},
        parsed={},
    )
    [finding] = check_select_columns(Context(recipe, get_kind("sft")))
    assert finding.status == "skipped"
    assert finding.message == (
        "select columns: the columns of 'runs/x/out' are not known yet; checked once loaded"
    )


def test_check_suggests_solution_column_only_for_the_solution_column():
    # countdown reads nums/target: an answer-like column is no fix for those
    found = findings({"verifiers": {"countdown": 1.0}}, ["question", "answer"])
    assert found["error"][0].endswith(
        "set select.verifiers.countdown's column parameters to existing columns"
    )
    # no answer-like column to suggest: the verifier's own parameters
    found = findings({}, ["question", "text"])
    assert found["error"][0].endswith(
        "set select.verifiers.accuracy's column parameters to existing columns"
    )


def test_check_of_decontamination_names_the_setting_for_the_question_column(benchmark):
    found = findings({"decontaminate": [str(benchmark)]}, ["problem", "solution"])
    assert found["error"][0].endswith("; set data.question_column")
