"""Kind grpo_async (TRL's AsyncGRPOTrainer): its recipe checked offline, what it cannot run refused
with the reason, and the Slurm plan pointing it at the server node.

AsyncGRPOTrainer cannot run on this CPU (FA3 CUDA attention, NCCL weight sync), so nothing here
trains; these tests run r1lab's real checks and plan on the shipped full-scale recipe.
"""

from __future__ import annotations

import pickle
import subprocess
import textwrap

import pytest

from r1lab import grpo_async
from r1lab.check import check
from r1lab.recipe import compose

from conftest import REPO, run_r1lab

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
    assert "no reference model" not in proc.stdout  # the plan has no reference term at all
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


def test_the_slurm_plan_points_the_trainer_at_the_server_node_by_url():
    from r1lab.slurm import make_plan, shell_plan

    text = shell_plan(make_plan(compose(RECIPE)))
    assert "USE_VLLM_SERVER=1" in text and "R1LAB_MODULE=r1lab.grpo_async" in text
    shown = subprocess.run(
        [
            "bash",
            "-c",
            text + 'SERVER_NODE=node2; echo "${VLLM_OVERRIDES[@]//%HOST%/$SERVER_NODE}"',
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert shown == ["trainer.vllm_server_base_url=http://node2:8000"]
    grpo = shell_plan(make_plan(compose("r1_zero/qwen2.5-math-7b")))
    shown = subprocess.run(
        [
            "bash",
            "-c",
            grpo + 'SERVER_NODE=node2; echo "${VLLM_OVERRIDES[@]//%HOST%/$SERVER_NODE}"',
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert shown == ["trainer.vllm_server_host=node2", "trainer.vllm_server_port=8000"]
    # the same expansion as train.slurm's (whose real run, grpo on 2 nodes, is in test_slurm.py)
    assert (
        '"${VLLM_OVERRIDES[@]//%HOST%/$SERVER_NODE}"'
        in (REPO / "slurm" / "train.slurm").read_text()
    )
