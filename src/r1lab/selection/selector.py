"""One pass over the samples: every dropped sample gets exactly one reason, the first that applies
in `REASONS` order, so the counts in the report add up. Each reward is called once over all the
rows it judges (batched, as TRL calls it), never once per row."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from r1lab.errors import RecipeError
from r1lab.selection.config import PER_SAMPLE_COLUMNS, REASONS, SelectConfig
from r1lab.selection.decontamination import load_decontaminator
from r1lab.selection.filters import (
    duplicates,
    has_code,
    in_band,
    longest_paragraph,
    mixed_language,
    over_limit,
    verify,
)


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
    contaminated = contaminated_prompts(rows, groups, cfg, question_column)
    passed, failing = verify(rows, texts, columns, cfg.verifiers)
    rates = {pid: sum(passed[i] for i in idx) / len(idx) for pid, idx in groups.items()}
    outside = {pid for pid, rate in rates.items() if not in_band(rate, cfg)}
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
        drop(mixed_language(alive(), texts, cfg), "mixed_language")
    if cfg.max_paragraph_words is not None:
        limit = cfg.max_paragraph_words
        drop((i for i in alive() if longest_paragraph(texts[i]) > limit), "long_paragraph")
    if cfg.drop_code_in_reasoning:
        drop((i for i in alive() if has_code(texts[i])), "code_in_reasoning")
    if cfg.dedup:
        drop(duplicates(alive(), rows, texts), "duplicate")
    if cfg.max_per_prompt is not None:
        drop(over_limit(alive(), rows, cfg.max_per_prompt), "max_per_prompt")

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


def contaminated_prompts(
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
