"""The recipe's `accelerate:` file (recipes/accelerate/<name>.yaml) and the process count it gives.

Launchers (`r1lab launch`, Slurm) and checks read the same file through here, so the process
count a check validates is the one the run gets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1lab.errors import RecipeError, closest
from r1lab.paths import recipes_dir


@dataclass(frozen=True)
class AccelerateConfig:
    name: str
    path: Path
    settings: dict[str, Any]

    @property
    def distributed_type(self) -> str:
        return str(self.settings.get("distributed_type", "NO"))

    @property
    def fsdp_version(self) -> int | None:
        """FSDP's version under an FSDP file (accelerate's default, 1, when it names none)."""
        if self.distributed_type != "FSDP":
            return None
        return int((self.settings.get("fsdp_config") or {}).get("fsdp_version", 1))

    @property
    def num_processes(self) -> int:
        """Processes on one machine, as the file says."""
        return int(self.settings.get("num_processes", 1) or 1)

    def run_processes(self) -> int:
        """Processes of the run: $WORLD_SIZE once launched, else the file's count."""
        if os.environ.get("WORLD_SIZE"):
            return int(os.environ["WORLD_SIZE"])
        return self.num_processes


def load(name: str) -> AccelerateConfig:
    """recipes/accelerate/<name>.yaml; a RecipeError listing the configs when there is none."""
    import yaml

    folder = recipes_dir() / "accelerate"
    path = folder / f"{name}.yaml"
    if not path.exists():
        names = sorted(p.stem for p in folder.glob("*.yaml"))
        raise RecipeError(
            f"accelerate: '{name}'{closest(name, names)} has no file {path}; "
            f"choose one of {', '.join(names)}"
        )
    return AccelerateConfig(name, path, yaml.safe_load(path.read_text()) or {})
