"""What a selection writes: selected.parquet (an SFT recipe's data.source), prompts.parquet,
selection.json and pass_rate.png, atomically; and its summary for the terminal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from r1lab.atomic import atomic_write
from r1lab.selection.config import COLUMN_TYPES
from r1lab.selection.plot import pass_rate_histogram


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
        types = {c: pa.type_for_alias(t) for c, t in COLUMN_TYPES.items()}
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
