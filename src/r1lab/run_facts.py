"""A run's facts, found once where the run starts and passed down to the checks, the Slurm plan
and the local launcher, so none of them looks the kind up or reads the accelerate file again."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from r1lab import accelerate_config
from r1lab.kind import Kind, get_kind
from r1lab.recipe import Recipe


@dataclass
class RunFacts:
    recipe: Recipe  # composed, with its overrides
    kind: Kind  # the recipe's kind, looked up once

    @classmethod
    def of(cls, recipe: Recipe) -> RunFacts:
        return cls(recipe, get_kind(recipe.kind))

    @cached_property
    def accelerate(self) -> accelerate_config.AccelerateConfig:
        """The recipe's accelerate file, read on first use (a pipeline has none of its own)."""
        return accelerate_config.load(self.recipe.accelerate)
