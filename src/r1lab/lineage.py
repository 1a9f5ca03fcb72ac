"""Lineage: what made an output, so that "which traces trained this model" has an answer.

Every kind writes `lineage.json` into its output dir when it finishes: the recipe (name,
overrides, kind), the pipeline stage that ran it (if any), its inputs (the model it started from
or sampled, the dataset it read), the r1lab version and git commit. An input that is itself an
r1lab output carries that output's lineage inside it, copied when this one was written, so the
whole chain survives a moved or deleted parent. `r1lab show <output dir>` prints it.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from r1lab.recipe import Recipe

FILE = "lineage.json"
PIPELINE_ENV, STAGE_ENV = "R1LAB_PIPELINE", "R1LAB_STAGE"  # set by `r1lab pipeline` per stage


def git_commit() -> str | None:
    """This checkout's commit, `+dirty` when it has uncommitted changes; None outside git."""
    from r1lab.paths import REPO_ROOT

    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(
                ["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if not commit:
        return None
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return commit + ("+dirty" if dirty else "")


def find(ref: str) -> Path | None:
    """The lineage.json of the r1lab output holding `ref` (the dir itself, or a dir above a file
    such as selected.parquet); None when `ref` is no r1lab output (a Hub id, a task)."""
    path = Path(ref).expanduser()
    if not path.exists():
        return None
    for folder in [path, *path.resolve().parents][:3]:
        if (folder / FILE).is_file():
            return folder / FILE
    return None


def describe(ref: str) -> dict[str, Any]:
    """One input: as written, where it was, and the lineage of the output that holds it."""
    entry: dict[str, Any] = {"ref": ref}
    path = Path(ref).expanduser()
    if path.exists():
        entry["path"] = str(path.resolve())
    found = find(ref)
    if found is not None:
        entry["lineage"] = json.loads(found.read_text())
    return entry


def inputs(recipe: Recipe, model: str | None = None) -> dict[str, dict[str, Any]]:
    """The model the run started from (or sampled; `model` when not the recipe's) and the
    dataset it read, as given."""
    found: dict[str, dict[str, Any]] = {}
    model = model or recipe.model.get("model_name_or_path")
    if model:
        found["model"] = describe(str(model))
    if recipe.data.get("source"):
        found["data"] = describe(str(recipe.data["source"]))
    return found


def make(recipe: Recipe, out: str | Path, model: str | None = None, **extra: Any) -> dict[str, Any]:
    """The lineage of `recipe`'s output in `out` (`model`: the model it used when not the
    recipe's; extra: e.g. what the output holds)."""
    from r1lab import __version__

    return {
        "output": str(Path(out).resolve()),
        "kind": recipe.kind,
        "recipe": recipe.name,
        "overrides": list(recipe.overrides),
        "pipeline": os.environ.get(PIPELINE_ENV),
        "stage": os.environ.get(STAGE_ENV),
        "inputs": inputs(recipe, model),
        "r1lab_version": __version__,
        "git_commit": git_commit(),
        "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }


def record(recipe: Recipe, out: str | Path, **extra: Any) -> Path:
    """Write `out`/lineage.json (atomically: a later stage may be reading it)."""
    from r1lab.atomic import atomic_write

    path = Path(out) / FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(make(recipe, out, **extra), indent=2)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
    return path


def load(out: str | Path) -> dict[str, Any] | None:
    path = Path(out) / FILE
    return json.loads(path.read_text()) if path.is_file() else None


def text(lineage: dict[str, Any], indent: str = "") -> str:
    """The chain as an indented tree: this output, then each input and what made it."""
    where = (
        f" (stage '{lineage['stage']}' of {lineage['pipeline']})" if lineage.get("stage") else ""
    )
    commit = (lineage.get("git_commit") or "no git")[:12]
    overrides = " " + " ".join(lineage["overrides"]) if lineage.get("overrides") else ""
    lines = [
        f"{indent}{lineage['output']}",
        f"{indent}  made by: {lineage['kind']} {lineage['recipe']}{overrides}{where}",
        f"{indent}  r1lab {lineage.get('r1lab_version')} @ {commit}, {lineage.get('written')}",
    ]
    for role, entry in (lineage.get("inputs") or {}).items():
        if "lineage" in entry:
            lines.append(f"{indent}  {role}: {entry['ref']}, made by")
            lines.append(text(entry["lineage"], indent + "    "))
        else:
            origin = "local, not an r1lab output" if entry.get("path") else "Hub id, task or file"
            lines.append(f"{indent}  {role}: {entry['ref']} ({origin})")
    return "\n".join(lines)


def fill_model_card(out: str | Path) -> None:
    """TRL's README.md names a local base model "[None](https://huggingface.co/None)" and loads
    `model="None"` in its quick start: name the real base and output, and add the lineage."""
    card, found = Path(out) / "README.md", load(out)
    if not card.is_file() or found is None:
        return
    model = (found.get("inputs") or {}).get("model", {}).get("ref", "the base model")
    body = card.read_text()
    body = body.replace("[None](https://huggingface.co/None)", f"`{model}`")
    body = body.replace('model="None"', f'model="{Path(out).resolve()}"')
    card.write_text(body + f"\n## Lineage (r1lab)\n\n```\n{text(found)}\n```\n")
