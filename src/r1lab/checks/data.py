"""Checks of the `data:` section: a synthetic task's splits, and the columns the template reads."""

from __future__ import annotations

from r1lab.checks.context import Context, how_to_make
from r1lab.checks.findings import Findings, ok, skipped
from r1lab.errors import RecipeError

ANSWER_COLUMNS = ("solution", "answer", "final_answer", "reference", "target")


def check_task_splits(ctx: Context) -> Findings:
    """Both splits of a synthetic task must be drawable at the sizes the run and `evaluate` use."""
    data = ctx.data
    if not data.task_name:
        return
    from r1lab.tasks import generate_rows

    generate_rows(data.task_name, "train", data.train_size or 1000, data.seed, **data.task)
    test_size = ctx.recipe.evaluate.get("num_problems") or data.test_size
    if test_size:
        generate_rows(data.task_name, "test", test_size, data.seed, **data.task)


def check_data_columns(ctx: Context) -> Findings:
    """The columns the template reads, against what the dataset has."""
    data, columns = ctx.data, ctx.raw_columns
    if columns is None and ctx.source_pending:
        yield skipped(
            f"dataset columns: '{data.source}' does not exist yet, so its columns are checked "
            f"when the run starts.{how_to_make(data.source)}"
        )
        return
    if columns is None:
        yield skipped(
            f"dataset columns: '{data.source}' is a Hub dataset; its columns are checked right "
            "after it loads, before the model loads"
        )
        return
    if data.template == "none":
        if "prompt" not in columns and "messages" not in columns:
            raise RecipeError(
                f"data.template is none, so the dataset needs a 'prompt' or 'messages' column; "
                f"{data.source} has {columns}"
            )
    else:
        for col in data.input_columns(ctx.kind.trains_on_completions):
            if col not in columns:
                raise RecipeError(
                    f"data: column '{col}' not in {data.source} (columns: {columns}); "
                    "set data.question_column / data.completion_column to existing columns"
                )
    yield ok(f"dataset columns: {columns}")
