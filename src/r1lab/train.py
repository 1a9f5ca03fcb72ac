"""What every trainer kind shares: compose, check, load data, build TRL's config, resume, save.

`r1lab.kinds.sft` and `r1lab.kinds.grpo` declare their kind (`r1lab.kind.Kind`) and the TRL trainer they
construct; everything else lives here once. Order matters: the recipe is checked and the data
loaded before any model loads, so bad input fails in seconds.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1lab import lineage, lora, run_start
from r1lab.checks.run import load_checked
from r1lab.data import DataConfig, format_dataset
from r1lab.kind import Kind, get_kind
from r1lab.recipe import Recipe
from r1lab.run_facts import RunFacts

# TRL 1.16 reads transformers' deprecated `is_gradient_checkpointing` on every generation step;
# the FutureWarning is theirs to fix and says nothing about the run.
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated")


@dataclass
class Run:
    recipe: Recipe
    args: Any  # trl.SFTConfig | trl.GRPOConfig
    model_args: Any  # trl.ModelConfig
    train_dataset: Any
    resume_from: str | None


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def log(message: str) -> None:
    if is_main_process():
        print(f"[r1lab] {message}", flush=True)


def configure_wandb(recipe: Recipe) -> None:
    """wandb with no account: offline unless WANDB_API_KEY or WANDB_MODE says otherwise."""
    report_to = recipe.trainer.get("report_to")
    wanted = report_to == "wandb" or (isinstance(report_to, list) and "wandb" in report_to)
    if not wanted:
        return
    if not os.environ.get("WANDB_API_KEY") and not os.environ.get("WANDB_MODE"):
        os.environ["WANDB_MODE"] = "offline"
    os.environ.setdefault("WANDB_DIR", recipe.output_dir)
    os.environ.setdefault("WANDB_PROJECT", "r1lab")
    Path(os.environ["WANDB_DIR"]).mkdir(parents=True, exist_ok=True)


def last_checkpoint(output_dir: str) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(output_dir) if Path(output_dir).is_dir() else None


def prepare(facts: RunFacts) -> Run:
    """Everything after the run's start (`r1lab.run_start`: checks, the output dir) up to, not
    including, model loading; RecipeError on any bad input."""
    from trl import ModelConfig

    kind, recipe = facts.kind, facts.recipe
    configure_wandb(recipe)
    data = DataConfig.from_recipe(recipe.data)
    raw = load_checked(recipe, data)
    train_dataset = format_dataset(raw, data, completions=kind.trains_on_completions)

    config_kwargs = {
        "output_dir": recipe.output_dir,
        "run_name": recipe.name,
        **recipe.trainer,
        **kind.config_extras(recipe),
    }
    args = kind.build_config(config_kwargs)
    model_args = ModelConfig(**recipe.model)
    # an adapter-only LoRA output of an earlier stage: its merged copy (made once)
    model_args.model_name_or_path = lora.resolve(model_args.model_name_or_path)
    args.model_init_kwargs = {
        "revision": model_args.model_revision,
        "trust_remote_code": getattr(args, "trust_remote_code", False),
        "attn_implementation": model_args.attn_implementation,
        "dtype": model_args.dtype,
        **(args.model_init_kwargs or {}),
    }
    resume_from = last_checkpoint(args.output_dir)
    if resume_from:
        log(f"resuming from {resume_from}")
    return Run(recipe, args, model_args, train_dataset, resume_from)


def trainer_kwargs(run: Run) -> dict[str, Any]:
    """Arguments every TRL trainer takes the same way: the model id, config, data and callbacks.

    TRL loads the model itself from the id (with `args.model_init_kwargs`), so r1lab never does.
    """
    from trl import get_peft_config, get_quantization_config

    from r1lab.preempt import PreemptionCallback

    return {
        "model": run.model_args.model_name_or_path,
        "args": run.args,
        "train_dataset": run.train_dataset,
        "peft_config": get_peft_config(run.model_args),
        "quantization_config": get_quantization_config(run.model_args),
        # checkpoint-and-stop on a preemption signal (Slurm's --signal=USR1@...)
        "callbacks": [PreemptionCallback()],
    }


class TiedWeightsNotice(logging.Filter):
    """Resuming a model with tied input/output embeddings logs "missing keys ['lm_head.weight']"
    every time: the checkpoint leaves out the tied copy on purpose, and loading re-ties it. Only
    that exact message is dropped; any other missing key is still reported."""

    MESSAGE = "There were missing keys in the checkpoint model loaded: ['lm_head.weight']."

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != self.MESSAGE


TIED_WEIGHTS_NOTICE = TiedWeightsNotice()


def train_and_save(trainer, run: Run) -> None:
    """Train (resuming if a checkpoint exists), then save the final model where the recipe says."""
    from r1lab import preempt

    if getattr(trainer.model.config, "tie_word_embeddings", False):
        logging.getLogger("transformers.trainer").addFilter(TIED_WEIGHTS_NOTICE)  # added once

    try:
        trainer.train(resume_from_checkpoint=run.resume_from)
    except KeyboardInterrupt:
        checkpoint = last_checkpoint(run.args.output_dir)
        log(
            f"stopped at step {trainer.state.global_step}; last checkpoint: "
            f"{checkpoint or 'none (the run will start over)'}; rerun the same command to resume"
        )
        raise SystemExit(130) from None
    if preempt.requested():  # stopped early to be requeued: the checkpoint is the output
        log("preempted: checkpoint saved; the requeued job resumes from it")
    else:
        save_outputs(trainer, run)
    release_distributed(trainer)


def save_outputs(trainer, run: Run) -> None:
    """The final model, TRL's trainer state, and run_info.json (world size, step, resume point).

    A LoRA run saves what `lora.save` says: the merged model (and the adapter in `adapter/`), or
    the adapter alone."""
    if run.model_args.use_peft:
        lora.save(
            trainer, run.args.output_dir, lora.options(run.recipe).save, run.args.model_init_kwargs
        )
    else:
        trainer.save_model(run.args.output_dir)
    if trainer.accelerator.is_main_process:
        trainer.save_state()
        info = {
            "recipe": run.recipe.name,
            "world_size": trainer.accelerator.num_processes,
            "global_step": trainer.state.global_step,
            "resumed_from": run.resume_from,
        }
        models = get_kind(run.recipe.kind).input_models(run.recipe)  # e.g. the teacher
        lineage.record(run.recipe, run.args.output_dir, models=models)
        lineage.fill_model_card(run.args.output_dir)
        (Path(run.args.output_dir) / "run_info.json").write_text(json.dumps(info, indent=2))
        log(f"model saved to {run.args.output_dir}")


def release_distributed(trainer) -> None:
    """Free DDP and end the process group while every rank is still alive.

    Freeing a DDP model frees its gloo/NCCL group; done after a peer rank has exited (rank 0
    finishes last-step I/O later than the others) that destructor waits on the dead peer for
    ever. So: wait for everyone, drop the wrapped model, collect, wait again, then end.
    """
    import gc

    accelerator = trainer.accelerator
    if accelerator.num_processes > 1:
        accelerator.wait_for_everyone()
        accelerator.free_memory()
        trainer.model_wrapped = trainer.model
        gc.collect()
        accelerator.wait_for_everyone()
    if hasattr(trainer, "end"):
        trainer.end()


def run(kind: Kind, build_trainer: Callable[[Run], Any], argv: list[str]) -> int:
    """`r1lab <kind> <recipe> [k=v ...]` and `python -m r1lab.kinds.<kind>`: check, load, train,
    save."""
    started = run_start.start(kind, argv)
    if started is None:
        return 0
    log(f"recipe {started.facts.recipe.name}: checks passed")
    if started.finished is not None:
        log(
            f"{started.facts.recipe.output_dir} already holds this run, finished at step "
            f"{started.finished}: nothing to do (add --fresh to train it again from scratch)"
        )
        return 0
    run_ = prepare(started.facts)
    train_and_save(build_trainer(run_), run_)
    return 0
