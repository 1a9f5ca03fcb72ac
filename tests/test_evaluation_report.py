"""What an evaluation writes from saved samples (r1lab.evaluation_report), called directly: the
per-sample results, <benchmark>.json (greedy, paper figures, lineage, the budget sweep's rows) and
results.md, on hand-made samples graded by a plain reward, so that every expectation is counted
by hand."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from r1lab.benchmarks import PAPER, Benchmark
from r1lab.evaluation_report import (
    budget_folder,
    budget_row,
    results_table,
    write_report,
)
from r1lab.generation.shards import write_shard

from conftest import markdown_tables

PROBLEMS = [
    {"prompt_id": 0, "question": "What is 1 + 2?", "answer": "3"},
    {"prompt_id": 1, "question": "What is 2 + 5?", "answer": "7"},
]
ASKED = {0: "ask: What is 1 + 2?", 1: "ask: What is 2 + 5?"}


def boxed(completions, prompts, answer, **_):
    """Full marks for the reference in \\boxed{}, none otherwise."""
    return [float(f"\\boxed{{{a}}}" in c) for c, a in zip(completions, answer, strict=True)]


def save(out: Path, picks: list[list[str]], tokens: int = 10, seconds: float = 2.0, **per_sample):
    """Samples of PROBLEMS in `out` (one shard): `picks[pid]` the boxed answers of its samples;
    `per_sample` overrides a column for every sample."""
    samples = [
        {
            "prompt_id": pid,
            "sample": j,
            "prompt": ASKED[pid],
            "completion": f"<think>sum</think> \\boxed{{{a}}}",
            "completion_tokens": tokens + j,
            "finish_reason": "stop",
            "prompt_tokens": 3,
            **per_sample,
        }
        for pid, answers in enumerate(picks)
        for j, a in enumerate(answers)
    ]
    write_shard(out, 0, samples, seconds, None)


def report(bench: Benchmark, out: Path, made: dict | None = None, made_by: dict | None = None):
    made = {"model": "org/some-model", "benchmark": {"k": bench.k}} if made is None else made
    return write_report(bench, PROBLEMS, ASKED, boxed, out, made, made_by)


def test_the_report_saves_every_graded_sample_and_the_benchmarks_json(tmp_path):
    out = tmp_path / "mine"
    # problem 0: 3 of 4 right; problem 1: 1 of 4 right
    save(out, [["3", "3", "4", "3"], ["7", "1", "2", "1"]], seconds=4.0)
    made = {"model": "org/some-model", "backend": "hf", "benchmark": {"k": 4, "seed": 3}}
    got = report(Benchmark("mine", "math", source="here.jsonl", k=4), out, made)

    assert got["pass@1"] == pytest.approx((3 / 4 + 1 / 4) / 2)
    assert got["maj@4"] == pytest.approx(1 / 2)  # problem 0 by 3 votes; problem 1's "1" wins
    assert got["benchmark"] == "mine" and got["settings"] == {"k": 4, "seed": 3}
    assert got["model"] == "org/some-model" and got["backend"] == "hf"
    assert got["generation"]["samples"] == 8 and got["generation"]["samples_per_second"] == 2.0
    assert [p["question"] for p in got["per_problem"]] == [p["question"] for p in PROBLEMS]
    assert "lineage" not in got and "greedy" not in got and "budgets" not in got
    assert got["paper"] == {}  # no paper figures for this model
    assert json.loads((tmp_path / "mine.json").read_text()) == json.loads(json.dumps(got))

    rows = pq.read_table(out / "results.parquet").to_pylist()
    assert [(r["prompt_id"], r["sample"], r["correct"]) for r in rows] == [
        (0, 0, 1.0),
        (0, 1, 1.0),
        (0, 2, 0.0),
        (0, 3, 1.0),
        (1, 0, 1.0),
        (1, 1, 0.0),
        (1, 2, 0.0),
        (1, 3, 0.0),
    ]
    assert [r["answer"] for r in rows] == ["3", "3", "4", "3", "7", "1", "2", "1"]


def test_the_lineage_of_what_was_evaluated_is_kept_in_the_json(tmp_path):
    out = tmp_path / "mine"
    save(out, [["3"], ["7"]])
    made_by = {"kind": "evaluate", "inputs": {"model": {"ref": "org/some-model"}}}
    report(Benchmark("mine", "math", source="here.jsonl", k=1), out, made_by=made_by)
    assert json.loads((tmp_path / "mine.json").read_text())["lineage"] == made_by


def test_greedy_samples_are_graded_apart_and_reported_as_greedy(tmp_path):
    out = tmp_path / "mine"
    save(out, [["3", "3"], ["7", "7"]])  # sampled: every one right
    save(out / "greedy", [["4"], ["7"]])  # greedy: problem 0 wrong
    got = report(Benchmark("mine", "math", source="here.jsonl", k=2, greedy=True), out)
    assert got["pass@1"] == 1.0 and got["greedy"] == 0.5
    # results.parquet holds the k samples only
    assert pq.read_table(out / "results.parquet").num_rows == 4


def test_the_papers_figures_sit_beside_the_whole_benchmark_only(tmp_path):
    out = tmp_path / "aime24"
    save(out, [["3"], ["7"]])
    made = {"model": "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", "benchmark": {}}
    whole = report(Benchmark("aime24", "math", source="here.jsonl", k=1), out, made)
    assert whole["paper"] == PAPER["DeepSeek-R1-Distill-Qwen-7B"]["aime24"] != {}
    subset = Benchmark("aime24", "math", source="here.jsonl", k=1, num_problems=2)
    assert report(subset, out, made)["paper"] == {}


def test_the_json_is_indented_by_two_spaces_for_reading(tmp_path):
    out = tmp_path / "mine"
    save(out, [["3"], ["7"]])
    report(Benchmark("mine", "math", source="here.jsonl", k=1), out)
    lines = (tmp_path / "mine.json").read_text().splitlines()
    assert lines[0] == "{" and lines[1] == '  "model": "org/some-model",'


def test_a_program_benchmark_reports_no_majority_vote_nor_in_its_budget_rows(tmp_path):
    out = tmp_path / "prog"
    save(out, [["3", "3"], ["7", "0"]])  # the same boxed text twice would win any vote
    save(budget_folder(out, 16), [["3", "3"], ["0", "0"]])
    bench = Benchmark("prog", "code", source="here.jsonl", k=2, budgets=[16])
    got = report(bench, out)
    assert got["pass@1"] == pytest.approx((1 + 1 / 2) / 2)
    assert not [key for key in got if key.startswith("maj@")]
    assert not [key for row in got["per_problem"] for key in row if key.startswith("maj@")]
    assert [row["pass@1"] for row in got["budgets"]] == pytest.approx([1 / 2, 3 / 4])
    assert not [row for row in got["budgets"] if "maj@k" in row]


def test_the_budget_sweep_has_a_row_per_budget_then_the_samples_own_cap(tmp_path):
    out = tmp_path / "mine"
    # the benchmark's own samples (cap 1024): all right, 30 and 31 tokens
    save(out, [["3", "3"], ["7", "7"]], tokens=30)
    # budget 64: problem 0 one of two, problem 1 none; every sample cut off
    save(budget_folder(out, 64), [["3", "0"], ["0", "0"]], tokens=8, finish_reason="length")
    # budget 256: problem 0 both, problem 1 one of two
    save(budget_folder(out, 256), [["3", "3"], ["0", "7"]], tokens=20)
    assert budget_folder(out, 64) == out / "budget-64"
    bench = Benchmark("mine", "math", source="here.jsonl", k=2, budgets=[64, 256])
    made = {"model": "m", "sampling": {"budget": {"max_think_tokens": 1024}}, "benchmark": {}}
    rows = report(bench, out, made)["budgets"]

    assert [r["max_think_tokens"] for r in rows] == [64, 256, 1024]
    assert [r["pass@1"] for r in rows] == pytest.approx([(1 / 2 + 0) / 2, (1 + 1 / 2) / 2, 1.0])
    stderr = [statistics.stdev(v) / math.sqrt(2) for v in ([1 / 2, 0], [1, 1 / 2], [1, 1])]
    assert [r["pass@1_stderr"] for r in rows] == pytest.approx(stderr)
    assert [r["mean_completion_tokens"] for r in rows] == pytest.approx([8.5, 20.5, 30.5])
    assert [r["truncated"] for r in rows] == [1.0, 0.0, 0.0]
    assert [r["format"] for r in rows] == [1.0, 1.0, 1.0]
    # maj@2: a tie goes to the first answer; budget 64's problem 1 votes "0", wrong
    assert [r["maj@k"] for r in rows] == pytest.approx([1 / 2, 1 / 2, 1.0])
    assert set(rows[0]) == {
        "max_think_tokens",
        "pass@1",
        "pass@1_stderr",
        "mean_completion_tokens",
        "truncated",
        "format",
        "maj@k",
    }


def test_samples_made_without_a_budget_end_the_sweep_as_unbounded(tmp_path):
    out = tmp_path / "mine"
    save(out, [["3"], ["7"]])
    save(budget_folder(out, 32), [["3"], ["0"]])
    bench = Benchmark("mine", "math", source="here.jsonl", k=1, budgets=[32])
    for sampling in ({}, {"budget": None}, {"budget": {"max_waits": 2}}):
        made = {"model": "m", "sampling": sampling, "benchmark": {}}
        rows = report(bench, out, made)["budgets"]
        assert [(r["max_think_tokens"], r["pass@1"]) for r in rows] == [(32, 0.5), (None, 1.0)]
    rows = report(bench, out, {"model": "m", "benchmark": {}})["budgets"]  # no sampling at all
    assert rows[-1]["max_think_tokens"] is None


def test_a_budget_row_names_the_vote_of_k_maj_at_k_and_keeps_what_there_is():
    metrics = {"pass@1": 0.5, "pass@1_stderr": 0.1, "maj@2": 0.25, "maj@4": 0.75, "truncated": 0.0}
    assert budget_row(128, metrics, 4) == {
        "max_think_tokens": 128,
        "pass@1": 0.5,
        "pass@1_stderr": 0.1,
        "truncated": 0.0,
        "maj@k": 0.75,
    }
    # code: no vote, no format
    assert budget_row(None, {"pass@1": 0.5, "maj@2": 0.25}, 4) == {
        "max_think_tokens": None,
        "pass@1": 0.5,
    }


# ---- results.md ----------------------------------------------------------------------------------

HEAD = [
    "benchmark",
    "problems",
    "k",
    "pass@1 (± s.e.)",
    "paper pass@1",
    "maj@k",
    "paper cons@64",
    "pass@k",
    "mean tokens",
    "truncated",
    "format",
]


def figures(k: int, **over) -> dict:
    """A report as write_report makes it: pass@j = 1 - (k - j) / (2k), so pass@k = 1."""
    return {
        "problems": 30,
        "k": k,
        "pass@1": 0.625,
        "pass@1_stderr": 0.125,
        "pass@k": {j: 1 - (k - j) / (2 * k) for j in range(1, k + 1)},
        f"maj@{k}": 0.5,
        "mean_completion_tokens": 812.6,
        "truncated": 0.25,
        "format": 0.875,
        **over,
    }


def test_results_table_shows_each_benchmark_beside_the_paper():
    made = {
        "model": "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B",
        "revision": None,
        "backend": "vllm",
        "sampling": {"temperature": 0.6, "top_p": 0.95, "max_new_tokens": 32768, "seed": 7},
        "r1lab": "0.9.1",
    }
    reports = {
        "aime24": figures(64, paper={"pass@1": 55.5, "cons@64": 83.3}, **made),
        "math_500": figures(4, paper={"pass@1": 92.8, "cons@64": 80.0}),
        "lcb": figures(1, paper={}, **{"maj@1": None}),
        "gpqa_diamond": figures(64, paper={"pass@1": 49.1}),  # the paper gives no cons@64
    }
    del reports["lcb"]["format"]
    text = results_table(reports)
    [table] = markdown_tables(text)
    assert table[0] == HEAD
    # aime24, k 64: pass@2, 4, ..., 64 of 1 - (64 - j) / 128
    passes = ", ".join(f"@{j} {100 * (1 - (64 - j) / 128):.1f}" for j in (2, 4, 8, 16, 32, 64))
    assert table[1] == [
        "aime24",
        "30",
        "64",
        "62.5 ± 12.5",
        "55.5",
        "50.0 (maj@64)",
        "83.3",
        passes,
        "813",
        "25.0%",
        "87.5%",
    ]
    # cons@64 only beside k = 64; pass@2 and pass@4 of 1 - (4 - j) / 8
    assert table[2][3:8] == ["62.5 ± 12.5", "92.8", "50.0 (maj@4)", "–", "@2 75.0, @4 100.0"]
    # k = 1: no pass@k beyond pass@1; no vote; no paper figure; no format rate
    assert table[3][3:] == ["62.5 ± 12.5", "–", "–", "–", "–", "813", "25.0%", "nan%"]
    assert table[4][4:7] == ["49.1", "50.0 (maj@64)", "–"]
    first_line = text.split("\n")[0]
    assert first_line == (
        "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B (revision -) on vllm: temperature 0.6, top_p "
        "0.95, up to 32768 new tokens, seed 7; r1lab 0.9.1. Paper: DeepSeek-R1 (arXiv "
        "2501.12948), for the whole benchmark only."
    )


def test_results_table_names_the_revision_and_marks_what_it_does_not_know():
    text = results_table({"mine": figures(2, revision="abc123")})  # no paper figures
    assert text.startswith("? (revision abc123) on ?: temperature None, top_p None, up to None")
    assert "seed None; r1lab ?." in text.split("\n")[0]
    [table] = markdown_tables(text)
    assert table[1][4] == "–" and table[1][6] == "–"
    assert results_table({}).startswith("? (revision -) on ?:")
