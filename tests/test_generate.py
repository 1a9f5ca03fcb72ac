"""The generate kind on the real tiny model (transformers backend): every sample exactly once, with
ids and provenance, after any kill; selection rerun on saved samples; a student trains on them.

The vLLM backends (offline engine, OpenAI-compatible server) run in test_generation_vllm.py; the
2-node Slurm job in test_slurm.py. The shard/resume logic tested here is the same for every backend.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from r1lab.checks.run import check
from r1lab.errors import RecipeError
from r1lab.recipe import compose

from conftest import REPO, run_r1lab

PROMPTS, N, SHARD = 24, 2, 4  # 6 shards
FAST = [
    "generate.backend=hf",
    f"data.train_size={PROMPTS}",
    f"generate.shard_size={SHARD}",
    f"generate.num_samples={N}",
    "generate.max_new_tokens=24",
    # the 30-step test base model is rarely right: keep every untruncated sample it writes
    "select.verifiers.accuracy=0.0",
    "select.verifiers.format=0.0",
    "select.drop_truncated=false",
]


def gen_args(model: Path, out: Path, *extra: str) -> list[str]:
    return [f"model.model_name_or_path={model}", f"trainer.output_dir={out}", *FAST, *extra]


def samples(out: Path) -> list[dict]:
    """The samples folder as `datasets` loads it (the issue's promise: a loadable dataset)."""
    import datasets

    return datasets.load_dataset(str(out / "samples"), split="train").to_list()


def keyed(rows: list[dict]) -> dict[tuple[int, int], str]:
    return {(r["prompt_id"], r["sample"]): r["completion"] for r in rows}


@pytest.fixture(scope="module")
def generated(base_model, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "run"
    proc = run_r1lab("generate", "distill/tiny", *gen_args(base_model, out))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return out


def test_every_prompt_has_n_samples_with_ids_metadata_and_provenance(generated, base_model):
    from transformers import AutoTokenizer

    rows = samples(generated)
    assert len(rows) == PROMPTS * N
    assert set(keyed(rows)) == {(i, j) for i in range(PROMPTS) for j in range(N)}
    first = rows[0]
    assert {"question", "solution", "prompt", "completion", "finish_reason"} <= set(first)
    assert {r["teacher"] for r in rows} == {str(base_model)}
    assert {r["backend"] for r in rows} == {"hf"} and {r["recipe"] for r in rows} == {
        "distill/tiny"
    }
    assert json.loads(first["sampling"]) == {
        "num_samples": N,
        "temperature": 1.0,
        "top_p": 1.0,
        "max_new_tokens": 24,
        "seed": 0,
    }
    tok = AutoTokenizer.from_pretrained(base_model)
    for r in rows[:6]:
        assert r["prompt_tokens"] == len(tok(r["prompt"], add_special_tokens=False)["input_ids"])
        assert 1 <= r["completion_tokens"] <= 24
        assert r["finish_reason"] in ("stop", "length")
    manifest = json.loads((generated / "generation.json").read_text())
    assert manifest["samples"] == PROMPTS * N and manifest["shards"] == PROMPTS // SHARD
    assert manifest["completion_tokens"] == sum(r["completion_tokens"] for r in rows)
    # the selection's outputs are there, and every kept sample is one that was generated
    kept = json.loads((generated / "selection.json").read_text())
    assert kept["samples"] == PROMPTS * N and (generated / "pass_rate.png").stat().st_size > 0
    import datasets

    selected = datasets.load_dataset("parquet", data_files=str(generated / "selected.parquet"))
    assert set(keyed(selected["train"].to_list())) <= set(keyed(rows))


def test_selected_samples_train_the_student(generated, base_model, tmp_path):
    """`selected.parquet` is an SFT recipe's data.source as is: distill/tiny_student trains on it."""
    out = tmp_path / "student"
    proc = run_r1lab(
        "sft",
        "distill/tiny_student",
        f"data.source={generated / 'selected.parquet'}",
        f"model.model_name_or_path={base_model}",
        f"trainer.output_dir={out}",
        "trainer.max_steps=2",
        "trainer.save_strategy=no",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "config.json").exists()


def _generate_process(model: Path, out: Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "r1lab.kinds.generate", "distill/tiny", *gen_args(model, out)],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _shards(out: Path) -> int:
    return len(list((out / "samples").glob("shard-*.parquet")))


def test_kill_9_at_any_point_then_rerun_gives_every_sample_once_and_the_same_samples(
    generated, base_model, tmp_path
):
    """Killed with SIGKILL twice mid-run (no handler can run), the same command finishes the job:
    every (prompt, sample) exactly once, and the very samples an uninterrupted run produced."""
    out = tmp_path / "killed"
    total = PROMPTS // SHARD
    for at_least in (1, 3):
        proc = _generate_process(base_model, out)
        deadline = time.monotonic() + 300
        while _shards(out) < at_least and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        done = _shards(out)
        assert at_least <= done < total, f"the kill came too late to test a resume ({done} shards)"
    proc = _generate_process(base_model, out)
    assert proc.wait(timeout=600) == 0, proc.stderr.read()[-3000:]
    rows = samples(out)
    assert len(rows) == PROMPTS * N  # no sample twice
    assert keyed(rows) == keyed(samples(generated))  # none missing, and the same text


def test_nodes_split_the_shards_and_node_0_selects(base_model, tmp_path):
    """What each Slurm node runs (R1LAB_NODE_RANK/R1LAB_NUM_NODES from slurm/train-node.sh): node 1
    writes the odd shards and stops; node 0 writes the even ones, then selects over all."""
    out = tmp_path / "two"
    node1 = _generate_process(base_model, out, {"R1LAB_NODE_RANK": "1", "R1LAB_NUM_NODES": "2"})
    assert node1.wait(timeout=600) == 0, node1.stderr.read()[-3000:]
    names = sorted(p.name for p in (out / "samples").glob("shard-*.parquet"))
    assert names == ["shard-00001.parquet", "shard-00003.parquet", "shard-00005.parquet"]
    assert not (out / "selected.parquet").exists()
    node0 = _generate_process(base_model, out, {"R1LAB_NODE_RANK": "0", "R1LAB_NUM_NODES": "2"})
    assert node0.wait(timeout=600) == 0, node0.stderr.read()[-3000:]
    assert _shards(out) == PROMPTS // SHARD and (out / "selected.parquet").exists()
    assert len(samples(out)) == PROMPTS * N


def test_select_reruns_on_saved_samples_without_generating(generated, base_model, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(generated, out)
    stamps = {p: p.stat().st_mtime_ns for p in (out / "samples").iterdir()}
    proc = run_r1lab(
        "select", "distill/tiny", *gen_args(base_model, out), "select.max_per_prompt=1"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert {p: p.stat().st_mtime_ns for p in (out / "samples").iterdir()} == stamps
    import pyarrow.parquet as pq

    kept = pq.read_table(out / "selected.parquet").to_pylist()
    per_prompt = [r["prompt_id"] for r in kept]
    assert kept and len(per_prompt) == len(set(per_prompt))  # at most one per prompt now
    # a generate run with the new selection reuses every shard and selects again
    again = run_r1lab("generate", "distill/tiny", *gen_args(base_model, out), "select.dedup=false")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "0 to do here" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in (out / "samples").iterdir()} == stamps


def test_other_sampling_settings_never_mix_into_saved_samples(generated, base_model, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(generated, out)
    args = gen_args(base_model, out, "generate.temperature=0.5")
    proc = run_r1lab("generate", "distill/tiny", *args)
    assert proc.returncode == 2
    assert "generate.temperature: 1.0 -> 0.5" in proc.stderr, proc.stderr[-2000:]


def _errors(recipe: str, *overrides: str) -> str:
    return "\n".join(check(compose(recipe, list(overrides))).errors)


def test_bad_generation_settings_fail_before_any_model_loads(tiny_model):
    model = f"model.model_name_or_path={tiny_model}"
    with pytest.raises(RecipeError, match="did you mean 'vllm'"):
        compose("distill/tiny", [model, "generate.backend=vlm"])
    with pytest.raises(RecipeError, match="generate.top_p=0.0 must be in"):
        compose("distill/tiny", [model, "generate.top_p=0.0"])
    assert "generate.base_url" in _errors("distill/tiny", model, "generate.backend=openai")
    too_long = _errors("distill/tiny", model, "generate.max_new_tokens=1000")
    assert "exceeds the model's context of 256 tokens" in too_long
    assert "set generate.max_new_tokens<=" in too_long
    assert "trains nothing" in _errors("distill/tiny", model, "trainer.learning_rate=1e-5")


def test_a_student_whose_data_is_not_generated_yet_checks_and_says_how_to_make_it():
    report = check(compose("distill/qwen2.5-math-7b_student"))
    assert not report.errors, report.text()
    assert any("make generate RECIPE=distill/math" in s for s in report.skipped), report.text()
    running = check(compose("distill/qwen2.5-math-7b_student"), running=True)
    assert any(
        "no file or folder at 'runs/distill/math/selected.parquet'" in e for e in running.errors
    )


def test_an_unreachable_server_fails_in_seconds_with_what_to_do():
    import socket

    from r1lab.generation import load_generator

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(RecipeError, match="no OpenAI-compatible server answers at") as err:
        load_generator("openai", "my-teacher", base_url=f"http://127.0.0.1:{port}/v1")
    assert "vllm.entrypoints.openai.api_server --model my-teacher" in str(err.value)
    assert time.monotonic() - start < 30


def test_request_seeds_never_collide_across_prompts_samples_or_run_seeds():
    """vLLM seeds sample j of a request with seed + j: additive seeds (seed + prompt id) would give
    prompt p's second sample the stream of prompt p+1's first, and a seed-1 run most of a seed-0
    run's samples. Mixed seeds keep every (run seed, prompt, sample) apart."""
    from r1lab.generation import request_seed

    seeds = [request_seed(s, p) + j for s in range(3) for p in range(2000) for j in range(8)]
    assert len(set(seeds)) == len(seeds)
    assert all(0 <= x < 2**63 for x in seeds)
    assert request_seed(0, 5) == request_seed(0, 5)  # repeatable


def test_a_template_that_opens_the_thinking_gives_it_back_to_the_completion():
    from r1lab.generation import think_prefix

    assert think_prefix("<｜User｜>2+2?<｜Assistant｜><think>\n") == "<think>\n"
    assert think_prefix("... Assistant:") == ""
    assert think_prefix("<think> a </think> Assistant:") == ""


def test_generate_settings_of_the_wrong_type_or_meaningless_are_refused(tiny_model):
    model = f"model.model_name_or_path={tiny_model}"
    with pytest.raises(RecipeError, match="generate.num_samples='four' must be int"):
        compose("distill/tiny", [model, "generate.num_samples=four"])
    with pytest.raises(RecipeError, match="generate.shard_size=2.5 must be int"):
        compose("distill/tiny", [model, "generate.shard_size=2.5"])
    with pytest.raises(RecipeError, match="1 at temperature 0"):
        compose("distill/tiny", [model, "generate.temperature=0", "generate.num_samples=4"])
    compose("distill/tiny", [model, "generate.temperature=0", "generate.num_samples=1"])


def test_shards_share_one_schema_even_when_a_column_is_empty_in_one(tmp_path):
    """A source column that is null in every row of one shard and text in another: both shards get
    the source's type, so the folder loads as one dataset."""
    import datasets
    import pyarrow as pa

    from r1lab.generation.shards import load_samples, samples_schema, write_shard

    schema = samples_schema(pa.schema([("question", pa.string()), ("note", pa.string())]))

    def sample(pid: int, note: str | None) -> dict:
        return {
            "prompt_id": pid,
            "question": "q",
            "note": note,
            "sample": 0,
            "completion": "c",
            "finish_reason": "stop",
            "prompt_tokens": 1,
            "completion_tokens": 1,
            "teacher": "t",
            "backend": "hf",
            "sampling": "{}",
            "recipe": "r",
        }

    write_shard(tmp_path, 0, [sample(0, None)], 1.0, schema)
    write_shard(tmp_path, 1, [sample(1, "text")], 1.0, schema)
    assert [r["note"] for r in load_samples(tmp_path)] == [None, "text"]
    assert len(datasets.load_dataset(str(tmp_path / "samples"), split="train")) == 2


def test_a_hub_datasets_verifier_columns_are_checked_as_soon_as_it_loads():
    """distill/math reads MATH from the Hub: its columns are known only once loaded, before any
    sample is generated; a verifier's missing column must fail there, not after the generation."""
    from r1lab.checks.run import check_columns

    report = check_columns(compose("distill/math"), ["problem", "answer"])
    assert any(
        "select.verifiers.accuracy needs column(s) ['solution']" in e for e in report.errors
    ), report.text()
    assert not check_columns(compose("distill/math"), ["problem", "solution"]).errors


def test_a_served_teacher_is_not_looked_for_on_disk():
    report = check(
        compose("distill/math_r1_api", ["model.model_name_or_path=/models/only/on/the/server"])
    )
    assert not report.errors, report.text()
    assert any("served model's name" in s for s in report.skipped)


def test_node_0_stops_waiting_for_other_nodes_when_preempted(tmp_path, monkeypatch):
    """Otherwise it would wait out the time limit and the job would never be requeued."""
    from r1lab import preempt
    from r1lab.generation.shards import wait_for_shards

    flag = tmp_path / "preempt"
    flag.touch()
    monkeypatch.setenv("R1LAB_PREEMPT_FILE", str(flag))
    try:
        assert wait_for_shards(tmp_path, 3, poll=0.01) is False
    finally:
        preempt.reset()
    monkeypatch.delenv("R1LAB_PREEMPT_FILE")
    assert wait_for_shards(tmp_path, 0) is True
