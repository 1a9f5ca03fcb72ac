"""Which checks run for a recipe, in report order, and the one loop that runs them."""

from __future__ import annotations

from typing import Any

from r1lab.checks.context import Context
from r1lab.checks.data import check_data_columns, check_task_splits
from r1lab.checks.findings import Check, Report, error
from r1lab.checks.model import check_model_files, check_model_keys
from r1lab.checks.packages import check_deepspeed, check_liger, check_peft, check_vllm
from r1lab.checks.rewards import check_reward_columns
from r1lab.checks.trainer import (
    check_accelerate,
    check_checkpoints,
    check_cpu_settings,
    check_trainer_keys,
    check_trl_config,
)
from r1lab.data import DataConfig, peek_columns
from r1lab.errors import RecipeError
from r1lab.recipe import Recipe
from r1lab.run_facts import RunFacts

COMMON_CHECKS: tuple[Check, ...] = (
    check_accelerate,
    check_trainer_keys,
    check_model_keys,
    check_task_splits,
    check_data_columns,
    check_cpu_settings,
    check_trl_config,
    check_checkpoints,
    check_model_files,
    check_vllm,
    check_peft,
    check_deepspeed,
    check_liger,
)

TRAINER_CHECKS: frozenset[Check] = frozenset(
    {
        check_accelerate,
        check_trainer_keys,
        check_cpu_settings,
        check_trl_config,
        check_checkpoints,
        check_vllm,
        check_peft,
        check_deepspeed,
        check_liger,
    }
)

# Checks of the `data:` section: only for kinds that read it (not evaluate, which has benchmarks).
DATA_CHECKS: frozenset[Check] = frozenset({check_task_splits, check_data_columns})

# The checks that read `Context.raw_columns`: what `check_columns` reruns once a Hub dataset loads.
COLUMN_CHECKS: frozenset[Check] = frozenset({check_data_columns, check_reward_columns})


def run_checks(ctx: Context, only: frozenset[Check] | None = None) -> Report:
    """Common checks, then the kind's own (those in `only`, if given); every failure in one report."""
    report = Report(ctx.recipe.name)
    common = COMMON_CHECKS if ctx.kind.common_sections else ()
    for check_fn in (*common, *ctx.kind.checks):
        if only is not None and check_fn not in only:
            continue
        if ctx.kind.config_class is None and check_fn in TRAINER_CHECKS:
            continue
        if not ctx.kind.reads_data and check_fn in DATA_CHECKS:
            continue
        try:
            for finding in check_fn(ctx) or ():
                report.add(finding)
        except RecipeError as err:
            report.add(error(str(err)))
    return report


def check(
    recipe: Recipe,
    num_processes: int | None = None,
    running: bool = False,
    made_earlier: tuple[str, ...] = (),
    gpu: str | None = None,
) -> Report:
    """`r1lab check`: every check for `recipe` run by `num_processes` processes (`made_earlier`:
    the outputs that the pipeline stages before it make; `gpu`: the GPU the memory plan assumes)."""
    return check_run(RunFacts.of(recipe), num_processes, running, made_earlier, gpu)


def check_run(
    facts: RunFacts,
    num_processes: int | None = None,
    running: bool = False,
    made_earlier: tuple[str, ...] = (),
    gpu: str | None = None,
) -> Report:
    """`check` for a run whose facts its launcher has found (kind, accelerate file)."""
    ctx = Context(
        facts.recipe,
        facts.kind,
        num_processes,
        running,
        made_earlier=made_earlier,
        gpu=gpu,
        facts=facts,
    )
    return run_checks(ctx)


def load_checked(recipe: Recipe, data: DataConfig) -> Any:
    """The training split as loaded; a Hub dataset's columns (unknown until now) are checked the
    moment it loads, before any model or engine starts."""
    from r1lab.data import load_raw

    raw = load_raw(data, "train")
    if peek_columns(data) is None:
        check_columns(recipe, raw.column_names).raise_if_failed()
    return raw


def check_columns(recipe: Recipe, columns: list[str]) -> Report:
    """Only the checks that read the dataset's columns, for a Hub dataset once it has loaded (the
    other checks have run already and would only repeat their work)."""
    from r1lab.kind import get_kind

    kind = get_kind(recipe.kind)
    ctx = Context(recipe, kind, running=True, columns=columns)
    return run_checks(ctx, only=COLUMN_CHECKS | frozenset(kind.column_checks))
