"""Where r1lab finds its recipes and keeps its cache; both overridable by environment variables."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def recipes_dir() -> Path:
    """The Hydra config tree: `$R1LAB_RECIPES`, else `recipes/` of this checkout."""
    return Path(os.environ.get("R1LAB_RECIPES", REPO_ROOT / "recipes")).resolve()


def cache_dir() -> Path:
    """Built artefacts that are not run outputs (the tiny model): `$R1LAB_CACHE` or ~/.cache/r1lab."""
    return Path(os.environ.get("R1LAB_CACHE", Path.home() / ".cache" / "r1lab")).expanduser()
