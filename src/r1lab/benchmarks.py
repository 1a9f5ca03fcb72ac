"""The benchmarks R1 is reported on, as data: where each lives, how it is asked, how it is graded.

A benchmark is a `Benchmark` (its Hub dataset and columns, samples per problem) of a `Style`
(its prompt, its verifier, how an answer is read for majority voting):

    math    R1's prompt "{problem}\\nPlease reason step by step, and put your final answer
            within \\boxed{}.", graded by the `accuracy` reward (math-verify) against the answer
            column; maj@k (the paper's cons@k) pools mathematically equal answers
    choice  GPQA: the four options shuffled by a seeded permutation per row (simple-evals'
            `random.Random(seed).sample(range(4), 4)`, seed 0 as DeepSeek's harness), the
            simple-evals prompt, graded by the `choice` reward on the letter
    code    LiveCodeBench: lighteval's prompt (starter code or stdin format), public + private
            tests graded by the `code` reward's sandbox; solved only when every test passes
    task    a training recipe's held-out split (`data:`, r1lab.heldout): its question as the
            recipe's template asks it, graded by the recipe's verifier on the split's columns

A recipe's `benchmarks:` section names them and overrides any field (`source:` a local file in
the Hub dataset's shape, `num_problems:`, `k:`); a name that is not registered is a dataset of
the math style with a question and an answer column (`source`, `question_column`,
`answer_column`). The sample counts are the DeepSeek-R1 Nature paper's: 64 for AIME and GPQA, 16
for MATH-500, 8 for LiveCodeBench.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import pickle
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from r1lab.errors import RecipeError, closest, section_dataclass
from r1lab.generation.shards import samples_schema
from r1lab.metrics import SameAnswers, exact_same, math_same
from r1lab.prompts import format_prompt
from r1lab.rewards.answers import extract_answer
from r1lab.rewards.code_exec import last_python_block

MATH_PROMPT = "{problem}\nPlease reason step by step, and put your final answer within \\boxed{{}}."
CHOICE_PROMPT = (
    "Answer the following multiple choice question. The last line of your response should be of "
    "the following format: 'Answer: $LETTER' (without quotes) where LETTER is one of ABCD. Think "
    "step by step before answering.\n\n{question}\n\nA) {A}\nB) {B}\nC) {C}\nD) {D}"
)
CODE_HEADER = (
    "You will be given a question (problem specification) and will generate a correct Python "
    "program that matches the specification and passes all tests.\n\n"
)
CODE_STARTER = (
    "You will use the following starter code to write the solution to the problem and enclose "
    "your code within delimiters.\n```python\n{starter}\n```\n\n"
)
CODE_STDIN = (
    "Read the inputs from stdin solve the problem and write the answer to stdout (do not directly "
    "test on the sample inputs). Enclose your code within delimiters as follows. Ensure that when "
    "the python program runs, it reads the inputs, runs the algorithm and writes output to "
    "STDOUT.\n```python\n# YOUR CODE HERE\n```\n\n"
)
INCORRECT = ("Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3")


@dataclass
class Benchmark:
    """One benchmark as a recipe sees it; every field can be overridden in `benchmarks.<name>:`."""

    name: str = ""
    style: str = "math"  # math | choice | code (STYLES)
    source: str = ""  # Hub id, or a local file / folder in the Hub dataset's shape
    subset: str | None = None
    split: str = "test"
    question_column: str = "problem"
    answer_column: str = "answer"  # math: the reference; choice: the correct option's text
    k: int = 16  # samples per problem
    template: str = "chat"  # chat: the user turn of the model's chat template; r1_zero: base models
    num_problems: int | None = None  # the first n problems (a smoke test); None: all
    seed: int = 0  # choice: the option shuffle
    start_date: str | None = None  # code: contest_date window (ISO dates, inclusive)
    end_date: str | None = None
    # task: a training recipe's `data:` section, whose `split` (test, validation) is the problems
    data: dict[str, Any] | None = None
    verifier: str | None = None  # the reward that grades it (None: the style's)
    verifier_params: dict[str, Any] = field(default_factory=dict)
    greedy: bool = False  # also one greedy sample per problem, reported as `greedy`
    # a budget sweep: k more samples per problem at each of these caps on the thinking (s1's
    # max_think_tokens, r1lab.generation.budget), reported as accuracy against the budget
    budgets: list[int] = field(default_factory=list)

    def problems(self) -> list[dict[str, Any]]:
        """The rows as the model sees them: `question` (the user turn) and the graded columns."""
        rows = self.rows()
        style = STYLES[self.style]
        missing = [c for c in style.columns(self) if rows and c not in rows[0]]
        if missing:
            raise RecipeError(
                f"benchmarks.{self.name}: {self.source} has no column(s) {missing} (columns: "
                f"{sorted(rows[0])}); set benchmarks.{self.name}.question_column / answer_column"
            )
        problems = style.prepare(rows, self)
        if self.num_problems is not None:
            problems = problems[: self.num_problems]
        if not problems:
            raise RecipeError(f"benchmarks.{self.name}: {self.source} has no problems")
        return [{"prompt_id": i, **p} for i, p in enumerate(problems)]

    def rows(self) -> list[dict[str, Any]]:
        """The source's rows: a table, or a training recipe's held-out split."""
        from r1lab.data import DataConfig, load_raw, load_table

        if self.data is not None:
            return load_raw(DataConfig.from_recipe(self.data), self.split).to_list()
        return load_table(self.local_source(), self.subset, self.split).to_list()

    def reward(self) -> tuple[str, dict[str, Any]]:
        """The verifier that grades a sample (full marks: solved), with its parameters."""
        if self.verifier is not None:
            return self.verifier, dict(self.verifier_params)
        style = STYLES[self.style]
        return style.reward, dict(style.reward_params)

    def local_source(self) -> str:
        """`source`, or for `synthetic` a file of arithmetic problems in this benchmark's shape."""
        if self.source != "synthetic":
            return self.source
        from r1lab.benchmark_files import write_synthetic
        from r1lab.paths import cache_dir

        shape = self.name if self.name in BENCHMARKS else SYNTHETIC_SHAPES[self.style]
        n = self.num_problems or 30
        path = cache_dir() / "benchmarks" / f"{shape}-{n}-seed{self.seed}.jsonl"
        return str(path if path.exists() else write_synthetic(shape, path, n, self.seed))


SYNTHETIC_SHAPES = {"math": "math_500", "choice": "gpqa_diamond", "code": "lcb"}


@dataclass(frozen=True)
class Style:
    """How a kind of benchmark is asked and graded."""

    prepare: Callable[[list[dict[str, Any]], Benchmark], list[dict[str, Any]]]
    columns: Callable[[Benchmark], list[str]]  # the source columns `prepare` reads
    reward: str
    reward_params: dict[str, Any]
    answer: Callable[[str], str | None]  # the answer a completion gives (None: it gives none)
    same: SameAnswers | None  # None: no majority vote (a program is no answer to pool)


def prepare_math(rows: list[dict[str, Any]], b: Benchmark) -> list[dict[str, Any]]:
    return [
        {
            "question": MATH_PROMPT.format(problem=str(r[b.question_column]).strip()),
            "answer": str(r[b.answer_column]),
        }
        for r in rows
    ]


def prepare_choice(rows: list[dict[str, Any]], b: Benchmark) -> list[dict[str, Any]]:
    """simple-evals' shuffle: one `Random(seed)`, a permutation of [correct, 3 wrong] per row."""
    rng = random.Random(b.seed)
    out = []
    for r in rows:
        options = [r[b.answer_column], *(r[c] for c in INCORRECT)]
        order = rng.sample(range(4), 4)
        shown = [str(options[i]).strip() for i in order]
        question = CHOICE_PROMPT.format(
            question=str(r[b.question_column]).strip(), **dict(zip("ABCD", shown, strict=True))
        )
        out.append({"question": question, "answer": "ABCD"[order.index(0)]})
    return out


def prepare_code(rows: list[dict[str, Any]], b: Benchmark) -> list[dict[str, Any]]:
    """lighteval's LiveCodeBench prompt; public then private tests, each with its function name."""
    out = []
    for r in rows:
        date = str(r.get("contest_date") or "")[:10]
        if (b.start_date and date < b.start_date) or (b.end_date and date > b.end_date):
            continue
        starter = r.get("starter_code") or ""
        question = CODE_HEADER + f"Question: {r[b.question_column]}\n\n"
        question += CODE_STARTER.format(starter=starter) if starter else CODE_STDIN
        fn_name = json.loads(r.get("metadata") or "{}").get("func_name")
        tests = json.loads(r["public_test_cases"] or "[]") + private_tests(r["private_test_cases"])
        cases = [{"input": t["input"], "output": t["output"], "fn_name": fn_name} for t in tests]
        out.append({"question": question, "test_cases": json.dumps(cases)})
    return out


def prepare_task(rows: list[dict[str, Any]], b: Benchmark) -> list[dict[str, Any]]:
    """Every column kept (the verifier reads them, as TRL hands them to a reward); the question
    column becomes `question`, which the recipe's template turns into the prompt."""
    return [
        {**{k: v for k, v in r.items() if k != b.question_column}, "question": r[b.question_column]}
        for r in rows
    ]


def choice_answer(text: str) -> str | None:
    from r1lab.rewards.choice import extract_choice

    return extract_choice(text)


class _StringsOnly(pickle.Unpickler):
    """The private tests are a pickled JSON string: refuse anything that would import code."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"unexpected object {module}.{name} in private_test_cases")


def private_tests(cell: str | None) -> list[dict[str, Any]]:
    """LiveCodeBench's private tests: JSON text, or base64(zlib(pickle(JSON text)))."""
    if not cell:
        return []
    try:
        return json.loads(cell)
    except ValueError:
        raw = zlib.decompress(base64.b64decode(cell))
        return json.loads(_StringsOnly(io.BytesIO(raw)).load())


STYLES: dict[str, Style] = {
    "math": Style(
        prepare_math,
        lambda b: [b.question_column, b.answer_column],
        "accuracy",
        {"solution_column": "answer"},
        extract_answer,
        math_same,
    ),
    "choice": Style(
        prepare_choice,
        lambda b: [b.question_column, b.answer_column, *INCORRECT],
        "choice",
        {"answer_column": "answer"},
        choice_answer,
        exact_same,
    ),
    "code": Style(
        prepare_code,
        lambda b: [b.question_column, "public_test_cases", "private_test_cases"],
        "code",
        {"test_cases_column": "test_cases"},
        last_python_block,
        None,
    ),
    "task": Style(
        prepare_task,
        lambda b: [b.question_column],
        "accuracy",
        {"solution_column": "solution"},
        extract_answer,
        math_same,
    ),
}

BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark("aime24", "math", "HuggingFaceH4/aime_2024", split="train", k=64),
        Benchmark("aime25", "math", "yentinglin/aime_2025", split="train", k=64),
        Benchmark("math_500", "math", "HuggingFaceH4/MATH-500", split="test", k=16),
        Benchmark(
            "gpqa_diamond",
            "choice",
            "Idavidrein/gpqa",
            subset="gpqa_diamond",
            split="train",
            question_column="Question",
            answer_column="Correct Answer",
            k=64,
        ),
        # lighteval's window (config v4_v5, ~268 problems); R1's own is 2024-08-01..2025-01-31
        Benchmark(
            "lcb",
            "code",
            "lighteval/code_generation_lite",
            subset="v4_v5",
            split="test",
            question_column="question_content",
            answer_column="",
            k=8,
        ),
    )
}

# DeepSeek-R1 (arXiv 2501.12948, Tables 2, 4 and 5): pass@1 at T 0.6, top-p 0.95, 32,768 tokens
# (and AIME 2024 cons@64), by the model's Hub name.
PAPER: dict[str, dict[str, dict[str, float]]] = {
    "DeepSeek-R1-Zero": {
        "aime24": {"pass@1": 71.0, "cons@64": 86.7},
        "math_500": {"pass@1": 95.9},
        "gpqa_diamond": {"pass@1": 73.3},
        "lcb": {"pass@1": 50.0},
    },
    "DeepSeek-R1": {
        "aime24": {"pass@1": 79.8},
        "math_500": {"pass@1": 97.3},
        "gpqa_diamond": {"pass@1": 71.5},
        "lcb": {"pass@1": 65.9},
    },
    **{
        f"DeepSeek-R1-Distill-{name}": {
            "aime24": {"pass@1": aime, "cons@64": cons},
            "math_500": {"pass@1": math500},
            "gpqa_diamond": {"pass@1": gpqa},
            "lcb": {"pass@1": lcb},
        }
        for name, aime, cons, math500, gpqa, lcb in (
            ("Qwen-1.5B", 28.9, 52.7, 83.9, 33.8, 16.9),
            ("Qwen-7B", 55.5, 83.3, 92.8, 49.1, 37.6),
            ("Qwen-14B", 69.7, 80.0, 93.9, 59.1, 53.1),
            ("Qwen-32B", 72.6, 83.3, 94.3, 62.1, 57.2),
            ("Llama-8B", 50.4, 80.0, 89.1, 49.0, 39.6),
            ("Llama-70B", 70.0, 86.7, 94.5, 65.2, 57.5),
        )
    },
}


def prompts_of(problems: list[dict[str, Any]], template: str) -> tuple[list[dict[str, Any]], Any]:
    """How problems are asked: their generation rows (prompt_id, prompt in `template`) and the
    arrow schema of their shards."""
    from datasets import Dataset

    rows = [
        {"prompt_id": p["prompt_id"], "prompt": format_prompt(p["question"], template)}
        for p in problems
    ]
    source = Dataset.from_list([{"prompt": r["prompt"]} for r in rows]).features.arrow_schema
    return rows, samples_schema(source)


def paper_figures(model: str, benchmark: str) -> dict[str, float]:
    """The paper's figures for a model (matched by its Hub name's last part), else {}."""
    return PAPER.get(model.rstrip("/").rsplit("/", 1)[-1], {}).get(benchmark, {})


def parse_benchmarks(section: Any, recipe: dict[str, Any] | None = None) -> list[Benchmark]:
    """The recipe's `benchmarks:` ({name: {field: value}} or a list of names) as Benchmarks."""
    if isinstance(section, (list, tuple)):
        section = {name: {} for name in section}
    if not isinstance(section, dict):
        raise RecipeError(
            f"benchmarks: a list of names or a mapping name -> options, got {section!r}; known: "
            f"{', '.join(BENCHMARKS)}"
        )
    out = []
    for name, options in section.items():
        options = dict(options or {})
        base = BENCHMARKS.get(name)
        if base is None and "source" not in options and "data" not in options:
            raise RecipeError(
                f"benchmarks.{name}: not a known benchmark{closest(name, BENCHMARKS)} (known: "
                f"{', '.join(BENCHMARKS)}); a dataset of your own needs source:, question_column: "
                "and answer_column:"
            )
        fields = dataclasses.asdict(base) if base else {"split": "train"}
        bench = section_dataclass(
            Benchmark, f"benchmarks.{name}", {**fields, **options, "name": name}
        )
        if bench.template not in ("chat", "r1_zero", "r1_zero_chat"):
            raise RecipeError(
                f"benchmarks.{name}.template: '{bench.template}' is not chat (instruct and R1 "
                "models), r1_zero or r1_zero_chat (base models)"
            )
        if bench.style not in STYLES:
            raise RecipeError(
                f"benchmarks.{name}.style: '{bench.style}'{closest(bench.style, STYLES)} is not one "
                f"of {', '.join(STYLES)}"
            )
        if isinstance(bench.k, bool) or not isinstance(bench.k, int) or bench.k < 1:
            raise RecipeError(f"benchmarks.{name}.k={bench.k!r} must be an integer >= 1")
        budgets = bench.budgets  # one number: a sweep of one
        if isinstance(budgets, int) and not isinstance(budgets, bool):
            budgets = [budgets]
        if (
            not isinstance(budgets, (list, tuple))
            or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in budgets)
            or len(set(budgets)) != len(budgets)
        ):
            raise RecipeError(
                f"benchmarks.{name}.budgets={budgets!r} must be distinct whole numbers >= 1, the "
                "thinking budgets (max_think_tokens) to sample at, e.g. [1024, 2048, 4096]"
            )
        bench.budgets = sorted(budgets)
        out.append(bench)
    return out
