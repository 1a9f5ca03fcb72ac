"""A model's shape and parameter counts from its config.json alone: what a memory plan counts.

No weights are read: transformers builds the model on torch's meta device, so the counts are exact for any architecture transformers knows, in well
under a second for 32B. The config comes from a local model folder or the Hub cache when there is
one, else from `recipes/model/configs/<org>/<name>/config.json` (the shipped full-scale recipes'
models, so a plan works offline).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1lab.paths import recipes_dir

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


def configs_dir() -> Path:
    return recipes_dir() / "model" / "configs"


def shipped_config(ref: str) -> Path | None:
    """The repo's copy of a Hub model's config.json, if the repo ships one."""
    path = configs_dir() / ref / "config.json"
    return path if path.is_file() else None


@dataclass(frozen=True)
class ModelShape:
    name: str
    source: str  # the config.json it was read from
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    tied_embeddings: bool
    context: int | None
    dtype: str  # the checkpoint's torch_dtype ("bfloat16", ...)
    params: int  # every parameter once (tied embeddings counted once)
    largest_layer_params: int  # the largest module's own parameters (what ZeRO-3 gathers at once)
    trainable_params: int  # params, or LoRA's adapters when planned with LoRA

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    def kv_cache_bytes_per_token(self, dtype_bytes: int = 2) -> int:
        """K and V of every layer for one token (what vLLM's paged cache stores)."""
        return 2 * self.layers * self.kv_dim * dtype_bytes


def _meta_model(config: Any) -> Any:
    """The model with every tensor on torch's meta device (accelerate's `init_empty_weights`
    would leave tied embeddings untied, counting them twice)."""
    import warnings

    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return AutoModelForCausalLM.from_config(config)


def largest_layer(model: Any) -> int:
    """DeepSpeed's `model_to_params` count: the most parameters one module holds itself."""
    return max(sum(p.numel() for p in m.parameters(recurse=False)) for m in model.modules())


def lora_trainable(model: Any, lora: dict[str, Any]) -> int:
    """Trainable parameters once PEFT wraps the model with the recipe's LoRA settings (TRL's
    ModelConfig names: lora_r, lora_alpha, lora_target_modules, lora_modules_to_save)."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=int(lora.get("lora_r", 16)),
        lora_alpha=int(lora.get("lora_alpha", 32)),
        target_modules=lora.get("lora_target_modules"),
        modules_to_save=lora.get("lora_modules_to_save"),
        task_type="CAUSAL_LM",
    )
    import torch

    with torch.device("meta"):
        wrapped = get_peft_model(model, config)
    return sum(p.numel() for p in wrapped.parameters() if p.requires_grad)


def load(folder: Path, name: str | None = None, lora: dict[str, Any] | None = None) -> ModelShape:
    """The shape of the model whose config.json is in `folder` (with LoRA's trainable count when
    `lora` holds the recipe's `model:` section with use_peft true)."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(folder))
    raw = json.loads((Path(folder) / "config.json").read_text())
    text = getattr(config, "get_text_config", lambda: config)()
    model = _meta_model(config)
    params = sum(p.numel() for p in model.parameters())
    heads = int(text.num_attention_heads)
    head_dim = int(getattr(text, "head_dim", None) or text.hidden_size // heads)
    trainable = lora_trainable(model, lora) if lora and lora.get("use_peft") else params
    return ModelShape(
        name=name or str(folder),
        source=str(Path(folder) / "config.json"),
        hidden=int(text.hidden_size),
        layers=int(text.num_hidden_layers),
        heads=heads,
        kv_heads=int(getattr(text, "num_key_value_heads", None) or heads),
        head_dim=head_dim,
        intermediate=int(text.intermediate_size),
        vocab=int(text.vocab_size),
        tied_embeddings=bool(getattr(config, "tie_word_embeddings", False)),
        context=getattr(text, "max_position_embeddings", None),
        dtype=str(raw.get("torch_dtype") or raw.get("dtype") or "float32"),
        params=params,
        largest_layer_params=largest_layer(model),
        trainable_params=trainable,
    )
