"""The switches that scale a recipe, each run for real: LoRA (SFT, then GRPO on its output, then
evaluation), DeepSpeed ZeRO-2 and ZeRO-3 on 2 CPU ranks over gloo (SFT, then LoRA GRPO), and the
checks that refuse a switch whose package or hardware is missing.

PEFT comes with `pip install -e .`, DeepSpeed with `make install`; without DeepSpeed the ZeRO tests
skip with the reason, except under CI=true, where they fail.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from r1lab.checks import context as check_context
from r1lab.checks.packages import installed
from r1lab.checks.run import check
from r1lab.errors import RecipeError
from r1lab.recipe import compose

from conftest import REPO, assert_full_model, launch_two_ranks, run_r1lab


def report(name: str, *overrides: str, **kw):
    return check(compose(name, list(overrides)), **kw)


def errors(name: str, *overrides: str, **kw) -> str:
    return "\n".join(report(name, *overrides, **kw).errors)


def missing(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Make `modules` unimportable, as on a machine without them (find_spec then finds nothing)."""
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)
    assert not any(installed(m) for m in modules)


# ---- checks: a switch whose package or hardware is missing ------------------------------------


def test_use_peft_without_peft_says_what_to_install(tiny_model, monkeypatch):
    assert errors("base/tiny", "model.use_peft=true") == ""
    missing(monkeypatch, "peft")
    msg = errors("base/tiny", "model.use_peft=true")
    assert "model.use_peft=true" in msg and "pip install 'peft>=0.17,<0.22'" in msg
    assert "model.use_peft=false" in msg
    assert errors("base/tiny") == ""  # no LoRA asked for, no PEFT needed


def test_deepspeed_config_without_deepspeed_says_what_to_install(tiny_model, monkeypatch):
    missing(monkeypatch, "deepspeed")
    for stage in ("zero2", "zero3"):
        msg = errors("base/tiny", f"accelerate={stage}")
        assert f"accelerate={stage} runs DeepSpeed, which is not installed here" in msg
        assert "pip install -e '.[deepspeed]'" in msg and "accelerate=ddp" in msg
    assert errors("base/tiny", "accelerate=ddp") == ""


def test_deepspeed_precision_mismatch_is_refused_before_the_model_loads(tiny_model, monkeypatch):
    """zero2.yaml says bf16; a CPU trainer has bf16 off: transformers raises only after loading."""
    if not installed("deepspeed"):
        pytest.skip("DeepSpeed is not installed")
    plain = report("base/tiny", "accelerate=zero2")
    assert plain.errors == [] and "--mixed_precision no" in "\n".join(plain.warnings)
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")  # what accelerate launch passes on
    msg = errors("base/tiny", "accelerate=zero2", running=True)
    assert "mixed_precision bf16, but the trainer's precision is no" in msg
    assert "add --mixed_precision no" in msg
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "no")
    assert errors("base/tiny", "accelerate=zero2", running=True) == ""


GPU_RUN = ("accelerate=ddp", "trainer.use_cpu=false")  # a GPU recipe's shape, on the tiny model


def test_liger_and_bf16_without_a_gpu_are_refused(tiny_model, monkeypatch):
    msg = errors("base/tiny", "trainer.use_liger_kernel=true")  # a CPU recipe
    assert "Liger's Triton kernels run only on a CUDA GPU" in msg
    assert "trainer.use_liger_kernel=false" in msg
    monkeypatch.setattr(check_context, "has_gpu", lambda: False)  # the run starts on no GPU
    msg = errors("base/tiny", *GPU_RUN, "trainer.use_liger_kernel=true", running=True)
    assert "Liger's Triton kernels run only on a CUDA GPU" in msg
    msg = errors("base/tiny", *GPU_RUN, "trainer.bf16=true", running=True)
    assert "trainer.bf16=false" in msg
    # on a GPU machine, the missing package is what is reported
    monkeypatch.setattr(check_context, "has_gpu", lambda: True)
    missing(monkeypatch, "liger_kernel")
    msg = errors(
        "base/tiny", *GPU_RUN, "trainer.bf16=true", "trainer.use_liger_kernel=true", running=True
    )
    assert "needs the liger-kernel package" in msg and "pip install -e '.[liger]'" in msg
    assert "CUDA GPU" not in msg


def test_use_vllm_without_vllm_says_what_to_install(monkeypatch):
    missing(monkeypatch, "vllm")
    msg = errors("r1_zero/qwen2.5-math-7b")
    assert "trainer.use_vllm=true: vLLM is not installed here" in msg
    assert "pip install -e '.[vllm]'" in msg and "trainer.use_vllm=false" in msg


def test_cli_refuses_a_missing_package_in_seconds(tiny_model):
    """`r1lab check` as a user runs it, in a process where PEFT and DeepSpeed cannot import."""
    code = (
        "import sys; sys.modules['peft'] = sys.modules['deepspeed'] = None; "
        "from r1lab.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    args = ["check", "base/tiny", "model.use_peft=true", "accelerate=zero3"]
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "pip install 'peft" in out and "pip install -e '.[deepspeed]'" in out


def test_lora_section_is_checked():
    with pytest.raises(RecipeError, match="did you mean 'save'"):
        compose("base/tiny", ["lora.sav=adapter"])
    with pytest.raises(RecipeError, match="lora.save='everything': must be merged"):
        compose("base/tiny", ["lora.save=everything"])
    assert "model.use_peft is false" in "\n".join(report("base/tiny", "lora.save=adapter").warnings)


def test_launch_passes_the_trainers_precision():
    """`r1lab launch` (make) gives accelerate the trainer's precision, not the file's bf16."""
    from r1lab.kind import get_kind
    from r1lab.launch import local_command

    cmd = local_command(get_kind("sft"), compose("base/tiny", ["accelerate=zero3"]), 2)
    assert cmd[cmd.index("--mixed_precision") + 1] == "no"
    gpu = compose("r1_zero/qwen2.5-math-7b")
    cmd = local_command(get_kind("grpo"), gpu, 8)
    assert cmd[cmd.index("--mixed_precision") + 1] == "bf16"


# ---- LoRA for real: SFT (merged) -> GRPO on it (adapter) -> evaluation ------------------------


def logits(model, ids):
    import torch

    with torch.no_grad():
        return model(torch.tensor([ids])).logits


@pytest.mark.slow
def test_lora_sft_then_lora_grpo_then_evaluate(tiny_model, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    sft = tmp_path / "sft"
    proc = run_r1lab(
        "sft",
        "base/tiny",
        "model.use_peft=true",
        "model.lora_r=8",
        "model.lora_alpha=16",
        "model.lora_target_modules=[q_proj,v_proj,o_proj]",
        "trainer.max_steps=4",
        "trainer.save_strategy=no",
        "data.train_size=200",
        f"trainer.output_dir={sft}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((sft / "run_info.json").read_text())["global_step"] == 4
    # default lora.save=merged: a plain model, and the adapter beside it
    adapter = json.loads((sft / "adapter" / "adapter_config.json").read_text())
    assert adapter["r"] == 8 and adapter["lora_alpha"] == 16
    assert set(adapter["target_modules"]) == {"q_proj", "v_proj", "o_proj"}
    assert not (sft / "adapter_config.json").exists()
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    merged = AutoModelForCausalLM.from_pretrained(sft)
    ids = [5, 6, 7, 8, 9]
    on_base = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_model), sft / "adapter"
    )
    assert not logits(merged, ids).allclose(logits(base, ids), atol=1e-4)  # it learned something
    assert logits(merged, ids).allclose(logits(on_base, ids), atol=1e-4)  # exactly the adapter's
    changed = {
        k.split(".")[-2]
        for k, v in merged.state_dict().items()
        if not v.equal(base.state_dict()[k])
    }
    assert changed == {"q_proj", "v_proj", "o_proj"}  # only LoRA's targets moved

    # GRPO with a new adapter on the merged SFT model, saved as the adapter alone
    grpo = tmp_path / "grpo"
    proc = run_r1lab(
        "grpo",
        "r1_zero/tiny",
        f"model.model_name_or_path={sft}",
        "model.use_peft=true",
        "lora.save=adapter",
        "trainer.max_steps=2",
        "trainer.per_device_train_batch_size=16",
        "trainer.max_completion_length=24",
        "trainer.save_strategy=no",
        f"trainer.output_dir={grpo}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((grpo / "run_info.json").read_text())["global_step"] == 2
    assert (grpo / "adapter_model.safetensors").exists() and not (grpo / "config.json").exists()
    assert json.loads((grpo / "adapter_config.json").read_text())["base_model_name_or_path"] == str(
        sft
    )
    loaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(sft), grpo)
    assert loaded.peft_config["default"].r == 16  # TRL's default lora_r

    # a next stage is checked through the adapter's base (context length, tokenizer) ...
    assert errors("r1_zero/tiny", f"model.model_name_or_path={grpo}") == ""
    # ... and evaluation takes the adapter folder as is: merged onto its base once, then used
    proc = run_r1lab(
        "evaluate", "r1_zero/tiny", "--model", str(grpo), "--k", "2", "--num-problems", "4"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "pass@1" in proc.stdout
    assert (grpo / "merged" / "config.json").exists()
    remerged = AutoModelForCausalLM.from_pretrained(grpo / "merged")
    assert logits(remerged, ids).allclose(logits(loaded, ids), atol=1e-4)


# ---- DeepSpeed ZeRO-2 / ZeRO-3 for real: 2 CPU ranks over gloo --------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["zero2", "zero3"])
def test_deepspeed_sft_then_grpo_on_two_cpu_ranks(stage, deepspeed_installed, tiny_model, tmp_path):
    sft = tmp_path / "sft"
    launch_two_ranks(
        stage,
        "sft",
        "base/tiny",
        "trainer.max_steps=3",
        "trainer.per_device_train_batch_size=16",
        "data.train_size=200",
        f"trainer.output_dir={sft}",
    )
    model, base = assert_full_model(sft, tiny_model, steps=3)
    moved = [k for k, v in model.state_dict().items() if not v.equal(base.state_dict()[k])]
    assert len(moved) > len(model.state_dict()) // 2  # trained, and every rank's share saved

    # GRPO with LoRA on the SFT output: the adapter is gathered across ranks, then merged (in a
    # process of its own: under ZeRO-3 transformers would load the base partitioned, and hang)
    grpo = tmp_path / "grpo"
    launch_two_ranks(
        stage,
        "grpo",
        "r1_zero/tiny",
        f"model.model_name_or_path={sft}",
        "model.use_peft=true",
        "trainer.max_steps=2",
        "trainer.per_device_train_batch_size=8",
        "trainer.max_completion_length=24",
        f"trainer.output_dir={grpo}",
    )
    assert_full_model(grpo, sft, steps=2)
    adapter = grpo / "adapter" / "adapter_model.safetensors"
    assert adapter.exists() and adapter.stat().st_size > 10_000  # LoRA A/B, not empty partitions
