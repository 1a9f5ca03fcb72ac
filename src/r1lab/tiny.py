"""Build the tiny world's tokenizer and a random-init Qwen2-shaped model, deterministically.

The Hub is out of reach on our machines, so tiny recipes start from this model. The tokenizer is a
byte-level BPE trained on the tasks' text and the R1 template: one token per digit, the four
reasoning tags as single (non-special, so they survive decoding) tokens, and a ChatML template.
It is saved with `tokenizer_class: PreTrainedTokenizerFast` so that `AutoTokenizer` reloads the
saved tokenizer.json as is instead of swapping in Qwen2's own pre-tokenizer.
"""

from __future__ import annotations

import json
from pathlib import Path

from r1lab.prompts import R1_ZERO_INSTRUCTION, R1_ZERO_TEMPLATE

TAGS = ["<think>", "</think>", "<answer>", "</answer>"]
EOS, PAD, IM_START, IM_END = "<|endoftext|>", "<|pad|>", "<|im_start|>", "<|im_end|>"
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    + IM_START
    + "{{ message['role'] }}\n{{ message['content'] }}"
    + IM_END
    + "\n{% endfor %}{% if add_generation_prompt %}"
    + IM_START
    + "assistant\n{% endif %}"
)
# Qwen2's own split (one token per digit): AutoTokenizer maps model_type qwen2 to Qwen2Tokenizer,
# which rebuilds the pre-tokenizer from this regex, so using it here makes the reload exact.
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
DEFAULTS = dict(
    seed=0,
    vocab_size=512,
    hidden_size=128,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=2,
    intermediate_size=384,
    max_position_embeddings=256,
)
# Larger shapes built the same way (random init, the tiny tokenizer's vocabulary): recipes start
# from the ones in CACHED (at $R1LAB_CACHE/<shape>), the benchmarks build the others.
SHAPES: dict[str, dict[str, int]] = {
    "tiny": {},
    # the tiny world's strong teacher (~3.3M parameters, 4x the student): same depth, twice as wide
    "tiny-wide": dict(
        hidden_size=256, intermediate_size=768, num_attention_heads=8, num_key_value_heads=4
    ),
    "qwen2.5-0.5b": dict(  # Qwen2.5-0.5B's transformer (its vocabulary is 151,936 tokens)
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        max_position_embeddings=32768,
    ),
}

CACHED = ("tiny", "tiny-wide")  # the shapes a recipe names as ${r1lab_cache:<shape>}


def cached_dir(shape: str) -> Path:
    """Where a recipe finds the tiny model of `shape`: $R1LAB_CACHE/<shape>."""
    from r1lab.paths import cache_dir

    return cache_dir() / shape


def shape_at(ref: str | Path) -> str | None:
    """The cached tiny shape that lives at `ref` (a recipe's model path), else None."""
    where = Path(ref).expanduser().resolve()
    return next((s for s in CACHED if where == cached_dir(s).resolve()), None)


def corpus(seed: int, size: int = 4000) -> list[str]:
    """Text the tokenizer is trained on: task problems, traces and the prompt templates."""
    from r1lab.tasks import TASKS

    lines = [R1_ZERO_TEMPLATE, R1_ZERO_INSTRUCTION, "system user assistant"]
    for sampler in TASKS.values():
        stream = sampler(seed=seed)
        for _ in range(size):
            row = next(stream)
            lines.append(R1_ZERO_TEMPLATE.format(prompt=row["question"]) + " " + row["reasoning"])
    return lines


def build_tokenizer(seed: int = 0, vocab_size: int = 512):
    """A `PreTrainedTokenizerFast` trained on `corpus(seed)`."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS, PAD, IM_START, IM_END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus(seed), trainer=trainer)
    tok.add_tokens([AddedToken(t, normalized=False, special=False) for t in TAGS])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=EOS,
        pad_token=PAD,
        bos_token=None,
        unk_token=None,
        model_max_length=DEFAULTS["max_position_embeddings"],
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build(out_dir: str | Path, **overrides: int) -> Path:
    """Write tokenizer + model to `out_dir`; the same settings give byte-identical weights."""
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    settings = {**DEFAULTS, **overrides}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(settings["seed"], settings["vocab_size"])
    tokenizer.save_pretrained(out)
    _force_fast_tokenizer_class(out)

    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=settings["hidden_size"],
        intermediate_size=settings["intermediate_size"],
        num_hidden_layers=settings["num_hidden_layers"],
        num_attention_heads=settings["num_attention_heads"],
        num_key_value_heads=settings["num_key_value_heads"],
        max_position_embeddings=settings["max_position_embeddings"],
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(settings["seed"])
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    model.save_pretrained(out)
    (out / "r1lab_tiny.json").write_text(json.dumps(settings, indent=2))
    return out


def _force_fast_tokenizer_class(out: Path) -> None:
    path = out / "tokenizer_config.json"
    cfg = json.loads(path.read_text())
    cfg["tokenizer_class"] = "TokenizersBackend"
    path.write_text(json.dumps(cfg, indent=2))


def ensure(out_dir: str | Path | None = None, shape: str = "tiny", **overrides: int) -> Path:
    """Build the tiny model of `shape` unless `out_dir` (default: the shape's cache folder)
    already holds one with the same settings."""
    out = Path(out_dir) if out_dir else cached_dir(shape)
    overrides = {**SHAPES[shape], **overrides}
    marker = out / "r1lab_tiny.json"
    if marker.exists() and json.loads(marker.read_text()) == {**DEFAULTS, **overrides}:
        return out
    return build(out, **overrides)
