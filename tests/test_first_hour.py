"""What a researcher meets in their first hour: numbers they can trust and errors that are messages.

Each test names a failure a new user hit (issue 8) and fails if it comes back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from r1lab.benchmarks import Benchmark
from r1lab.checks.run import check
from r1lab.data import DataConfig, load_raw
from r1lab.errors import RecipeError
from r1lab.heldout import EvalConfig, verifier_for
from r1lab.metrics import solved
from r1lab.prompts import format_prompt
from r1lab.recipe import compose
from r1lab.rewards import get_reward
from r1lab.run_dir import differences
from r1lab.scoring import score

from conftest import REPO, as_terminal_job, run_r1lab

# ---- 1. evaluation scores with the task's verifier; partial credit is never a pass ------------

COUNTDOWN_ROW = {"prompt": "p", "nums": [4, 2, 8], "target": 6, "solution": "8 - 4 + 2"}


def samples(*answers: str) -> list[dict]:
    asked = format_prompt("q", "r1_zero")
    return [
        {
            "prompt_id": 0,
            "sample": j,
            "prompt": asked,
            "completion": f"<think> t </think> <answer> {a} </answer>",
            "completion_tokens": 1,
            "finish_reason": "stop",
        }
        for j, a in enumerate(answers)
    ]


def verifier_of(recipe, cfg):
    return verifier_for(recipe.reward_specs, DataConfig.from_recipe(recipe.data), cfg)


@pytest.mark.parametrize("recipe", ["r1_zero/countdown_tiny", "r1_zero/tiny"])
def test_countdown_is_verified_by_countdown_even_with_math_rewards(recipe):
    spec = verifier_of(compose(recipe, ["data=countdown"]), EvalConfig())
    assert spec.name == "countdown"
    bench = Benchmark(
        "heldout", "task", template="r1_zero", k=3, verifier=spec.name, verifier_params=spec.params
    )
    problem = {"prompt_id": 0, **COUNTDOWN_ROW, "question": "q"}
    # the target alone, and an equation with the wrong numbers, get countdown's 0.1: not solved
    asked = {0: format_prompt("q", "r1_zero")}
    reward = get_reward(spec.name, **spec.params)
    results = score(bench, [problem], asked, reward, samples("6", "8 - 2", "8 - 4 + 2"))
    assert [r["correct"] for r in results] == [0.0, 0.0, 1.0]


def test_partial_credit_is_never_a_pass():
    assert solved(1.0) and not solved(0.1) and not solved(0.99) and not solved(None)


def test_evaluate_reward_must_judge_answers():
    with pytest.raises(RecipeError, match="evaluate.reward=format does not judge answers"):
        verifier_of(compose("r1_zero/tiny"), EvalConfig(reward="format"))
    spec = verifier_of(compose("r1_zero/tiny", ["data.solution_column=answer"]), EvalConfig())
    assert (spec.name, spec.params) == ("accuracy", {"solution_column": "answer"})


def test_check_warns_when_no_reward_verifies_the_task():
    warnings = check(compose("r1_zero/tiny", ["data=countdown"])).warnings
    assert any("verified by the 'countdown' reward" in w for w in warnings)
    assert check(compose("r1_zero/countdown_tiny")).warnings == []


# ---- 2. a rerun never changes a finished run ---------------------------------------------------


def test_differences_name_training_keys_only():
    stored = {
        "name": "a",
        "trainer": {"learning_rate": 5e-5, "output_dir": "x"},
        "slurm": {"time": 1},
    }
    current = {
        "name": "a",
        "trainer": {"learning_rate": 1e-3, "output_dir": "y"},
        "slurm": {"time": 2},
    }
    assert differences(stored, current) == ["trainer.learning_rate: 5e-05 -> 0.001"]
    assert differences(stored, {**stored, "data": {"seed": 1}}) == ["data.seed: (unset) -> 1"]


@pytest.mark.slow
def test_rerun_of_a_finished_run_is_a_no_op_and_a_changed_recipe_is_refused(tiny_model, tmp_path):
    out = tmp_path / "sft"
    args = [
        "sft",
        "base/tiny",
        f"trainer.output_dir={out}",
        "trainer.max_steps=2",
        "data.train_size=64",
    ]
    first = run_r1lab(*args)
    assert first.returncode == 0, first.stderr[-2000:]
    weights = out / "model.safetensors"
    stamp = weights.stat().st_mtime_ns

    again = run_r1lab(*args)
    assert again.returncode == 0 and "finished at step 2: nothing to do" in again.stdout
    assert weights.stat().st_mtime_ns == stamp
    assert json.loads((out / "run_info.json").read_text())["global_step"] == 2

    saved = (out / "recipe.yaml").read_text()
    changed = run_r1lab(*args, "trainer.learning_rate=1e-3")
    assert changed.returncode == 2
    assert "trainer.learning_rate: 0.002 -> 0.001" in changed.stderr
    assert f"trainer.output_dir={out}-2" in changed.stderr and "--fresh" in changed.stderr
    assert (out / "recipe.yaml").read_text() == saved and weights.stat().st_mtime_ns == stamp

    fresh = run_r1lab(*args, "trainer.learning_rate=1e-3", "--fresh")
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    assert "learning_rate: 0.001" in (out / "recipe.yaml").read_text()


# ---- 3. evaluation never uses training rows ------------------------------------------------------


@pytest.fixture
def jsonl(tmp_path) -> Path:
    path = tmp_path / "problems.jsonl"
    path.write_text(
        "".join(json.dumps({"question": f"q{i}", "answer": str(i)}) + "\n" for i in range(40))
    )
    return path


def test_a_single_file_has_no_test_rows_unless_the_recipe_names_them(jsonl, tmp_path):
    cfg = DataConfig(source=str(jsonl))
    assert len(load_raw(cfg, "train")) == 40
    with pytest.raises(RecipeError, match="would score the training rows.*data.test_fraction"):
        load_raw(cfg, "test")
    held = DataConfig(source=str(jsonl), test_fraction=0.25)
    train, test = load_raw(held, "train")["question"], load_raw(held, "test")["question"]
    assert len(test) == 10 and len(train) == 30 and not set(train) & set(test)
    other = tmp_path / "test.jsonl"
    other.write_text(json.dumps({"question": "held out", "answer": "1"}) + "\n")
    assert load_raw(DataConfig(source=str(jsonl), test_source=str(other)), "test")["question"] == [
        "held out"
    ]


# ---- 4. data.solution_column says where the reference is, for every reward ---------------------


def test_solution_column_reaches_the_rewards_and_the_error_shows_the_override(jsonl):
    base = ["data.source=" + str(jsonl), "data.train_size=null", "data.test_size=null"]
    ok = compose("r1_zero/tiny", [*base, "data.solution_column=answer"])
    assert {s.name: s.params for s in ok.reward_specs}["accuracy"] == {"solution_column": "answer"}
    assert not [e for e in check(ok).errors if "rewards" in e]
    errors = "\n".join(check(compose("r1_zero/tiny", base)).errors)
    assert "rewards.accuracy needs dataset column(s) ['solution']" in errors
    assert "data.solution_column=answer" in errors


# ---- 5. values TRL/torch reject after the model loads are caught by the check -------------------


@pytest.mark.parametrize(
    "override, word",
    [("trainer.learning_rate=-1e-4", "Invalid learning rate"), ("trainer.adam_beta1=1.5", "beta")],
)
def test_optimizer_values_are_checked_before_any_model_loads(override, word):
    errors = "\n".join(check(compose("base/tiny", [override])).errors)
    assert "the optimizer" in errors and word in errors


# ---- errors that are messages --------------------------------------------------------------------


def test_malformed_recipe_yaml_gives_file_line_column(tmp_path):
    import shutil

    root = tmp_path / "recipes"
    shutil.copytree(REPO / "recipes", root)
    (root / "base" / "broken.yaml").write_text("kind: sft\ntrainer:\n  max_steps: 3\n   bad: [1\n")
    proc = run_r1lab("check", "base/broken", env={"R1LAB_RECIPES": str(root)})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{root}/base/broken.yaml:4:7: invalid YAML" in proc.stderr


def test_save_steps_past_max_steps_warns_that_an_interruption_starts_over():
    warnings = check(compose("base/tiny", ["trainer.max_steps=50"])).warnings
    assert any("save_steps=100 >= trainer.max_steps=50" in w for w in warnings)
    assert check(compose("base/tiny")).warnings == []


def test_show_get_prints_the_effective_output_dir():
    proc = run_r1lab("show", "r1_zero/tiny", "--get", "trainer.output_dir")
    assert proc.stdout.strip() == "runs/r1_zero/tiny"


def test_missing_recipe_output_names_the_recipe_and_the_command():
    # the 7B recipe's output is never on this machine: the message must say how to make it
    ref = "runs/r1_zero/qwen2.5-math-7b"
    errors = "\n".join(check(compose("r1_zero/tiny", [f"model.model_name_or_path={ref}"])).errors)
    assert f"no model at '{ref}'" in errors
    assert "output of recipe 'r1_zero/qwen2.5-math-7b'" in errors
    assert "`make grpo RECIPE=r1_zero/qwen2.5-math-7b`" in errors


@pytest.mark.slow
def test_ctrl_c_prints_one_line_saying_how_to_resume(tiny_model, tmp_path):
    out = tmp_path / "sft"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "r1lab.cli",
            "sft",
            "base/tiny",
            f"trainer.output_dir={out}",
            "trainer.save_steps=5",
            "data.train_size=300",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
        preexec_fn=as_terminal_job,  # Ctrl-C works even if the suite runs in the background
    )
    deadline = time.time() + 300
    while not (out / "checkpoint-5" / "trainer_state.json").exists():
        assert proc.poll() is None and time.time() < deadline, "run ended before Ctrl-C"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends: the whole foreground group
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "Traceback" not in stderr, stderr[-3000:]
    assert "stopped at step" in stdout and "rerun the same command to resume" in stdout
    assert f"last checkpoint: {out}/checkpoint-" in stdout
