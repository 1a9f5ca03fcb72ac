"""The tiny tokenizer and model: deterministic, and reloaded token-for-token by AutoTokenizer."""

from __future__ import annotations

import hashlib
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from r1lab import tiny
from r1lab.prompts import R1_ZERO_TEMPLATE


def test_autotokenizer_reloads_the_same_tokenizer(tiny_model):
    from transformers import AutoTokenizer

    loaded = AutoTokenizer.from_pretrained(tiny_model)
    built = tiny.build_tokenizer()
    saved = json.loads((tiny_model / "tokenizer.json").read_text())
    assert json.loads(loaded.backend_tokenizer.to_str())["pre_tokenizer"] == saved["pre_tokenizer"]
    text = R1_ZERO_TEMPLATE.format(prompt="Compute 12 + 345") + " <think> 12 + 345 = 357 </think>"
    assert loaded(text)["input_ids"] == built(text)["input_ids"]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_reload_is_token_for_token_identical_on_any_text(text):
    from transformers import AutoTokenizer

    loaded = AutoTokenizer.from_pretrained(tiny.ensure())
    built = _built()
    assert loaded(text)["input_ids"] == built(text)["input_ids"]
    assert loaded.decode(loaded(text)["input_ids"]) == built.decode(built(text)["input_ids"])


_BUILT = {}


def _built():
    if "tok" not in _BUILT:
        _BUILT["tok"] = tiny.build_tokenizer()
    return _BUILT["tok"]


def test_digits_and_tags_are_single_tokens(tiny_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    pieces = tok.convert_ids_to_tokens(tok("<think>9081</think><answer>")["input_ids"])
    assert pieces == ["<think>", "9", "0", "8", "1", "</think>", "<answer>"]
    # tags survive decoding with skip_special_tokens, as TRL decodes completions
    ids = tok("<answer> 7 </answer>")["input_ids"] + [tok.eos_token_id]
    assert tok.decode(ids, skip_special_tokens=True) == "<answer> 7 </answer>"
    chat = tok.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert chat == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


def test_build_is_deterministic_and_about_a_million_parameters(tmp_path, tiny_model):
    from transformers import AutoModelForCausalLM

    again = tiny.build(tmp_path / "again")
    digest = lambda p: hashlib.sha256((p / "model.safetensors").read_bytes()).hexdigest()  # noqa: E731
    assert digest(again) == digest(tiny_model)
    other = tiny.build(tmp_path / "other", seed=1)
    assert digest(other) != digest(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    assert model.config.model_type == "qwen2"
    assert 0.5e6 < sum(p.numel() for p in model.parameters()) < 2e6


def test_the_wide_teacher_shape_builds_in_its_own_cache_folder_and_is_recognised(r1lab_cache):
    from transformers import AutoConfig, AutoModelForCausalLM

    out = tiny.ensure(shape="tiny-wide")
    assert out == r1lab_cache / "tiny-wide" and tiny.shape_at(out) == "tiny-wide"
    assert tiny.shape_at(r1lab_cache / "tiny") == "tiny" and tiny.shape_at(r1lab_cache) is None
    config = AutoConfig.from_pretrained(out)
    assert (config.hidden_size, config.num_attention_heads) == (256, 8)
    wide = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(out).parameters())
    small = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(tiny.ensure()).parameters())
    assert wide > 3 * small  # a teacher much larger than the student
    # the same tokenizer, so the student can learn the teacher's traces token for token
    assert (out / "tokenizer.json").read_bytes() == (
        r1lab_cache / "tiny" / "tokenizer.json"
    ).read_bytes()
    stamp = (out / "model.safetensors").stat().st_mtime_ns
    assert tiny.ensure(shape="tiny-wide") == out  # built once: the same settings are not rebuilt
    assert (out / "model.safetensors").stat().st_mtime_ns == stamp
