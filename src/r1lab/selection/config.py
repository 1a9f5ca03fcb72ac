"""A recipe's `select:` section: which verifiers must pass and which of R1's filters run, and the
columns and drop reasons a selection reports."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from r1lab.errors import RecipeError, section_dataclass
from r1lab.recipe import RewardSpec, parse_rewards

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
COLUMN_TYPES = {
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
