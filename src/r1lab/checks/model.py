"""Checks of the `model:` section and the model's files."""

from __future__ import annotations

import dataclasses

from r1lab.checks.context import Context
from r1lab.checks.findings import Findings, ok, skipped
from r1lab.errors import RecipeError, unknown_key
from r1lab.prompts import CHAT_TEMPLATES


def check_model_keys(ctx: Context) -> Findings:
    from trl import ModelConfig

    names = [f.name for f in dataclasses.fields(ModelConfig)]
    for key in ctx.recipe.model:
        if key not in names:
            raise unknown_key(f"model.{key}", key, names, owner="TRL's ModelConfig")
    if not ctx.recipe.model.get("model_name_or_path"):
        raise RecipeError("model.model_name_or_path is required (a Hub id or a local folder)")


def check_model_files(ctx: Context) -> Findings:
    ref = str(ctx.recipe.model["model_name_or_path"])
    folder = ctx.model_folder
    if not ctx.kind.loads_model(ctx.recipe):
        yield skipped(f"model files: '{ref}' is a served model's name; this run loads no model")
        return
    if ctx.model_pending:
        yield skipped(f"model files: '{ref}' is made by an earlier stage; checked when it has run")
        return
    if folder is None:
        yield skipped(
            f"model files: '{ref}' is a Hub id not in the local cache; context length and chat "
            "template are checked when it loads"
        )
        return
    template = ctx.data.template if ctx.kind.reads_data else None
    if template in CHAT_TEMPLATES and not getattr(ctx.tokenizer, "chat_template", None):
        raise RecipeError(
            f"data.template={template} needs a chat template, and the tokenizer in {folder} has "
            "none; use data.template=r1_zero (plain text) for base models"
        )
    yield ok(f"model files found in {folder}")
