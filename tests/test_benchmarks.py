"""Benchmarks on local files in the Hub datasets' shapes: prompts, graders, the whole `evaluate` run.

Every benchmark file here is r1lab's synthetic arithmetic in the Hub dataset's columns
(`r1lab.benchmark_files`); the vLLM run of the same recipe is in test_generation_vllm.py.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from r1lab.benchmark_files import synthetic_rows, write_synthetic
from r1lab.benchmarks import (
    BENCHMARKS,
    MATH_PROMPT,
    Benchmark,
    paper_figures,
    parse_benchmarks,
    private_tests,
    prompts_of,
)
from r1lab.errors import RecipeError
from r1lab.evaluation_report import write_report
from r1lab.generation.shards import write_shard
from r1lab.rewards import get_reward

from conftest import run_r1lab


def bench(name: str, tmp_path: Path, n: int = 6, **options):
    path = write_synthetic(name, tmp_path / f"{name}.jsonl", n)
    return parse_benchmarks({name: {"source": str(path), **options}})[0]


def test_math_prompt_is_r1s_and_the_reference_is_the_answer_column(tmp_path):
    problems = bench("math_500", tmp_path).problems()
    row = synthetic_rows("math_500", 6)[2]
    assert problems[2]["question"] == MATH_PROMPT.format(problem=row["problem"])
    assert problems[2]["question"].endswith(
        "\nPlease reason step by step, and put your final answer within \\boxed{}."
    )
    assert problems[2]["answer"] == row["answer"]
    assert [p["prompt_id"] for p in problems] == list(range(6))


def test_gpqa_options_follow_simple_evals_seeded_permutation(tmp_path):
    rows = synthetic_rows("gpqa_diamond", 6)
    for seed in (0, 7):
        problems = bench("gpqa_diamond", tmp_path, seed=seed).problems()
        rng = random.Random(seed)  # simple-evals: one generator, one permutation per row, in order
        for row, problem in zip(rows, problems, strict=True):
            options = [row["Correct Answer"]] + [row[f"Incorrect Answer {i}"] for i in (1, 2, 3)]
            order = rng.sample(range(4), 4)
            letter = problem["answer"]
            assert f"\n{letter}) {row['Correct Answer']}\n" in problem["question"] + "\n"
            assert "ABCD"[order.index(0)] == letter
            shown = [options[i] for i in order]
            assert problem["question"].endswith(
                "\n".join(f"{c}) {o}" for c, o in zip("ABCD", shown, strict=True))
            )
    letters = [p["answer"] for p in bench("gpqa_diamond", tmp_path, n=40).problems()]
    assert len(set(letters)) == 4  # the correct option is not always in one place


def test_livecodebench_tests_are_public_then_private_with_the_function_name(tmp_path):
    rows = synthetic_rows("lcb", 4)
    problems = bench("lcb", tmp_path, n=4).problems()
    stdin, functional = json.loads(problems[0]["test_cases"]), json.loads(problems[1]["test_cases"])
    assert [t["input"] for t in stdin] == ["0\n", "1\n", "5\n"]
    assert {t["fn_name"] for t in stdin} == {None}
    assert {t["fn_name"] for t in functional} == {"shifted"}
    assert private_tests(rows[1]["private_test_cases"]) == [
        {k: t[k] for k in ("input", "output")} | {"testtype": "functional"} for t in functional[1:]
    ]
    assert "Read the inputs from stdin" in problems[0]["question"]
    assert "```python\nclass Solution:" in problems[1]["question"]


def test_private_tests_never_unpickle_objects():
    import base64
    import pickle
    import zlib

    evil = base64.b64encode(zlib.compress(pickle.dumps(Path("/etc/passwd")))).decode()
    with pytest.raises(pickle.UnpicklingError, match="unexpected object"):
        private_tests(evil)


def test_livecodebench_date_window_is_inclusive(tmp_path):
    dates = [r["contest_date"][:10] for r in synthetic_rows("lcb", 10)]
    problems = bench("lcb", tmp_path, n=10, start_date="2024-09-03", end_date="2024-10-03")
    assert len(problems.problems()) == sum("2024-09-03" <= d <= "2024-10-03" for d in dates) > 0


def test_registry_defaults_and_a_dataset_of_ones_own(tmp_path):
    by_name = {b.name: b for b in parse_benchmarks(["aime24", "math_500", "gpqa_diamond", "lcb"])}
    assert {n: b.k for n, b in by_name.items()} == {
        "aime24": 64,
        "math_500": 16,
        "gpqa_diamond": 64,
        "lcb": 8,
    }
    assert by_name["aime24"].source == "HuggingFaceH4/aime_2024"
    own = tmp_path / "own.jsonl"
    own.write_text(json.dumps({"q": "Compute 2 + 3", "a": "5"}) + "\n")
    mine = parse_benchmarks(
        {"mine": {"source": str(own), "question_column": "q", "answer_column": "a", "k": 2}}
    )[0]
    assert mine.problems()[0]["answer"] == "5"
    assert mine.problems()[0]["question"].startswith("Compute 2 + 3\nPlease reason")


@pytest.mark.parametrize(
    "section,message",
    [
        ({"aime2024": {}}, "did you mean 'aime24'"),
        ({"mine": {"question_column": "q"}}, "needs source:"),
        ({"aime24": {"kk": 4}}, "did you mean 'k'"),
        ({"aime24": {"k": 0}}, "k=0 must be an integer >= 1"),
        ({"aime24": {"style": "maths"}}, "did you mean 'math'"),
    ],
)
def test_bad_benchmark_settings_say_what_to_fix(section, message):
    with pytest.raises(RecipeError, match=message):
        parse_benchmarks(section)


def test_a_missing_column_names_the_columns_there_are(tmp_path):
    b = bench("math_500", tmp_path, answer_column="final")
    with pytest.raises(RecipeError, match=r"no column\(s\) \['final'\].*answer_column"):
        b.problems()


# ---- grading saved samples -------------------------------------------------------------------


def right_and_wrong(name: str, problem: dict) -> tuple[str, str]:
    """A completion that solves `problem` and one that does not, as an R1 model writes them."""
    if name == "gpqa_diamond":
        other = "A" if problem["answer"] != "A" else "B"
        return (
            f"<think>Maybe {other}? No.</think>\nAnswer: {problem['answer']}",
            f"<think>Surely {problem['answer']}.</think>\nAnswer: {other}",
        )
    if name == "lcb":
        test = json.loads(problem["test_cases"])[0]
        if test["fn_name"]:
            value = int(test["output"]) - sum(json.loads(test["input"]))
            body = f"def shifted(self, nums):\n        return {value} + sum(nums)"
            good = f"class Solution:\n    {body}\n"
            bad = good.replace("+ sum", "- sum")
        else:
            value = int(test["output"]) - int(test["input"])
            good = f"print({value} + int(input()))\n"
            bad = f"print({value} - int(input()))\n"
        return (
            f"<think>ok</think>\n```python\n{good}```",
            f"<think>ok</think>\n```python\n{bad}```",
        )
    answer = problem["answer"]
    return (
        f"<think>work</think> The answer is $\\boxed{{{answer}}}$.",
        f"<think>work</think> The answer is $\\boxed{{{int(answer) + 1}}}$.",
    )


def report_of(b, problems: list[dict], out: Path) -> dict:
    """The benchmark's report from the samples saved in `out`, as an evaluate run writes it."""
    rows, _ = prompts_of(problems, b.template)
    name, params = b.reward()
    asked = {row["prompt_id"]: row["prompt"] for row in rows}
    return write_report(b, problems, asked, get_reward(name, **params), out, {"model": "m"})


def save_samples(out: Path, problems: list[dict], completions: list[list[str]]) -> None:
    rows, schema = prompts_of(problems, "chat")
    samples = [
        {
            **row,
            "sample": j,
            "completion": text,
            "finish_reason": "stop",
            "prompt_tokens": 5,
            "completion_tokens": len(text.split()),
            "teacher": "m",
            "backend": "hf",
            "sampling": "{}",
            "recipe": "evaluate/tiny",
        }
        for row, texts in zip(rows, completions, strict=True)
        for j, text in enumerate(texts)
    ]
    write_shard(out, 0, samples, 1.0, schema)


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_each_benchmark_grades_saved_samples_with_its_verifier(name, tmp_path):
    b = bench(name, tmp_path, n=4, k=3)
    problems = b.problems()
    # problem 0: all right; 1: one of three; 2: none; 3: two of three
    pattern = [(1, 1, 1), (0, 1, 0), (0, 0, 0), (1, 0, 1)]
    texts = [
        [right_and_wrong(b.name, p)[0 if ok else 1] for ok in row]
        for p, row in zip(problems, pattern, strict=True)
    ]
    save_samples(tmp_path / b.name, problems, texts)
    report = report_of(b, problems, tmp_path / b.name)
    assert [p["correct"] for p in report["per_problem"]] == [3, 1, 0, 2]
    # each problem named by its question, so that two models' problems pair (r1lab.report)
    assert [p["question"] for p in report["per_problem"]] == [str(p["question"]) for p in problems]
    assert report["pass@1"] == pytest.approx((1 + 1 / 3 + 0 + 2 / 3) / 4)
    assert report["format"] == 1.0
    saved = json.loads((tmp_path / f"{b.name}.json").read_text())
    assert saved["pass@k"]["3"] == pytest.approx(3 / 4)
    if b.name != "lcb":
        assert saved["maj@3"] == pytest.approx(2 / 4)  # problems 0 and 3 by majority


def test_a_benchmark_with_a_sample_missing_is_refused_not_averaged(tmp_path):
    b = bench("math_500", tmp_path, n=2, k=2)
    problems = b.problems()
    texts = [
        [right_and_wrong("math_500", problems[0])[0]] * 2,
        [right_and_wrong("math_500", problems[1])[0]],
    ]
    save_samples(tmp_path / b.name, problems, texts)
    with pytest.raises(RecipeError, match="problem 1: 1"):
        report_of(b, problems, tmp_path / b.name)


# ---- the whole run --------------------------------------------------------------------------

FAST = [
    "generate.backend=hf",
    "generate.max_new_tokens=24",
    "generate.shard_size=4",
    "benchmarks.aime24.num_problems=6",
    "benchmarks.aime24.k=2",
    "benchmarks.math_500.num_problems=4",
    "benchmarks.math_500.k=3",
    "--benchmark",
    "aime24",
    "math_500",
]


@pytest.fixture(scope="module")
def evaluated(base_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "run"
    args = ["evaluate/tiny", *FAST, f"model.model_name_or_path={base_model}"]
    proc = run_r1lab("evaluate", *args, f"trainer.output_dir={out}")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return out, args, proc


def test_evaluate_writes_samples_results_json_and_table(evaluated, base_model):
    out, _, proc = evaluated
    for name, problems, k in (("aime24", 6, 2), ("math_500", 4, 3)):
        report = json.loads((out / f"{name}.json").read_text())
        assert report["model"] == str(base_model)
        assert report["problems"] == problems and report["k"] == k
        assert report["sampling"]["temperature"] == 0.6 and report["sampling"]["top_p"] == 0.95
        assert report["backend"] == "hf" and report["r1lab"]
        assert len(report["per_problem"]) == problems
        assert report["generation"]["samples"] == problems * k
        assert report["generation"]["samples_per_second"] > 0
        assert 0.0 <= report["pass@1"] <= 1.0
        import pyarrow.parquet as pq

        assert pq.read_table(out / name / "results.parquet").num_rows == problems * k
    table = (out / "results.md").read_text()
    assert "| aime24 | 6 | 2 |" in table and "| math_500 | 4 | 3 |" in table
    # the scaling curve, from the same samples: k = 1, 2 (aime24) and 1, 2, 3 (math_500)
    curves = (out / "scaling.md").read_text()
    assert [line.split("|")[1:3] for line in curves.splitlines() if line.startswith("| ")][1:] == [
        [" aime24 ", " 1 "],
        [" aime24 ", " 2 "],
        [" math_500 ", " 1 "],
        [" math_500 ", " 2 "],
        [" math_500 ", " 3 "],
    ]
    assert (out / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "pass@1 (± s.e.)" in proc.stdout


def test_a_rerun_rescores_the_saved_samples_without_generating(evaluated):
    out, args, _ = evaluated
    shards = {p: p.stat().st_mtime_ns for p in out.glob("*/samples/*.parquet")}
    before = json.loads((out / "aime24.json").read_text())
    proc = run_r1lab("evaluate", *args, f"trainer.output_dir={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "0 to do here" in proc.stdout
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/samples/*.parquet")} == shards
    after = json.loads((out / "aime24.json").read_text())
    assert after["pass@1"] == before["pass@1"] and after["per_problem"] == before["per_problem"]


def test_other_sampling_never_mixes_into_saved_samples(evaluated):
    out, args, _ = evaluated
    proc = run_r1lab("evaluate", *args, "generate.temperature=1.0", f"trainer.output_dir={out}")
    assert proc.returncode != 0
    assert "holds samples made otherwise" in proc.stderr and "temperature" in proc.stderr


def test_a_model_path_alone_evaluates_with_the_r1_protocol_recipe(base_model, tmp_path):
    path = write_synthetic("aime24", tmp_path / "aime.jsonl", 3)
    out = tmp_path / "run"
    proc = run_r1lab(
        "evaluate",
        str(base_model),
        "--benchmark",
        "aime24",
        "--k",
        "2",
        "generate.backend=hf",
        "generate.max_new_tokens=16",
        f"benchmarks.aime24.source={path}",
        f"trainer.output_dir={out}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "aime24.json").read_text())
    assert report["k"] == 2 and report["problems"] == 3
    assert report["sampling"]["max_new_tokens"] == 16
    assert sorted(p.name for p in out.glob("*.json")) == ["aime24.json", "lineage.json"]
    made = json.loads((out / "lineage.json").read_text())
    assert made["benchmarks"] == ["aime24"] and made["inputs"]["model"]["ref"] == str(base_model)


def test_check_names_a_missing_local_benchmark_file():
    proc = run_r1lab("check", "evaluate/r1", "benchmarks.aime24.source=./nope.jsonl")
    assert proc.returncode == 2
    assert "benchmarks.aime24.source: no file at './nope.jsonl'" in proc.stdout


def test_samples_of_another_question_are_never_graded_against_this_one(tmp_path):
    b = bench("math_500", tmp_path, n=2, k=1)
    problems = b.problems()
    save_samples(tmp_path / b.name, problems, [["\\boxed{1}"], ["\\boxed{2}"]])
    changed = [problems[1] | {"prompt_id": 0}, problems[0] | {"prompt_id": 1}]  # the file changed
    with pytest.raises(RecipeError, match="answer another question"):
        report_of(b, changed, tmp_path / b.name)


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["generate.temperature=0"], "greedy samples are all the same; use k=1"),
        (["generate.num_samples=4"], "benchmarks.<name>.k"),
    ],
)
def test_evaluate_settings_that_cannot_hold_fail_in_check(overrides, message):
    proc = run_r1lab("check", "evaluate/r1", *overrides)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr


def test_a_mistyped_evaluate_recipe_is_not_taken_for_a_model():
    proc = run_r1lab("evaluate", "evaluate/rr", "--benchmark", "aime24")
    assert proc.returncode == 2
    assert "unknown recipe 'evaluate/rr'" in proc.stderr


def test_a_prompt_longer_than_the_models_context_fails_in_check(base_model):
    proc = run_r1lab(
        "check",
        "evaluate/tiny",
        f"model.model_name_or_path={base_model}",
        "+benchmarks.gpqa_diamond={source: synthetic, template: r1_zero, num_problems: 4, k: 2}",
    )
    assert proc.returncode == 2
    assert "benchmarks.gpqa_diamond: its longest prompt" in proc.stdout
    assert "benchmarks.aime24: prompts fit the context" in proc.stdout


# ---- loading, checked directly ------------------------------------------------------------------


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_num_problems_keeps_the_first_ones_and_none_keeps_all(tmp_path):
    path = write_synthetic("math_500", tmp_path / "m.jsonl", 6)
    first = parse_benchmarks({"m": {"source": str(path), "num_problems": 2}})[0].problems()
    every = parse_benchmarks({"m": {"source": str(path)}})[0].problems()
    assert len(every) == 6 and first == every[:2]


def test_a_source_without_problems_is_refused_by_name(tmp_path):
    b = bench("lcb", tmp_path, n=4, start_date="2031-01-01")  # no contest that late
    with pytest.raises(RecipeError, match=r"^benchmarks\.lcb: .*lcb\.jsonl has no problems$"):
        b.problems()


def test_a_missing_column_of_a_one_row_file_names_its_columns(tmp_path):
    path = write_jsonl(tmp_path / "one.jsonl", [{"q": "Compute 1 + 1", "a": "2"}])
    b = parse_benchmarks({"one": {"source": str(path), "question_column": "q"}})[0]
    with pytest.raises(RecipeError, match=r"no column\(s\) \['answer'\] \(columns: \['a', 'q'\]\)"):
        b.problems()


def test_each_styles_verifier_reads_a_column_its_problems_have(tmp_path):
    for name in BENCHMARKS:
        b = bench(name, tmp_path, n=2)
        reward, params = b.reward()
        [column] = params.values()
        assert column in b.problems()[0], (name, reward, params)
    params = {"solution_column": "target"}
    mine = parse_benchmarks({"aime24": {"verifier": "countdown", "verifier_params": params}})[0]
    assert mine.reward() == ("countdown", params)
    mine.reward()[1]["solution_column"] = "other"  # a copy: the benchmark keeps its own
    assert mine.verifier_params == {"solution_column": "target"}


def test_a_task_keeps_every_column_and_renames_its_question_from_the_test_source(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", [{"q": "Compute 9 + 9", "sol": "18", "n": 0}])
    test = write_jsonl(
        tmp_path / "test.jsonl",
        [{"q": "Compute 1 + 2", "sol": "3", "n": 1}, {"q": "Compute 2 + 2", "sol": "4", "n": 2}],
    )
    data = {"source": str(train), "test_source": str(test)}
    b = Benchmark("heldout", "task", data=data, split="test", question_column="q")
    assert b.problems() == [
        {"prompt_id": 0, "sol": "3", "n": 1, "question": "Compute 1 + 2"},
        {"prompt_id": 1, "sol": "4", "n": 2, "question": "Compute 2 + 2"},
    ]


def test_a_saved_dataset_dict_is_read_at_the_benchmarks_split_and_ones_own_at_train(tmp_path):
    from datasets import Dataset, DatasetDict

    folder = tmp_path / "saved"
    DatasetDict(
        {
            split: Dataset.from_list([{"problem": f"Compute {n} + 1", "answer": str(n + 1)}])
            for split, n in (("train", 4), ("test", 7))
        }
    ).save_to_disk(str(folder))
    assert bench_at(folder, "math_500")[0]["answer"] == "8"  # MATH-500 is its test split
    assert bench_at(folder, "mine")[0]["answer"] == "5"  # a dataset of one's own: train


def bench_at(folder: Path, name: str) -> list[dict]:
    return parse_benchmarks({name: {"source": str(folder)}})[0].problems()


def test_synthetic_is_a_cached_file_in_the_benchmarks_hub_shape(tmp_path, monkeypatch):
    monkeypatch.setenv("R1LAB_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "cache" / "benchmarks"
    aime = parse_benchmarks({"aime24": {"source": "synthetic", "num_problems": 4, "seed": 3}})[0]
    path = aime.local_source()
    assert path == str(folder / "aime24-4-seed3.jsonl")
    rows = [json.loads(line) for line in Path(path).read_text().splitlines()]
    assert rows == synthetic_rows("aime24", 4, seed=3)
    Path(path).write_text(json.dumps(rows[0]) + "\n")  # kept, not written again
    assert aime.local_source() == path and len(aime.rows()) == 1
    # a benchmark of one's own in a style: that style's shape, 30 problems unless told
    mine = parse_benchmarks({"mine": {"source": "synthetic", "style": "choice"}})[0]
    assert mine.local_source() == str(folder / "gpqa_diamond-30-seed0.jsonl")
    assert mine.rows() == synthetic_rows("gpqa_diamond", 30)
    assert parse_benchmarks({"x": {"source": "x.jsonl"}})[0].local_source() == "x.jsonl"


def test_a_choice_question_is_shown_stripped_above_its_options(tmp_path):
    row = synthetic_rows("gpqa_diamond", 1)[0] | {"Question": "  Compute 3 + 4  \n"}
    path = write_jsonl(tmp_path / "g.jsonl", [row])
    [problem] = parse_benchmarks({"gpqa_diamond": {"source": str(path)}})[0].problems()
    assert (
        "where LETTER is one of ABCD. Think step by step before answering.\n\n"
        in (problem["question"])
    )
    assert "before answering.\n\nCompute 3 + 4\n\nA) " in problem["question"]


def test_a_code_question_opens_with_the_header_and_tolerates_missing_cells(tmp_path):
    rows = synthetic_rows("lcb", 2)
    rows[0] |= {"contest_date": None, "public_test_cases": "", "metadata": None}
    path = write_jsonl(tmp_path / "l.jsonl", rows)
    problems = parse_benchmarks({"lcb": {"source": str(path)}})[0].problems()
    assert problems[0]["question"].startswith(
        "You will be given a question (problem specification) and will generate a correct "
        f"Python program that matches the specification and passes all tests.\n\nQuestion: "
        f"{rows[0]['question_content']}\n\nRead the inputs from stdin"
    )
    cases = json.loads(problems[0]["test_cases"])  # no public tests: the private ones alone
    private = private_tests(rows[0]["private_test_cases"])
    assert len(private) == 2
    assert cases == [{"input": t["input"], "output": t["output"], "fn_name": None} for t in private]
    # a contest without a date is in no window that starts somewhere
    windowed = parse_benchmarks({"lcb": {"source": str(path), "start_date": "2024-01-01"}})[0]
    assert [p["question"] for p in windowed.problems()] == [problems[1]["question"]]


def test_the_papers_figures_are_its_tables_by_the_models_last_name():
    # DeepSeek-R1 (arXiv 2501.12948): Table 4 (R1), Table 2 (R1-Zero), Table 5 (distilled)
    assert paper_figures("deepseek-ai/DeepSeek-R1", "math_500") == {"pass@1": 97.3}
    assert paper_figures("deepseek-ai/DeepSeek-R1-Zero/", "aime24") == {
        "pass@1": 71.0,
        "cons@64": 86.7,
    }
    assert paper_figures("/models/deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", "lcb") == {
        "pass@1": 37.6
    }
    assert paper_figures("DeepSeek-R1-Distill-Llama-70B", "gpqa_diamond") == {"pass@1": 65.2}
    assert paper_figures("Qwen/Qwen2.5-7B", "aime24") == {}
    assert paper_figures("deepseek-ai/DeepSeek-R1", "aime25") == {}


@pytest.mark.parametrize(
    "section,message",
    [
        ("aime24", "benchmarks: a list of names or a mapping name -> options, got 'aime24'"),
        (
            {"aime2024": {}},
            "own needs source:, question_column: and answer_column:$",
        ),
        ({"aime24": {"kk": 4}}, r"^benchmarks\.aime24\.kk: unknown key 'kk'"),
        ({"aime24": {"template": "zero"}}, r"is not chat \(instruct and R1 models\), r1_zero or"),
        ({"aime24": {"style": "maths"}}, "is not one of math, choice, code, task$"),
        ({"aime24": {"k": True}}, r"k=True must be an integer >= 1"),
        ({"aime24": {"k": 2.5}}, r"k=2.5 must be an integer >= 1"),
    ],
)
def test_bad_settings_name_the_section_and_what_is_valid(section, message):
    with pytest.raises(RecipeError, match=message):
        parse_benchmarks(section)


def test_an_unknown_name_or_a_bad_section_lists_the_known_benchmarks():
    for section in (5, {"aime2024": {}}):
        with pytest.raises(RecipeError) as err:
            parse_benchmarks(section)
        assert "known: aime24, aime25, math_500, gpqa_diamond, lcb" in str(err.value)


def test_every_chat_and_base_model_template_is_accepted():
    for template in ("chat", "r1_zero", "r1_zero_chat"):
        assert parse_benchmarks({"aime24": {"template": template}})[0].template == template


@pytest.mark.parametrize(
    "budgets,parsed",
    [(512, [512]), ([4096, 1, 1024], [1, 1024, 4096]), ([], []), ((8, 2), [2, 8])],
)
def test_budgets_are_sorted_and_one_number_is_a_sweep_of_one(budgets, parsed):
    assert parse_benchmarks({"aime24": {"budgets": budgets}})[0].budgets == parsed


@pytest.mark.parametrize("budgets", [[0], [-8], [True], [8, 8], [2.5], ["8"], "1024", True])
def test_budgets_that_are_not_distinct_whole_numbers_are_refused(budgets):
    with pytest.raises(RecipeError) as err:
        parse_benchmarks({"aime24": {"budgets": budgets}})
    assert str(err.value) == (
        f"benchmarks.aime24.budgets={budgets!r} must be distinct whole numbers >= 1, the thinking "
        "budgets (max_think_tokens) to sample at, e.g. [1024, 2048, 4096]"
    )
