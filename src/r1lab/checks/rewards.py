"""Checks of `rewards:`: each builds, some reward verifies the answer, and the data has the columns
the rewards read."""

from __future__ import annotations

from r1lab.checks.context import Context
from r1lab.checks.data import ANSWER_COLUMNS
from r1lab.checks.findings import Findings, error, ok, warning
from r1lab.data import columns_after_shaping
from r1lab.errors import RecipeError


def check_rewards(ctx: Context) -> Findings:
    """GRPO: at least one reward, and each builds with its parameters."""
    from r1lab.rewards import get_reward

    specs = ctx.recipe.reward_specs
    if not specs:
        raise RecipeError(
            "rewards: a GRPO recipe needs at least one, e.g. {accuracy: 1.0, format: 0.2}"
        )
    failed = False
    for spec in specs:
        try:
            get_reward(spec.name, **spec.params)
        except ValueError as err:
            failed = True
            yield error(f"rewards.{spec.name}: {err}")
    if not failed:
        yield ok("rewards: " + ", ".join(s.name for s in specs))


def check_answers_are_verified(ctx: Context) -> Findings:
    """GRPO: some reward must judge the answer, and on a synthetic task, the task's verifier."""
    from r1lab.rewards import is_verifier, verifier_names
    from r1lab.tasks import VERIFIERS

    names = [spec.name for spec in ctx.recipe.reward_specs]
    verifiers = []
    for name in names:
        try:
            if is_verifier(name):
                verifiers.append(name)
        except ValueError as err:  # the same message check_rewards gives; listed once
            raise RecipeError(f"rewards.{name}: {err}") from None
    task = ctx.data.task_name
    wanted = VERIFIERS.get(task or "")
    if wanted and wanted not in names:
        yield warning(
            f"data {ctx.data.source} is verified by the '{wanted}' reward, which rewards: "
            f"({', '.join(names)}) does not include, so correct answers are not what GRPO "
            f"rewards; add it: +rewards.{wanted}=1.0, or a group: reward@rewards=<group>"
        )
    elif not verifiers:
        yield warning(
            f"no reward in rewards: ({', '.join(names)}) checks the answer (verifiers: "
            f"{', '.join(verifier_names())}); GRPO will optimise only the shape of completions"
        )


def check_reward_columns(ctx: Context) -> Findings:
    """GRPO: the data has every column the chosen rewards read."""
    from r1lab.rewards import required_columns

    columns = ctx.raw_columns
    if columns is None:  # a Hub dataset: checked once it loads
        return
    available = columns_after_shaping(ctx.data, ctx.kind.trains_on_completions, columns)
    failed = False
    for spec in ctx.recipe.reward_specs:
        try:
            need = required_columns(spec.name, **spec.params)
        except ValueError as err:  # the same message check_rewards gives; listed once
            failed = True
            yield error(f"rewards.{spec.name}: {err}")
            continue
        missing = sorted(set(need) - set(available))
        if missing:
            failed = True
            fix = "pick a reward that fits the data, or point the reward at the right column with its parameters"
            if spec.params.get("solution_column") in missing:
                likely = [c for c in columns if c in ANSWER_COLUMNS]
                fix = "set data.solution_column to the column holding the reference answer" + (
                    f": data.solution_column={likely[0]}" if likely else ""
                )
            yield error(
                f"rewards.{spec.name} needs dataset column(s) {missing}, which {ctx.data.source} "
                f"does not have (columns: {columns}); {fix}"
            )
    if not failed:
        yield ok(f"dataset columns {columns} cover every reward's needs")
