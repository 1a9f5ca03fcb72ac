"""Verified selection (rejection sampling) of teacher samples, the DeepSeek-R1 / open-r1 way.

The `generate` kind writes one row per sample (`prompt_id`, `sample`, the source columns,
`prompt`, `completion`, `finish_reason`, token counts, provenance). A recipe's `select:` section
says which samples make SFT data: the verifiers must pass (R1 kept only correct answers), R1's
filters drop mixed-language, long-paragraph and code-block chains of thought, duplicates and
truncated samples go, open-r1's pass-rate band keeps prompts of useful difficulty, and prompts
that overlap a benchmark are dropped before they can leak into training.

Every dropped sample gets exactly one reason, the first that applies in `REASONS` order, so the
counts in the report add up. Each reward is called once over all the rows it judges (batched,
as TRL and `r1lab.heldout` call it), never once per row.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from r1lab.atomic import atomic_write
from r1lab.errors import RecipeError, section_dataclass
from r1lab.recipe import RewardSpec, parse_rewards
from r1lab.selection_plot import pass_rate_histogram

if TYPE_CHECKING:
    from r1lab.check import Context, Findings

# Drop reasons, in the order they are tried; `verifier:<name>` stands for one per verifier.
REASONS = (
    "contaminated",
    "pass_rate",
    "truncated",
    "verifier",
    "mixed_language",
    "long_paragraph",
    "code_in_reasoning",
    "duplicate",
    "max_per_prompt",
)
# Columns `generate` adds to the source's; a verifier may read any of them.
GENERATED_COLUMNS = (
    "prompt_id",
    "sample",
    "prompt",
    "completion",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "teacher",
    "backend",
    "sampling",
    "recipe",
)
# Columns that describe one sample, not its prompt: left out of the per-prompt table.
PER_SAMPLE_COLUMNS = frozenset(
    {"completion", "sample", "finish_reason", "prompt_tokens", "completion_tokens", "pass_rate"}
)
# Where a benchmark file keeps its question, tried in this order (AIME, MATH-500, GPQA, ...).
QUESTION_COLUMNS = ("problem", "question", "Question", "prompt")
# Known types of the generated columns, for empty parquet files (other columns: null).
_COLUMN_TYPES = {
    "prompt_id": "int64",
    "sample": "int64",
    "completion": "string",
    "finish_reason": "string",
    "prompt_tokens": "int64",
    "completion_tokens": "int64",
    "teacher": "string",
    "backend": "string",
    "sampling": "string",
    "recipe": "string",
    "pass_rate": "double",
}


@dataclass
class SelectConfig:
    """The recipe's `select:` section. `verifiers`' weights are thresholds (`min` in the recipe)."""

    verifiers: list[RewardSpec] = field(
        default_factory=lambda: [RewardSpec("accuracy", 1.0, {"solution_column": "solution"})]
    )
    drop_truncated: bool = True
    language: str | None = None
    language_min_fraction: float = 0.95
    max_paragraph_words: int | None = None
    drop_code_in_reasoning: bool = False
    dedup: bool = True
    max_per_prompt: int | None = None
    pass_rate_above: float | None = None
    pass_rate_below: float | None = None
    decontaminate: list[str] = field(default_factory=list)
    decontaminate_column: str | None = None
    ngram: int = 8

    @classmethod
    def from_recipe(cls, section: Any, recipe: dict[str, Any] | None = None) -> SelectConfig:
        """Parse and validate `select:` (a kind's section parser: `parser(value, recipe)`)."""
        if section is None:
            section = {}
        if not isinstance(section, dict):
            raise RecipeError(
                f"select: expected a mapping of settings (e.g. {{verifiers: {{accuracy: 1.0}}, "
                f"max_per_prompt: 4}}), got {section!r}"
            )
        section = dict(section)
        verifiers = _parse_verifiers(section.pop("verifiers", {"accuracy": 1.0}), recipe)
        decontaminate = section.pop("decontaminate", None) or []
        if isinstance(decontaminate, str):
            decontaminate = [decontaminate]
        cfg = section_dataclass(
            cls, "select", {**section, "verifiers": verifiers, "decontaminate": decontaminate}
        )
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Every value in range, with the message saying what would work."""
        for name in ("drop_truncated", "drop_code_in_reasoning", "dedup"):
            if not isinstance(getattr(self, name), bool):
                raise RecipeError(
                    f"select.{name} must be true or false, got {getattr(self, name)!r}"
                )
        _check_int("ngram", self.ngram, allow_none=False)
        _check_int("max_per_prompt", self.max_per_prompt)
        _check_int("max_paragraph_words", self.max_paragraph_words)
        for name in ("language_min_fraction", "pass_rate_above", "pass_rate_below"):
            value = getattr(self, name)
            if value is None and name != "language_min_fraction":
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not 0 <= value <= 1
            ):
                raise RecipeError(f"select.{name} must be a fraction in [0, 1], got {value!r}")
        above, below = self.pass_rate_above, self.pass_rate_below
        if above is not None and below is not None and not above < below:
            raise RecipeError(
                f"select.pass_rate_above={above} must be below select.pass_rate_below={below}: a "
                "prompt is kept when above < pass rate < below, so this band keeps no prompt"
            )
        if above == 1 or below == 0:
            raise RecipeError(
                "select: the pass-rate bounds are exclusive, so pass_rate_above=1 or "
                "pass_rate_below=0 keeps no prompt; use a value inside (0, 1), or null for no bound"
            )
        if self.language is not None:
            from r1lab.rewards import get_reward

            try:
                get_reward("language", language=self.language)
            except ValueError as err:
                raise RecipeError(f"select.language: {err}") from None
        if not all(isinstance(p, str) and p for p in self.decontaminate):
            raise RecipeError(
                f"select.decontaminate must be a list of benchmark files, got {self.decontaminate!r}"
            )
        if self.decontaminate_column is not None and not isinstance(self.decontaminate_column, str):
            raise RecipeError(
                f"select.decontaminate_column must be a column name, got {self.decontaminate_column!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """As the recipe would write it (verifiers as `{name: {min, **params}}`), for the report."""
        out = asdict(self)
        out["verifiers"] = {s.name: {"min": s.weight, **s.params} for s in self.verifiers}
        return out


def _parse_verifiers(value: Any, recipe: dict[str, Any] | None) -> list[RewardSpec]:
    """`{name: min}` or `{name: {min, **params}}` as RewardSpecs whose weight is the threshold."""
    if not isinstance(value, dict):
        raise RecipeError(
            f"select.verifiers: expected a mapping of reward name to minimum score (e.g. "
            f"{{accuracy: 1.0}}), got {value!r}"
        )
    converted = {}
    for name, entry in value.items():
        params = dict(entry) if isinstance(entry, dict) else {"min": entry}
        if "weight" in params:
            raise RecipeError(
                f"select.verifiers.{name}: a verifier has a threshold, not a weight; write "
                f"{name}: {{min: {params['weight']}}}"
            )
        threshold = params.pop("min", 1.0)
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise RecipeError(
                f"select.verifiers.{name}: the minimum score must be a number (1.0 = full marks), "
                f"got {threshold!r}"
            )
        converted[name] = {"weight": threshold, **params}
    return parse_rewards(converted, recipe)


def _check_int(name: str, value: Any, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RecipeError(f"select.{name} must be a whole number >= 1, got {value!r}")


# ---- decontamination ---------------------------------------------------------------------------

_TOKEN = re.compile(r"\w+|[^\w\s]")


def tokens(text: Any) -> tuple[str, ...]:
    """Lowercased words and single symbols: "7 + 5" and "7 - 5" differ."""
    return tuple(_TOKEN.findall(str(text).lower()))


def _grams(toks: tuple[str, ...], n: int) -> Iterable[tuple[str, ...]]:
    return (toks[i : i + n] for i in range(len(toks) - n + 1))


class Decontaminator:
    """Word n-gram overlap with a set of benchmark questions, indexed once.

    A question is contaminated when it shares any n-gram of tokens with any benchmark question.
    A text shorter than n tokens is matched whole, in either direction: a short benchmark
    question contaminates every question that contains its full token sequence contiguously,
    and a short question is contaminated when its full token sequence occurs in a benchmark
    question. So short questions ("What is 2+3?") are not silently exempt. A text with no
    tokens at all matches nothing.
    """

    def __init__(self, questions: Iterable[Any], n: int = 8) -> None:
        self.n = n
        self._texts: list[tuple[str, ...]] = []
        self._long: set[tuple[str, ...]] = set()
        self._short: dict[int, set[tuple[str, ...]]] = {}  # benchmark texts shorter than n
        self._by_length: dict[int, set[tuple[str, ...]]] = {}  # k-grams, built when first needed
        for question in questions:
            if question is None:
                continue
            toks = tokens(question)
            if not toks:
                continue
            self._texts.append(toks)
            if len(toks) < n:
                self._short.setdefault(len(toks), set()).add(toks)
            else:
                self._long.update(_grams(toks, n))

    def __len__(self) -> int:
        return len(self._texts)

    def _kgrams(self, k: int) -> set[tuple[str, ...]]:
        if k not in self._by_length:
            self._by_length[k] = {g for toks in self._texts for g in _grams(toks, k)}
        return self._by_length[k]

    def contaminated(self, text: Any) -> bool:
        toks = tokens(text)
        if not toks:
            return False
        if len(toks) < self.n:
            if toks in self._kgrams(len(toks)):
                return True
        elif any(g in self._long for g in _grams(toks, self.n)):
            return True
        return any(any(g in shorts for g in _grams(toks, k)) for k, shorts in self._short.items())


def benchmark_questions(path: str, column: str | None = None) -> list[Any]:
    """The question texts of one benchmark file (.jsonl/.json/.parquet/.csv), by `column` or
    the first of `QUESTION_COLUMNS` it has; a RecipeError naming its columns otherwise."""
    import datasets

    from r1lab.data import FILE_BUILDERS

    file = Path(path).expanduser()
    if file.suffix not in FILE_BUILDERS:
        raise RecipeError(
            f"select.decontaminate: '{path}' is not a {'/'.join(FILE_BUILDERS)} file of "
            "benchmark questions"
        )
    if not file.is_file():
        raise RecipeError(f"select.decontaminate: no file at '{path}'")
    ds = datasets.load_dataset(FILE_BUILDERS[file.suffix], data_files=str(file), split="train")
    name = column or next((c for c in QUESTION_COLUMNS if c in ds.column_names), None)
    if name is None or name not in ds.column_names:
        wanted = f"column '{column}'" if column else f"any of the columns {list(QUESTION_COLUMNS)}"
        raise RecipeError(
            f"select.decontaminate: {path} has no {wanted} (its columns: {ds.column_names}); "
            "set select.decontaminate_column to the column holding the question text"
        )
    return list(ds[name])


def load_decontaminator(cfg: SelectConfig) -> Decontaminator:
    """Every benchmark question of `cfg.decontaminate`, indexed once."""
    questions: list[Any] = []
    for path in cfg.decontaminate:
        questions += benchmark_questions(path, cfg.decontaminate_column)
    return Decontaminator(questions, cfg.ngram)


# ---- selection ---------------------------------------------------------------------------------


@dataclass
class Selection:
    """The kept samples, the per-prompt table (prompts that pass the prompt-level filters, for
    GRPO prompt picking), and the report; all from one pass over the rows."""

    kept: list[dict[str, Any]]
    prompts: list[dict[str, Any]]
    report: dict[str, Any]


def select(
    rows: list[dict[str, Any]], cfg: SelectConfig, question_column: str = "question"
) -> Selection:
    """Apply `cfg` to one-sample-per-row `rows` (see the module docstring)."""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    for needed in ("prompt_id", "sample", "completion"):
        if rows and needed not in columns:
            raise RecipeError(
                f"select: the samples have no '{needed}' column (columns: {columns}); select "
                "reads the output of a generate recipe (one row per sample)"
            )
    groups: dict[Any, list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(row["prompt_id"], []).append(i)
    texts = [str(row.get("completion") or "") for row in rows]
    reasons: list[str | None] = [None] * len(rows)

    def alive() -> list[int]:
        return [i for i, reason in enumerate(reasons) if reason is None]

    def drop(indices: Iterable[int], reason: str) -> None:
        for i in indices:
            if reasons[i] is None:
                reasons[i] = reason

    # Prompt level: contamination, then the pass-rate band (pass rate over ALL samples).
    contaminated = _contaminated_prompts(rows, groups, cfg, question_column)
    passed, failing = _verify(rows, texts, columns, cfg.verifiers)
    rates = {pid: sum(passed[i] for i in idx) / len(idx) for pid, idx in groups.items()}
    outside = {pid for pid, rate in rates.items() if not _in_band(rate, cfg)}
    for pid, idx in groups.items():
        if pid in contaminated:
            drop(idx, "contaminated")
        elif pid in outside:
            drop(idx, "pass_rate")

    # Sample level, in REASONS order.
    if cfg.drop_truncated:
        drop((i for i in alive() if rows[i].get("finish_reason") == "length"), "truncated")
    for i in alive():
        if failing[i] is not None:
            reasons[i] = f"verifier:{failing[i]}"
    if cfg.language is not None:
        drop(_mixed_language(alive(), texts, cfg), "mixed_language")
    if cfg.max_paragraph_words is not None:
        limit = cfg.max_paragraph_words
        drop((i for i in alive() if longest_paragraph(texts[i]) > limit), "long_paragraph")
    if cfg.drop_code_in_reasoning:
        drop((i for i in alive() if has_code(texts[i])), "code_in_reasoning")
    if cfg.dedup:
        drop(_duplicates(alive(), rows, texts), "duplicate")
    if cfg.max_per_prompt is not None:
        drop(_over_limit(alive(), rows, cfg.max_per_prompt), "max_per_prompt")

    kept = [{**rows[i], "pass_rate": rates[rows[i]["prompt_id"]]} for i in alive()]
    gone = contaminated | outside
    survivors = {pid: rate for pid, rate in rates.items() if pid not in gone}
    prompts = prompt_table(rows, survivors)
    report = _report(rows, kept, prompts, reasons, rates, cfg, columns, question_column)
    report["prompts_dropped"] = {
        "contaminated": len(contaminated),
        "pass_rate": len(outside - contaminated),
    }
    return Selection(kept, prompts, report)


def select_rows(
    rows: list[dict[str, Any]], cfg: SelectConfig, question_column: str = "question"
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(kept samples with their prompt's `pass_rate`, report); `select` also gives the prompts."""
    selection = select(rows, cfg, question_column)
    return selection.kept, selection.report


def prompt_table(rows: list[dict[str, Any]], pass_rates: dict[Any, float]) -> list[dict[str, Any]]:
    """One row per prompt in `pass_rates` (first sample's source columns) with its `pass_rate`."""
    out: dict[Any, dict[str, Any]] = {}
    for row in rows:
        pid = row["prompt_id"]
        if pid in pass_rates and pid not in out:
            source = {k: v for k, v in row.items() if k not in PER_SAMPLE_COLUMNS}
            out[pid] = {**source, "pass_rate": pass_rates[pid]}
    return list(out.values())


def _in_band(rate: float, cfg: SelectConfig) -> bool:
    above, below = cfg.pass_rate_above, cfg.pass_rate_below
    return (above is None or rate > above) and (below is None or rate < below)


def _contaminated_prompts(
    rows: list[dict[str, Any]], groups: dict[Any, list[int]], cfg: SelectConfig, column: str
) -> set[Any]:
    if not cfg.decontaminate or not rows:
        return set()
    if column not in rows[0]:
        raise RecipeError(
            f"select.decontaminate: the samples have no question column '{column}' (columns: "
            f"{list(rows[0])}); set data.question_column to the column with the question text"
        )
    index = load_decontaminator(cfg)
    return {pid for pid, idx in groups.items() if index.contaminated(rows[idx[0]][column])}


def _verify(
    rows: list[dict[str, Any]], texts: list[str], columns: list[str], specs: list[RewardSpec]
) -> tuple[list[bool], list[str | None]]:
    """(passes every verifier, name of the first failing one) per row; one call per verifier."""
    from r1lab.rewards import get_reward

    first_failure: list[str | None] = [None] * len(rows)
    if not rows:
        return [], []
    # TRL's convention: every dataset column but the prompt and completion, as keyword arguments.
    extra = {c: [row.get(c) for row in rows] for c in columns if c not in ("prompt", "completion")}
    prompts = [row.get("prompt", "") for row in rows]
    for spec in specs:
        reward = get_reward(spec.name, **spec.params)
        scores = reward(prompts=prompts, completions=texts, **extra)
        for i, score in enumerate(scores):
            if first_failure[i] is None and not _meets(score, spec.weight):
                first_failure[i] = spec.name
    return [f is None for f in first_failure], first_failure


def _meets(score: float | None, threshold: float) -> bool:
    """A score at or above the threshold; None (not judgeable) never passes."""
    return score is not None and score >= threshold


def _mixed_language(indices: list[int], texts: list[str], cfg: SelectConfig) -> list[int]:
    """Samples whose chain of thought has too few words in `cfg.language` (the registry's
    `language` reward, one call). A chain of thought with no words (only numbers and symbols)
    mixes no language and is kept."""
    from r1lab.rewards import get_reward
    from r1lab.rewards.answers import thinking
    from r1lab.rewards.text import words

    worded = [i for i in indices if words(thinking(texts[i]))]
    if not worded:
        return []
    reward = get_reward("language", language=cfg.language)
    scores = reward(prompts=[""] * len(worded), completions=[texts[i] for i in worded])
    return [
        i
        for i, score in zip(worded, scores, strict=True)
        if not _meets(score, cfg.language_min_fraction)
    ]


def longest_paragraph(text: str) -> int:
    """Words in the longest paragraph (split on blank lines) of the chain of thought, counted
    as the language reward counts them: runs of letters, each Han/Kana character one word."""
    from r1lab.rewards.answers import thinking
    from r1lab.rewards.text import words

    paragraphs = re.split(r"\n\s*\n", thinking(text))
    return max((len(words(p)) for p in paragraphs), default=0)


def has_code(text: str) -> bool:
    """Whether the chain of thought holds a fenced code block (code after it is fine)."""
    from r1lab.rewards.answers import thinking

    return "```" in thinking(text)


def _duplicates(indices: list[int], rows: list[dict[str, Any]], texts: list[str]) -> list[int]:
    """Every copy of a completion already seen for the same prompt at a lower `sample`."""
    seen: set[tuple[Any, str]] = set()
    out = []
    for i in sorted(indices, key=lambda i: (rows[i]["sample"], i)):
        key = (rows[i]["prompt_id"], texts[i])
        if key in seen:
            out.append(i)
        seen.add(key)
    return out


def _over_limit(indices: list[int], rows: list[dict[str, Any]], limit: int) -> list[int]:
    """Samples past the first `limit` (lowest `sample` first) of their prompt."""
    count: dict[Any, int] = {}
    out = []
    for i in sorted(indices, key=lambda i: (rows[i]["sample"], i)):
        pid = rows[i]["prompt_id"]
        count[pid] = count.get(pid, 0) + 1
        if count[pid] > limit:
            out.append(i)
    return out


def _tokens(rows: Iterable[dict[str, Any]]) -> dict[str, int]:
    rows = list(rows)
    return {
        "prompt": sum(int(r.get("prompt_tokens") or 0) for r in rows),
        "completion": sum(int(r.get("completion_tokens") or 0) for r in rows),
    }


def _report(
    rows: list[dict[str, Any]],
    kept: list[dict[str, Any]],
    prompts: list[dict[str, Any]],
    reasons: list[str | None],
    rates: dict[Any, float],
    cfg: SelectConfig,
    columns: list[str],
    question_column: str,
) -> dict[str, Any]:
    dropped: dict[str, int] = {}
    for reason in reasons:
        if reason is not None:
            dropped[reason] = dropped.get(reason, 0) + 1
    order = {r: n for n, r in enumerate(REASONS)}
    dropped = dict(sorted(dropped.items(), key=lambda kv: (order[kv[0].split(":")[0]], kv[0])))
    prompt_columns = [c for c in columns if c not in PER_SAMPLE_COLUMNS] + ["pass_rate"]
    return {
        "samples": len(rows),
        "kept": len(kept),
        "empty": not kept,
        "prompts": len(rates),
        "prompts_kept": len({r["prompt_id"] for r in kept}),
        "prompts_selected": len(prompts),
        "dropped": dropped,
        "pass_rates": list(rates.values()),
        "tokens": _tokens(rows),
        "kept_tokens": _tokens(kept),
        "columns": {"selected": [*columns, "pass_rate"], "prompts": prompt_columns},
        "question_column": question_column,
        "config": cfg.to_dict(),
    }


# ---- output ------------------------------------------------------------------------------------


def write_selection(
    out_dir: Path, kept: list[dict[str, Any]], prompts: list[dict[str, Any]], report: dict[str, Any]
) -> None:
    """selected.parquet (a `kind: sft` recipe's `data.source`), prompts.parquet, selection.json
    and pass_rate.png in `out_dir`, each written atomically. Empty tables keep their columns."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    columns = report.get("columns", {})
    _write_parquet(out_dir / "selected.parquet", kept, columns.get("selected", []))
    _write_parquet(out_dir / "prompts.parquet", prompts, columns.get("prompts", []))
    text = json.dumps(report, indent=2, default=str)
    atomic_write(out_dir / "selection.json", lambda tmp: Path(tmp).write_text(text))
    atomic_write(out_dir / "pass_rate.png", lambda tmp: pass_rate_histogram(report, tmp))


def _write_parquet(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Rows as parquet. With no rows the schema comes from `columns`: the generated columns'
    known types, null for the rest. (`datasets.load_dataset` refuses any parquet file of no
    rows; pyarrow and `datasets.Dataset(pyarrow.parquet.read_table(path))` read it.)"""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if rows:
        table = pa.Table.from_pylist(rows)
    else:
        types = {c: pa.type_for_alias(t) for c, t in _COLUMN_TYPES.items()}
        table = pa.schema([(c, types.get(c, pa.null())) for c in columns]).empty_table()
    atomic_write(path, lambda tmp: pq.write_table(table, tmp))


def summary_text(report: dict[str, Any]) -> str:
    """A few lines for the terminal: what was kept, why the rest was dropped, tokens."""
    samples, kept = report["samples"], report["kept"]
    share = f" ({kept / samples:.1%})" if samples else ""
    lines = [
        f"selected {kept}/{samples} samples{share} from "
        f"{report['prompts_kept']}/{report['prompts']} prompts"
    ]
    if not kept:
        lines.append("  nothing was kept: the dropped counts below say which filter to loosen")
    for reason, count in report["dropped"].items():
        lines.append(f"  dropped {reason:<24} {count}")
    tokens, kept_tokens = report["tokens"], report["kept_tokens"]
    lines.append(
        f"  tokens: prompt {tokens['prompt']:,}, completion {tokens['completion']:,} "
        f"(kept: completion {kept_tokens['completion']:,})"
    )
    generation = report.get("generation") or {}
    if generation.get("tokens_per_second"):
        lines.append(
            f"  generation: {generation['generation_seconds']:.0f} s, "
            f"{generation['tokens_per_second']:,.0f} completion tokens/s"
        )
    return "\n".join(lines)


# ---- check -------------------------------------------------------------------------------------


def _select_config(ctx: Context) -> SelectConfig:
    return ctx.recipe.parsed.get("select") or SelectConfig.from_recipe(
        {}, {"data": ctx.recipe.data}
    )


def _buildable(cfg: SelectConfig) -> tuple[list[RewardSpec], list[str]]:
    """The verifiers that build with their parameters, and a message for each that does not."""
    from r1lab.rewards import get_reward

    built, failures = [], []
    for spec in cfg.verifiers:
        try:
            get_reward(spec.name, **spec.params)
            built.append(spec)
        except ValueError as err:
            failures.append(f"select.verifiers.{spec.name}: {err}")
    return built, failures


def check_select(ctx: Context) -> Findings:
    """The `select:` section before any sample is generated: verifiers build, one of them checks
    answers, and the benchmark files load (the columns: `check_select_columns`)."""
    from r1lab.check import error, ok, warning
    from r1lab.rewards import is_verifier, verifier_names

    cfg = _select_config(ctx)
    built, failures = _buildable(cfg)
    for message in failures:
        yield error(message)
    names = [s.name for s in cfg.verifiers]
    if not any(is_verifier(s.name) for s in built) and len(built) == len(names):
        yield warning(
            f"select.verifiers ({', '.join(names) or 'none'}): none of them judges the answer, so "
            f"nothing checks the answers and wrong samples are kept; add one of "
            f"{', '.join(verifier_names())}, e.g. +select.verifiers.accuracy=1.0"
        )
    elif built and len(built) == len(names):
        yield ok("select.verifiers: " + ", ".join(f"{s.name} >= {s.weight}" for s in built))

    for path in cfg.decontaminate:
        try:
            count = len(benchmark_questions(path, cfg.decontaminate_column))
        except RecipeError as err:
            yield error(str(err))
            continue
        yield ok(f"select.decontaminate: {path} ({count} questions)")


def check_select_columns(ctx: Context) -> Findings:
    """The data has the columns the verifiers read (and the question column, to decontaminate).
    A column check: rerun on a Hub dataset as soon as it loads, before any sample is generated."""
    from r1lab.check import ANSWER_COLUMNS, error, skipped
    from r1lab.rewards import required_columns

    cfg = _select_config(ctx)
    built, _ = _buildable(cfg)  # the failures are check_select's to report
    columns = ctx.raw_columns
    if columns is None:
        yield skipped(
            f"select columns: the columns of '{ctx.data.source}' are not known yet; checked once loaded"
        )
    else:
        available = set(columns) | set(GENERATED_COLUMNS)
        for spec in built:
            missing = sorted(required_columns(spec.name, **spec.params) - available)
            if missing:
                likely = [c for c in columns if c in ANSWER_COLUMNS]
                fix = (
                    f"set data.solution_column={likely[0]}"
                    if likely and spec.params.get("solution_column") in missing
                    else f"set select.verifiers.{spec.name}'s column parameters to existing columns"
                )
                yield error(
                    f"select.verifiers.{spec.name} needs column(s) {missing}, which "
                    f"{ctx.data.source} does not have (columns: {columns}); {fix}"
                )
        if cfg.decontaminate and ctx.data.question_column not in columns:
            yield error(
                f"select.decontaminate compares the question column '{ctx.data.question_column}', "
                f"which {ctx.data.source} does not have (columns: {columns}); set "
                "data.question_column"
            )
