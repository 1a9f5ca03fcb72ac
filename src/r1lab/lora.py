"""LoRA runs (`model.use_peft=true`, TRL's ModelConfig): what they save, and how a later stage
takes what they saved.

A recipe's `lora:` section says what the output dir holds (`lora.save`):

- `merged` (default): the base with the trained adapter merged in (PEFT's `merge_and_unload`),
  a plain model that every later stage loads as it loads any model (GRPO after SFT, `r1lab
  evaluate`, vLLM, transformers), plus the adapter alone in `<output_dir>/adapter/`.
- `adapter`: only the adapter (`adapter_config.json`, a few MB), which loads on its base with
  PEFT. A later r1lab stage given such a folder merges it once into `<folder>/merged/` and loads
  that (`resolve`), so nothing has to be merged by hand.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1lab.errors import RecipeError, unknown_key

SAVE_MODES = ("merged", "adapter")
ADAPTER_DIR = "adapter"  # where a merged run keeps its adapter
MERGED_DIR = "merged"  # where `resolve` merges an adapter-only folder
# files of a saved tokenizer, copied next to a merged model
TOKENIZER_FILES = ("tokenizer", "special_tokens_map", "chat_template", "vocab", "merges")


@dataclass(frozen=True)
class LoraOptions:
    save: str = "merged"


def parse_section(section: Any, recipe: dict[str, Any] | None = None) -> LoraOptions:
    """The `lora:` section (SFT and GRPO recipes)."""
    if not isinstance(section, dict):
        raise RecipeError(f"lora: expected a mapping such as {{save: merged}}, got {section!r}")
    for key in section:
        if key != "save":
            raise unknown_key(f"lora.{key}", str(key), ["save"])
    save = section.get("save", "merged")
    if save not in SAVE_MODES:
        raise RecipeError(
            f"lora.save={save!r}: must be merged (a full model, what later stages load) or "
            "adapter (the LoRA weights alone, loaded on their base)"
        )
    return LoraOptions(save=save)


def options(recipe: Any) -> LoraOptions:
    return recipe.parsed.get("lora") or LoraOptions()


def is_adapter_folder(path: str | Path) -> bool:
    """A folder that holds a LoRA adapter and no model of its own."""
    path = Path(path)
    return (path / "adapter_config.json").exists() and not (path / "config.json").exists()


def base_of(adapter: str | Path) -> str:
    """The base model an adapter was trained on, as its adapter_config.json names it."""
    import json

    config = json.loads((Path(adapter) / "adapter_config.json").read_text())
    return str(config["base_model_name_or_path"])


def copy_tokenizer(source: Path, target: Path) -> None:
    for item in source.iterdir():
        if item.is_file() and item.name.startswith(TOKENIZER_FILES):
            shutil.copy2(item, target / item.name)


def merge(adapter: str | Path, target: str | Path, **load_kwargs: Any) -> Path:
    """Load the adapter's base, apply the adapter, merge it in, save a plain model to `target`."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    adapter, target = Path(adapter), Path(target)
    load_kwargs.setdefault("dtype", "auto")
    base = AutoModelForCausalLM.from_pretrained(base_of(adapter), **load_kwargs)
    model = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target)
    copy_tokenizer(adapter, target)
    return target


def resolve(ref: str) -> str:
    """`ref` itself, unless it is an adapter-only folder: then its merged copy, made once (under
    a file lock, so several ranks or jobs merge it once) in `<ref>/merged/`, and made again when
    the adapter is newer than it."""
    if not is_adapter_folder(ref):
        return ref
    from filelock import FileLock

    folder = Path(ref)
    merged = folder / MERGED_DIR
    with FileLock(str(folder / f"{MERGED_DIR}.lock")):
        done = merged / "config.json"
        weights = [p.stat().st_mtime for p in folder.glob("adapter_model.*")]
        if not done.exists() or max(weights, default=0) > done.stat().st_mtime:
            partial = folder / f"{MERGED_DIR}.partial"
            shutil.rmtree(partial, ignore_errors=True)
            merge(folder, partial)
            shutil.rmtree(merged, ignore_errors=True)
            partial.rename(merged)
    return str(merged)


def save(trainer: Any, output_dir: str, mode: str, load_kwargs: dict[str, Any]) -> None:
    """Save a LoRA run's result as `mode` says. Every rank calls this (a ZeRO-3 adapter is
    gathered across ranks by `save_model`); the main process merges."""
    out = Path(output_dir)
    if mode == "adapter":
        trainer.save_model(str(out))
        return
    trainer.save_model(str(out / ADAPTER_DIR))
    if trainer.accelerator.is_main_process:
        merge_in_subprocess(out / ADAPTER_DIR, out, load_kwargs)
    trainer.accelerator.wait_for_everyone()


def merge_in_subprocess(adapter: Path, target: Path, load_kwargs: dict[str, Any]) -> None:
    """`merge` in a process of its own: inside a ZeRO-3 run, transformers would load the base
    partitioned over the ranks (and wait for the others for ever); a fresh process loads it
    whole, whatever the run's distributed state, and gives its memory back when done."""
    import json
    import os
    import subprocess
    import sys

    kwargs = {k: v for k, v in load_kwargs.items() if v is not None}
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ACCELERATE_")
        and k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE")
    }
    cmd = [sys.executable, "-m", "r1lab.lora", str(adapter), str(target), json.dumps(kwargs)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(
            f"merging the LoRA adapter in {adapter} onto its base failed (the adapter is saved; "
            f"`python -m r1lab.lora {adapter} {target}` retries):\n{proc.stderr[-3000:]}"
        )


if __name__ == "__main__":  # python -m r1lab.lora <adapter> <target> [json load kwargs]
    import json
    import sys

    merge(sys.argv[1], sys.argv[2], **json.loads(sys.argv[3] if len(sys.argv) > 3 else "{}"))
