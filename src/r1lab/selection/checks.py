"""Checks of `select:` before any sample is generated: the verifiers build, one judges answers,
the benchmark files load, the data has the columns the verifiers read."""

from __future__ import annotations

from r1lab.checks.context import Context
from r1lab.checks.data import ANSWER_COLUMNS
from r1lab.checks.findings import Findings, error, ok, skipped, warning
from r1lab.errors import RecipeError
from r1lab.recipe import RewardSpec
from r1lab.selection.config import GENERATED_COLUMNS, SelectConfig
from r1lab.selection.decontamination import benchmark_questions


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
