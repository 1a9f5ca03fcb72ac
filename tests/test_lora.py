"""LoRA outputs, called directly: the `lora:` section, which folders are adapters, the merge of an
adapter onto its base (a two-layer model made here, seconds), the merged copy a later stage loads,
and what a LoRA run saves. The LoRA SFT -> GRPO -> evaluate chain is in tests/test_scale.py."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest

from r1lab import lora
from r1lab.errors import RecipeError
from r1lab.recipe import Recipe, compose

# ---- the lora: section --------------------------------------------------------------------------


def test_the_lora_section_saves_merged_unless_it_says_adapter():
    assert lora.parse_section({}) == lora.LoraOptions(save="merged")
    assert lora.parse_section({"save": "adapter"}).save == "adapter"
    assert lora.parse_section({"save": "merged"}).save == "merged"
    assert lora.LoraOptions().save == "merged"


def test_a_lora_section_that_is_not_a_mapping_shows_one():
    with pytest.raises(RecipeError) as err:
        lora.parse_section("adapter")
    assert str(err.value) == "lora: expected a mapping such as {save: merged}, got 'adapter'"


def test_an_unknown_lora_key_names_save():
    with pytest.raises(RecipeError, match=r"lora.sav.*'sav'.*did you mean 'save'"):
        lora.parse_section({"sav": "adapter"})


def test_an_unknown_save_mode_says_what_each_mode_saves():
    with pytest.raises(RecipeError) as err:
        lora.parse_section({"save": "both"})
    assert str(err.value) == (
        "lora.save='both': must be merged (a full model, what later stages load) or adapter "
        "(the LoRA weights alone, loaded on their base)"
    )


def test_a_recipes_lora_options_come_from_its_section_else_the_defaults():
    assert lora.options(compose("base/tiny", ["lora.save=adapter"])).save == "adapter"
    assert lora.options(compose("base/tiny")).save == "merged"
    assert lora.options(Recipe("x", "sft", {}, {}, {})) == lora.LoraOptions()


# ---- folders --------------------------------------------------------------------------------------


def test_an_adapter_folder_holds_an_adapter_config_and_no_model_config(tmp_path):
    (tmp_path / "adapter_config.json").write_text("{}")
    assert lora.is_adapter_folder(tmp_path) and lora.is_adapter_folder(str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    assert not lora.is_adapter_folder(tmp_path)
    (tmp_path / "adapter_config.json").unlink()
    assert not lora.is_adapter_folder(tmp_path)


def test_an_adapters_base_is_the_model_its_config_names(tmp_path):
    (tmp_path / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": "org/base-7b", "r": 8})
    )
    assert lora.base_of(str(tmp_path)) == "org/base-7b"


def test_copy_tokenizer_copies_the_tokenizer_files_and_nothing_else(tmp_path):
    source, target = tmp_path / "s", tmp_path / "t"
    source.mkdir(), target.mkdir()
    names = [
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "chat_template.jinja",
        "vocab.json",
        "merges.txt",
        "adapter_model.safetensors",
        "README.md",
    ]
    for name in names:
        (source / name).write_text(name)
    (source / "tokenizer_parts").mkdir()  # a folder, not a file
    lora.copy_tokenizer(source, target)
    assert sorted(p.name for p in target.iterdir()) == sorted(names[:6])
    assert (target / "merges.txt").read_text() == "merges.txt"


# ---- merging --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def adapter(tmp_path_factory) -> Path:
    """A LoRA adapter (nonzero, so merging changes the model) on a two-layer bf16 Llama."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    root = tmp_path_factory.mktemp("lora")
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=32,
    )
    LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(root / "base")
    base = LlamaForCausalLM.from_pretrained(root / "base", dtype=torch.bfloat16)
    peft = get_peft_model(
        base,
        LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False),
    )
    peft.save_pretrained(root / "adapter")
    (root / "adapter" / "tokenizer_config.json").write_text("{}")
    return root / "adapter"


def logits(model, ids):
    import torch

    with torch.no_grad():
        return model(ids).logits.float()


def test_merge_saves_a_plain_model_that_computes_what_base_plus_adapter_compute(adapter, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = lora.merge(str(adapter), str(tmp_path / "m" / "merged"))
    assert out == tmp_path / "m" / "merged"
    assert (out / "config.json").exists() and not (out / "adapter_config.json").exists()
    assert (out / "tokenizer_config.json").exists()
    ids = torch.tensor([[1, 5, 9, 2]])
    base_dir = lora.base_of(adapter)
    with_adapter = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.bfloat16), str(adapter)
    )
    merged = AutoModelForCausalLM.from_pretrained(out, dtype=torch.bfloat16)
    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.bfloat16)
    assert torch.allclose(logits(merged, ids), logits(with_adapter, ids), atol=0.05)
    assert not torch.allclose(logits(merged, ids), logits(base, ids), atol=0.05)


def test_merge_writes_into_a_folder_that_exists_as_a_runs_output_dir_does(adapter, tmp_path):
    (tmp_path / "adapter").mkdir()  # a merged run saved its adapter there first
    lora.merge(adapter, tmp_path)
    assert (tmp_path / "config.json").exists() and (tmp_path / "adapter").is_dir()


def test_merge_keeps_the_bases_dtype_unless_told_otherwise(adapter, tmp_path):
    import torch

    kept = lora.merge(adapter, tmp_path / "kept")
    told = lora.merge(adapter, tmp_path / "told", dtype=torch.float32)
    dtypes = {}
    for name, folder in (("kept", kept), ("told", told)):
        from safetensors import safe_open

        with safe_open(str(next(folder.glob("*.safetensors"))), "pt") as f:
            dtypes[name] = {f.get_tensor(k).dtype for k in f.keys()}
    assert dtypes == {"kept": {torch.bfloat16}, "told": {torch.float32}}


def fake_merge(calls):
    def merge(adapter, target, **kwargs):
        Path(target).mkdir(parents=True)  # refuses a leftover partial folder
        (Path(target) / "config.json").write_text(json.dumps({"n": len(calls)}))
        calls.append((Path(adapter), Path(target)))
        return Path(target)

    return merge


def test_resolve_gives_a_model_folder_back_as_it_is(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with mock.patch.object(lora, "merge", fake_merge([])):
        assert lora.resolve(str(tmp_path)) == str(tmp_path)
        assert lora.resolve("org/hub-model") == "org/hub-model"


def test_resolve_merges_an_adapter_once_and_again_only_when_the_adapter_is_newer(tmp_path):
    (tmp_path / "adapter_config.json").write_text("{}")
    weights = tmp_path / "adapter_model.safetensors"
    weights.write_text("w")
    (tmp_path / "merged.partial").mkdir()  # left by a merge that was cut off
    (tmp_path / "merged.partial" / "half").write_text("x")
    calls = []
    with mock.patch.object(lora, "merge", fake_merge(calls)):
        first = lora.resolve(str(tmp_path))
        done = tmp_path / "merged" / "config.json"
        os.utime(weights, ns=(done.stat().st_mtime_ns,) * 2)  # saved together: up to date
        assert lora.resolve(str(tmp_path)) == first
        os.utime(weights, (done.stat().st_mtime - 10,) * 2)
        assert lora.resolve(str(tmp_path)) == first
        assert calls == [(tmp_path, tmp_path / "merged.partial")]
        os.utime(weights, (done.stat().st_mtime + 10,) * 2)  # trained on since
        assert lora.resolve(str(tmp_path)) == first
    assert first == str(tmp_path / "merged")
    assert len(calls) == 2 and json.loads(done.read_text()) == {"n": 1}
    assert not (tmp_path / "merged.partial").exists()
    assert not (tmp_path / "merged" / "half").exists()


def test_resolve_locks_beside_the_adapter_so_every_rank_and_job_shares_the_lock(tmp_path):
    (tmp_path / "adapter_config.json").write_text("{}")
    with mock.patch.object(lora, "merge", fake_merge([])):
        lora.resolve(str(tmp_path))
    assert (tmp_path / "merged.lock").exists()


def test_resolve_merges_an_adapter_without_weight_files_once(tmp_path):
    (tmp_path / "adapter_config.json").write_text("{}")
    calls = []
    with mock.patch.object(lora, "merge", fake_merge(calls)):
        lora.resolve(str(tmp_path))
        lora.resolve(str(tmp_path))
    assert len(calls) == 1


# ---- saving ---------------------------------------------------------------------------------------


class Trainer:
    def __init__(self, main: bool):
        self.saved: list[str] = []
        self.events: list[str] = []
        self.accelerator = SimpleNamespace(
            is_main_process=main, wait_for_everyone=lambda: self.events.append("wait")
        )

    def save_model(self, path: str) -> None:
        self.saved.append(path)
        self.events.append("save")


def test_an_adapter_run_saves_only_the_adapter_into_the_output_dir(tmp_path):
    trainer = Trainer(main=True)
    with mock.patch.object(lora, "merge_in_subprocess", lambda *a: trainer.events.append("merge")):
        lora.save(trainer, str(tmp_path), "adapter", {})
    assert trainer.saved == [str(tmp_path)] and trainer.events == ["save"]


@pytest.mark.parametrize(
    "main, events", [(True, ["save", "merge", "wait"]), (False, ["save", "wait"])]
)
def test_a_merged_run_saves_the_adapter_beside_and_the_main_process_merges_it_in(
    tmp_path, main, events
):
    trainer = Trainer(main=main)
    merged = []

    def merge(adapter, target, kwargs):
        merged.append((adapter, target, kwargs))
        trainer.events.append("merge")

    with mock.patch.object(lora, "merge_in_subprocess", merge):
        lora.save(trainer, str(tmp_path), "merged", {"dtype": "bfloat16"})
    assert trainer.saved == [str(tmp_path / "adapter")] and trainer.events == events
    if main:
        assert merged == [(tmp_path / "adapter", tmp_path, {"dtype": "bfloat16"})]


def test_the_merge_process_gets_no_distributed_environment_and_the_set_load_options(
    tmp_path, monkeypatch
):
    for key in ("ACCELERATE_USE_DEEPSPEED", "RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE"):
        monkeypatch.setenv(key, "3")
    monkeypatch.setenv("R1LAB_KEEP_ME", "yes")
    monkeypatch.setenv("MASTER_ADDR", "node7")
    seen = {}

    def run(cmd, env, capture_output, text):
        seen.update(cmd=cmd, env=env, capture=(capture_output, text))
        return SimpleNamespace(returncode=0, stderr="")

    with mock.patch("subprocess.run", run):
        lora.merge_in_subprocess(tmp_path / "a", tmp_path / "m", {"dtype": "bfloat16", "x": None})
    assert seen["cmd"] == [
        sys.executable,
        "-m",
        "r1lab.lora",
        str(tmp_path / "a"),
        str(tmp_path / "m"),
        '{"dtype": "bfloat16"}',
    ]
    env = seen["env"]
    assert env["R1LAB_KEEP_ME"] == "yes" and env["MASTER_ADDR"] == "node7"
    assert not {
        "ACCELERATE_USE_DEEPSPEED",
        "RANK",
        "LOCAL_RANK",
        "WORLD_SIZE",
        "LOCAL_WORLD_SIZE",
    } & set(env)
    assert seen["capture"] == (True, True)


def test_a_failed_merge_process_raises_with_the_retry_command_and_the_end_of_its_errors(tmp_path):
    stderr = "x" * 5000 + "Traceback: the real cause"
    with mock.patch(
        "subprocess.run", lambda *a, **kw: SimpleNamespace(returncode=1, stderr=stderr)
    ):
        with pytest.raises(RuntimeError) as err:
            lora.merge_in_subprocess(tmp_path / "a", tmp_path / "m", {})
    text = str(err.value)
    assert text.startswith(f"merging the LoRA adapter in {tmp_path / 'a'} onto its base failed")
    assert f"`python -m r1lab.lora {tmp_path / 'a'} {tmp_path / 'm'}` retries" in text
    assert text.endswith(":\n" + stderr[-3000:])
