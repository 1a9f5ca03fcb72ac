"""Pipelines: stages run in order here, a finished stage is skipped, a killed one resumes, a
failing one stops the chain; `r1lab check` names the broken stage; lineage names the inputs.

The Slurm version (one job per stage, chained afterok) is in tests/test_slurm.py, next to the
cluster it needs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, as_terminal_job, run_r1lab

# Three stages, small enough for a test: a short SFT of the tiny model, GRPO from it (a
# checkpoint every 3 of 15 steps, one log line per step), and its held-out evaluation.
THREE = """\
# @package _global_
kind: pipeline
stages:
  sft:
    recipe: base/tiny
    overrides:
      model.model_name_or_path: {tiny}
      trainer.max_steps: 20
      trainer.save_strategy: "no"
      data.train_size: 300
  grpo:
    recipe: r1_zero/tiny
    overrides:
      model.model_name_or_path: ${{stages.sft.output}}
      trainer.max_steps: {grpo_steps}
      trainer.save_steps: 3
      trainer.logging_steps: 1
      trainer.per_device_train_batch_size: 16
      trainer.num_generations: 8
      trainer.max_completion_length: 16
      evaluate.num_problems: 8
      evaluate.k: 2
      evaluate.greedy: false
  eval:
    evaluate: grpo
"""
STEP_LOG = re.compile(r"\{'loss': ")


def recipe_tree(root: Path, tiny: Path, **pipelines: str) -> dict[str, str]:
    """The project's recipes plus `pipeline_test/<name>` recipes; the env that makes r1lab use them."""
    tree = root / "recipes"
    shutil.copytree(REPO / "recipes", tree)
    (tree / "pipeline_test").mkdir()
    for name, text in pipelines.items():
        (tree / "pipeline_test" / f"{name}.yaml").write_text(text.format(tiny=tiny, grpo_steps=15))
    return {"R1LAB_RECIPES": str(tree)}


def pipeline_recipes(tmp_path_factory, tiny: Path) -> dict[str, str]:
    """`pipeline_test/three`, and `pipeline_test/failing`: the same with a GRPO model that
    passes the checks (its config.json is fine) and fails to load (its weights are not)."""
    broken = tmp_path_factory.mktemp("broken") / "model"
    shutil.copytree(tiny, broken)
    for weights in broken.glob("*.safetensors"):
        weights.write_bytes(b"not a safetensors file")
    failing = THREE.replace("${{stages.sft.output}}", str(broken))
    return recipe_tree(tmp_path_factory.mktemp("tree"), tiny, three=THREE, failing=failing)


@pytest.fixture(scope="module")
def tree(tmp_path_factory, tiny_model) -> dict[str, str]:
    return pipeline_recipes(tmp_path_factory, tiny_model)


def pipeline(*args: str, env: dict[str, str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "r1lab.cli", "pipeline", *args],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's job
        preexec_fn=as_terminal_job,  # Ctrl-C works even if the suite runs in the background
        **kwargs,
    )


def test_check_names_the_broken_stage_in_seconds(tree, tmp_path):
    """Every stage is checked before anything runs; the message names the stage, the recipe and
    the key, and no stage output is made."""
    out = tmp_path / "p"
    proc = run_r1lab(
        "check",
        "pipeline_test/three",
        f"trainer.output_dir={out}",
        "stages.grpo.overrides.trainer.learning_rat=1e-5",
        env=tree,
        timeout=120,
    )
    text = proc.stdout + proc.stderr
    assert proc.returncode == 2, text
    assert "stage 'grpo' (grpo r1_zero/tiny)" in text and "did you mean 'learning_rate'" in text
    assert "ok       stage 'sft'" in text  # the stage before it was checked too, and passed
    assert not out.exists()


def test_check_knows_what_earlier_stages_make(tree, tmp_path):
    """The GRPO stage's model is the SFT stage's output, not there yet: counted as made, not an
    error. The same model path without the stage that makes it is an error naming the recipe."""
    out = tmp_path / "p"
    ok = run_r1lab("check", "pipeline_test/three", f"trainer.output_dir={out}", env=tree)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "made by an earlier stage" not in ok.stdout  # reported as a passed stage instead
    assert f"-> {out}/grpo" in ok.stdout

    alone = run_r1lab(
        "check", "r1_zero/tiny", f"model.model_name_or_path={out}/sft", env=tree, timeout=120
    )
    assert alone.returncode == 2 and "no model at" in alone.stdout, alone.stdout


@pytest.mark.parametrize(
    "override, message",
    [
        ("+stages.grpo.recipee=x", "stages.grpo: unknown key 'recipee' (did you mean 'recipe'?)"),
        ("stages.eval.evaluate=grpoo", "'grpoo' is not an earlier stage that trains a model"),
        ("stages.grpo.recipe=r1_zero/tinyy", "stage 'grpo': unknown recipe 'r1_zero/tinyy'"),
    ],
    ids=["stage-key", "evaluate-target", "stage-recipe"],
)
def test_bad_stage_fails_early(tree, tmp_path, override, message):
    proc = run_r1lab(
        "check", "pipeline_test/three", f"trainer.output_dir={tmp_path}", override, env=tree
    )
    assert proc.returncode == 2 and message in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_stage_reading_a_later_stage_is_refused(tree, tmp_path):
    proc = run_r1lab(
        "check",
        "pipeline_test/three",
        f"trainer.output_dir={tmp_path}",
        f"stages.sft.overrides.model.model_name_or_path={tmp_path}/grpo",
        env=tree,
    )
    text = proc.stdout + proc.stderr
    assert proc.returncode == 2, text
    assert "which stage 'grpo' makes after it: move 'grpo' before 'sft'" in text


@pytest.fixture(scope="module")
def killed_and_rerun(tree, tmp_path_factory) -> dict:
    """Ctrl-C (SIGINT to the process group) in the middle of stage 2, then the same command."""
    out = tmp_path_factory.mktemp("killed") / "p"
    args = ("pipeline_test/three", f"trainer.output_dir={out}")
    first = pipeline(*args, env=tree)
    checkpoint = out / "grpo" / "checkpoint-6" / "trainer_state.json"
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert checkpoint.exists(), (first.kill(), first.communicate()[0][-4000:])
    os.killpg(first.pid, signal.SIGINT)
    text = first.communicate(timeout=120)[0]
    assert first.returncode != 0, text
    assert not (out / "grpo" / "run_info.json").exists(), "stage 2 finished before the kill"
    assert not (out / "eval").exists()
    sft_mtime = (out / "sft" / "model.safetensors").stat().st_mtime_ns
    kept = sorted(int(p.name.split("-")[1]) for p in (out / "grpo").glob("checkpoint-*"))
    second = pipeline(*args, env=tree)
    return {
        "out": out,
        "args": args,
        "sft_mtime": sft_mtime,
        "last_checkpoint": kept[-1],
        "text": second.communicate(timeout=600)[0],
        "code": second.returncode,
    }


def test_killed_pipeline_skips_finished_stage_and_resumes_the_cut_one(killed_and_rerun, tree):
    """The SFT stage is not trained again, GRPO resumes from its checkpoint and trains only the
    steps that were left, and the evaluation runs once the chain reaches it."""
    run = killed_and_rerun
    out, text, last = run["out"], run["text"], run["last_checkpoint"]
    assert run["code"] == 0, text[-4000:]
    assert re.search(r"\[1/3\] sft \(base/tiny\): finished earlier in .*; skipped", text), text
    assert (out / "sft" / "model.safetensors").stat().st_mtime_ns == run["sft_mtime"]
    assert f"resuming from {out}/grpo/checkpoint-{last}" in text
    resumed = text.split("[2/3] grpo", 1)[1].split("[3/3] eval", 1)[0]
    assert len(STEP_LOG.findall(resumed)) == 15 - last, resumed[-3000:]  # the steps left, no more
    state = json.loads((out / "grpo" / "trainer_state.json").read_text())
    assert state["global_step"] == 15
    assert [h["step"] for h in state["log_history"] if "loss" in h] == list(range(1, 16))
    metrics = json.loads((out / "eval" / "heldout.json").read_text())
    assert metrics["model"] == str(out / "grpo") and metrics["problems"] == 8

    third = pipeline(*run["args"], env=tree)  # everything finished: nothing runs again
    text = third.communicate(timeout=300)[0]
    assert third.returncode == 0, text
    assert text.count("; skipped") == 3 and "resuming" not in text


def test_lineage_names_every_input_back_to_the_first(killed_and_rerun, tree):
    """Each stage's output records what made it; `r1lab show <dir>` prints the chain."""
    out = killed_and_rerun["out"]
    grpo = json.loads((out / "grpo" / "lineage.json").read_text())
    assert (grpo["kind"], grpo["recipe"], grpo["stage"]) == ("grpo", "r1_zero/tiny", "grpo")
    assert grpo["pipeline"] == "pipeline_test/three"
    parent = grpo["inputs"]["model"]
    assert parent["ref"] == str(out / "sft")
    assert (parent["lineage"]["recipe"], parent["lineage"]["stage"]) == ("base/tiny", "sft")
    assert (
        grpo["inputs"]["data"]["ref"] == "tasks/arithmetic"
        and "lineage" not in grpo["inputs"]["data"]
    )
    assert grpo["git_commit"] and grpo["r1lab_version"]
    shown = run_r1lab("show", str(out / "grpo"), env=tree)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == str(out / "grpo")
    assert any("made by: grpo r1_zero/tiny" in line for line in lines)
    assert any(line.strip().startswith(f"model: {out / 'sft'}, made by") for line in lines)
    assert any("made by: sft base/tiny" in line and line.startswith("      ") for line in lines)
    card = (out / "grpo" / "README.md").read_text()  # TRL's model card, with the real base
    assert "[None]" not in card and 'model="None"' not in card
    assert f"`{out / 'sft'}`" in card and "## Lineage (r1lab)" in card
    evaluated = json.loads((out / "eval" / "heldout.json").read_text())["lineage"]
    assert evaluated["inputs"]["model"]["lineage"]["stage"] == "grpo"


def test_failing_middle_stage_stops_the_chain(tree, tmp_path):
    """Stage 2's model cannot load: the pipeline fails naming the stage and its log, shows the
    log's end, and stage 3 never runs."""
    out = tmp_path / "p"
    proc = pipeline("pipeline_test/failing", f"trainer.output_dir={out}", env=tree)
    text = proc.communicate(timeout=600)[0]
    assert proc.returncode == 2, text[-3000:]
    log = out / "logs" / "grpo.log"
    assert f"stage 'grpo' (r1_zero/tiny) failed with exit code 1; log: {log}" in text
    assert "Not run: eval." in text
    assert log.exists() and "safetensors" in log.read_text().lower()
    assert (out / "sft" / "run_info.json").exists()
    assert not (out / "eval").exists() and "[3/3]" not in text


@pytest.mark.parametrize("name", ["sft_grpo/qwen2.5-math-7b", "r1/qwen2.5-math-7b", "r1/tiny"])
def test_shipped_pipelines_pass_check_offline(name, tiny_model):
    """The full-scale chains check without their Hub models or datasets (skipped, not failed);
    every stage after the first is checked against what the stages before it make."""
    from r1lab.checks.run import check
    from r1lab.recipe import compose

    recipe = compose(name)
    report = check(recipe)
    assert report.errors == [], report.text()
    stages = [s.name for s in recipe.parsed["stages"]]
    assert sum(f"stage '{s}'" in m for s in stages for m in report.passed) == len(stages)


def test_stage_overrides_reach_the_stage_recipe(tmp_path):
    """Nested overrides from the command line and dotted ones from YAML both land, as Hydra
    values (strings quoted, lists and mappings kept); output_dir is the stage's `output`."""
    from r1lab.kinds.pipeline import stage_recipe, stages_of
    from r1lab.recipe import compose

    recipe = compose(
        "r1/tiny",
        [f"trainer.output_dir={tmp_path}", "stages.reasoning_rl.overrides.trainer.beta=0.04"],
    )
    stages = stages_of(recipe)
    rl = stage_recipe(next(s for s in stages if s.name == "reasoning_rl"), stages)
    assert rl.trainer["beta"] == 0.04
    assert rl.model["model_name_or_path"] == "runs/distill/tiny_student"
    assert rl.rewards["language"] == {"weight": 0.1, "language": "en"}
    assert rl.output_dir == f"{tmp_path}/reasoning_rl"
    evaluation = stage_recipe(next(s for s in stages if s.name == "eval_sft"), stages)
    assert evaluation.name == "r1_zero/tiny"  # the protocol recipe, not the SFT stage's


def test_show_on_a_folder_without_lineage_says_why(tmp_path):
    proc = run_r1lab("show", str(tmp_path))
    assert proc.returncode == 2
    assert f"{tmp_path} holds no lineage.json: it is not a finished r1lab output" in proc.stderr


def test_an_unfinished_earlier_stage_output_is_not_read(tmp_path, tiny_model):
    """A failed or cut-off earlier stage may leave a file behind (an empty selected.parquet): while
    that stage is unfinished the pipeline check does not read it; alone, the file is an error
    that says what it is, not a traceback."""
    from r1lab.checks.run import check
    from r1lab.recipe import compose

    leftover = tmp_path / "traces" / "selected.parquet"
    leftover.parent.mkdir()
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"question": pa.array([], pa.string())}), leftover)  # no rows
    recipe = compose(
        "distill/tiny_student",
        [f"model.model_name_or_path={tiny_model}", f"data.source={leftover}"],
    )
    assert check(recipe, made_earlier=(str(tmp_path / "traces"),)).errors == []
    alone = check(recipe).errors
    assert any(f"cannot read {leftover}" in e for e in alone), alone
