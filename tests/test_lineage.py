"""Lineage without a run: which output holds an input, what `make`/`record` write and `load`
reads back, how `text` prints the chain, the git commit, the torch state and CPU recorded, and the
model card it fills (r1lab.lineage). Versions, env vars and seeds: tests/test_lineage_env.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import torch

import r1lab.paths
from r1lab import __version__, lineage
from r1lab.recipe import Recipe


def recipe(**sections) -> Recipe:
    base = {
        "name": "r1_zero/tiny",
        "kind": "grpo",
        "model": {"model_name_or_path": "Qwen/Qwen2.5-0.5B"},
        "data": {"source": "arithmetic"},
        "trainer": {},
    }
    return Recipe(**{**base, **sections})


def output(folder: Path, **fields) -> Path:
    """An r1lab output: a folder holding a lineage.json."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / lineage.FILE).write_text(json.dumps({"output": str(folder), **fields}))
    return folder


# ---- finding the output that holds an input ------------------------------------------------


def test_find_looks_in_the_ref_and_two_folders_above_it(tmp_path):
    out = output(tmp_path / "gen")
    (out / "selection" / "parts").mkdir(parents=True)
    for ref in (out, out / "selection", out / "selection" / "parts"):
        assert lineage.find(str(ref)) == out / lineage.FILE
    (out / "selection" / "parts" / "deep").mkdir()
    assert lineage.find(str(out / "selection" / "parts" / "deep")) is None  # three above: no
    assert lineage.find(str(tmp_path / "not-there")) is None
    assert lineage.find(str(tmp_path)) is None  # a folder that is no output


def test_find_reads_a_ref_under_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    output(tmp_path / "runs" / "gen")
    assert lineage.find("~/runs/gen") == tmp_path / "runs" / "gen" / lineage.FILE


def test_find_ignores_a_folder_named_lineage_json(tmp_path):
    (tmp_path / "run" / lineage.FILE).mkdir(parents=True)
    assert lineage.find(str(tmp_path / "run")) is None


def test_describe_an_output_a_local_file_and_a_hub_id(tmp_path, monkeypatch):
    out = output(tmp_path / "gen", kind="generate")
    assert lineage.describe(str(out)) == {
        "ref": str(out),
        "path": str(out.resolve()),
        "lineage": {"output": str(out), "kind": "generate"},
    }
    plain = tmp_path / "rows.jsonl"
    plain.write_text("{}\n")
    monkeypatch.chdir(tmp_path)
    assert lineage.describe("rows.jsonl") == {"ref": "rows.jsonl", "path": str(plain.resolve())}
    assert lineage.describe("Qwen/Qwen2.5-0.5B") == {"ref": "Qwen/Qwen2.5-0.5B"}


def test_inputs_are_the_recipes_model_or_the_one_given_and_its_data():
    assert lineage.inputs(recipe()) == {
        "model": {"ref": "Qwen/Qwen2.5-0.5B"},
        "data": {"ref": "arithmetic"},
    }
    assert lineage.inputs(recipe(), model="sampled/model")["model"] == {"ref": "sampled/model"}
    assert lineage.inputs(recipe(model={}, data={})) == {}


def test_other_models_a_kind_names_are_inputs_with_their_revision_and_lineage(tmp_path):
    """A distillation's teacher, as `Kind.input_models` names it: described like the model (its
    lineage inside when r1lab made it), with the revision it was loaded at."""
    teacher = output(tmp_path / "teacher", kind="grpo")
    found = lineage.inputs(recipe(), models={"teacher": (str(teacher), None)})
    assert list(found) == ["model", "teacher", "data"]
    assert found["teacher"]["lineage"]["kind"] == "grpo"
    hub = lineage.inputs(recipe(), models={"teacher": ("Qwen/Qwen2.5-Math-1.5B-Instruct", "v2")})
    assert hub["teacher"] == {"ref": "Qwen/Qwen2.5-Math-1.5B-Instruct", "revision": "v2"}
    entry = lineage.make(recipe(), tmp_path / "out", models={"teacher": ("acme/t", "abc123")})
    assert "  teacher: acme/t @ abc123 (Hub id, task or file)" in lineage.text(entry).splitlines()


def test_each_kind_names_the_models_it_reads_besides_its_own():
    """distill_online's teacher (with its revision); the other kinds none. The kind says so, not
    lineage: lineage imports no kind."""
    from r1lab.kind import KINDS

    teacher = {"teacher_model_name_or_path": "runs/r1_zero/tiny", "teacher_model_revision": "r1"}
    distill = recipe(kind="distill_online", trainer=teacher)
    assert KINDS["distill_online"].input_models(distill) == {"teacher": ("runs/r1_zero/tiny", "r1")}
    assert KINDS["distill_online"].input_models(recipe(kind="distill_online")) == {}
    for name in ("sft", "grpo", "generate", "evaluate"):
        assert KINDS[name].input_models(distill) == {}


# ---- make, record, load --------------------------------------------------------------------


def test_make_records_the_recipe_the_stage_and_what_the_output_holds(tmp_path, monkeypatch):
    monkeypatch.setenv(lineage.PIPELINE_ENV, "pipelines/r1")
    monkeypatch.setenv(lineage.STAGE_ENV, "grpo")
    rec = recipe(overrides=["trainer.max_steps=4"], trainer={"seed": 3})
    before = datetime.now(timezone.utc).replace(microsecond=0)
    made = lineage.make(rec, tmp_path / "out", benchmarks=["aime24"])
    assert made["output"] == str((tmp_path / "out").resolve())
    assert (made["kind"], made["recipe"]) == ("grpo", "r1_zero/tiny")
    assert made["overrides"] == ["trainer.max_steps=4"]
    assert (made["pipeline"], made["stage"]) == ("pipelines/r1", "grpo")
    assert made["inputs"]["model"] == {"ref": "Qwen/Qwen2.5-0.5B"}
    assert made["r1lab_version"] == __version__ and made["seeds"] == {"trainer.seed": 3}
    assert made["benchmarks"] == ["aime24"]
    written = datetime.fromisoformat(made["written"])
    assert written.tzinfo == timezone.utc and written.microsecond == 0
    assert before <= written <= before + timedelta(seconds=60)


def test_make_outside_a_pipeline_has_no_stage_and_records_the_commit(tmp_path, monkeypatch):
    monkeypatch.delenv(lineage.PIPELINE_ENV, raising=False)
    monkeypatch.delenv(lineage.STAGE_ENV, raising=False)
    monkeypatch.setattr(lineage, "git_commit", lambda: "0123abcd+dirty")
    made = lineage.make(recipe(), tmp_path, model="other/model")
    assert made["git_commit"] == "0123abcd+dirty"
    assert made["pipeline"] is None and made["stage"] is None
    assert made["inputs"]["model"] == {"ref": "other/model"}


def test_record_writes_what_load_reads_back_and_nothing_else(tmp_path):
    out = tmp_path / "deep" / "out"
    path = lineage.record(recipe(), out, benchmarks=["math500"])
    assert path == out / lineage.FILE and os.listdir(out) == [lineage.FILE]
    found = lineage.load(out)
    assert found["benchmarks"] == ["math500"] and found["output"] == str(out.resolve())
    assert path.read_text().startswith('{\n  "output": ')  # indented, for people to read
    assert lineage.load(tmp_path) is None
    (tmp_path / "folder" / lineage.FILE).mkdir(parents=True)
    assert lineage.load(tmp_path / "folder") is None


def test_save_writes_the_entry_as_given(tmp_path):
    entry = {"output": "/x", "kind": "evaluate", "benchmarks": ["aime24", "gpqa"]}
    assert lineage.save(tmp_path / "new", entry) == tmp_path / "new" / lineage.FILE
    assert lineage.load(tmp_path / "new") == entry


def test_seeds_record_a_zero_seed_and_skip_sections_that_are_no_mapping():
    rec = recipe(
        trainer={"seed": 0, "data_seed": None},
        data={"source": "x", "seed": 0},
        evaluate={"seed": 5},
        sections={"generate": "not a mapping"},
    )
    assert lineage.seeds(rec) == {"trainer.seed": 0, "data.seed": 0, "evaluate.seed": 5}


# ---- git, torch, CPU -----------------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_git_commit_is_the_checkouts_head_and_dirty_only_for_tracked_changes(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "a.txt").write_text("a")
    git(repo, "add", "a.txt")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "a")
    monkeypatch.setattr(r1lab.paths, "REPO_ROOT", repo)
    head = git(repo, "rev-parse", "HEAD")
    assert lineage.git_commit() == head
    (repo / "new.txt").write_text("untracked")
    assert lineage.git_commit() == head
    (repo / "a.txt").write_text("changed")
    assert lineage.git_commit() == head + "+dirty"
    monkeypatch.setattr(r1lab.paths, "REPO_ROOT", tmp_path / "elsewhere")
    assert lineage.git_commit() is None


def test_git_commit_without_git_is_none(monkeypatch):
    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(subprocess, "run", no_git)
    assert lineage.git_commit() is None


def test_git_commit_of_a_failing_git_is_none_whatever_it_printed(monkeypatch):
    def failing(args, **kwargs):
        return subprocess.CompletedProcess(args, 128, stdout="0123abcd\n", stderr="fatal")

    monkeypatch.setattr(subprocess, "run", failing)
    assert lineage.git_commit() is None


def test_torch_state_names_each_gpu_and_the_cuda_version(monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: f"H100 #{i}")
    state = lineage.torch_state()
    assert state["cuda"] == ["H100 #0", "H100 #1"] and state["cuda_version"] == "12.4"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert lineage.torch_state()["cuda"] == []


def test_torch_state_records_what_torch_is_set_to_and_none_for_what_fails(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    state = lineage.torch_state()
    assert state["interop_threads"] == torch.get_num_interop_threads()
    assert state["deterministic_algorithms"] is torch.are_deterministic_algorithms_enabled()

    def broken():
        raise RuntimeError("no such API here")

    monkeypatch.setattr(torch, "get_num_threads", broken)
    state = lineage.torch_state()
    assert state["threads"] is None and state["cpu_capability"]  # the rest still recorded


def test_torch_state_without_torch_is_none(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    assert lineage.torch_state() is None


class FakeCpuinfo:
    """`Path` for cpu_model: /proc/cpuinfo holds `text`, or cannot be read when it is None."""

    text: str | None = None

    def __init__(self, path: str) -> None:
        assert path == "/proc/cpuinfo"

    def read_text(self) -> str:
        if self.text is None:
            raise PermissionError("/proc/cpuinfo")
        return self.text


def test_cpu_model_is_the_first_model_name_line(monkeypatch):
    monkeypatch.setattr(lineage, "Path", FakeCpuinfo)
    monkeypatch.setattr(
        FakeCpuinfo,
        "text",
        "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Xeon: Platinum 8480+ \n"
        "model name\t: another\n",
    )
    assert lineage.cpu_model() == "Xeon: Platinum 8480+"


def test_cpu_model_falls_back_to_the_platform_or_none(monkeypatch):
    monkeypatch.setattr(lineage, "Path", FakeCpuinfo)
    monkeypatch.setattr(FakeCpuinfo, "text", None)
    monkeypatch.setattr(lineage.platform, "processor", lambda: "arm")
    assert lineage.cpu_model() == "arm"
    monkeypatch.setattr(lineage.platform, "processor", lambda: "")
    assert lineage.cpu_model() is None
    monkeypatch.setattr(FakeCpuinfo, "text", "processor\t: 0\n")  # no model name line
    assert lineage.cpu_model() is None


def test_environment_names_the_python_platform_and_cpu(monkeypatch):
    monkeypatch.setattr(lineage, "cpu_model", lambda: "Xeon")
    env = lineage.environment()
    assert env["python"] == lineage.platform.python_version()
    assert env["platform"] == lineage.platform.platform()
    assert env["machine"] == lineage.platform.machine()
    assert env["cpu"] == "Xeon"


# ---- text ----------------------------------------------------------------------------------


def made(**fields) -> dict:
    return {
        "output": "/runs/grpo",
        "kind": "grpo",
        "recipe": "r1_zero/tiny",
        "overrides": [],
        "r1lab_version": "0.1.0",
        "git_commit": "0123456789abcdef0123",
        "written": "2025-01-01T00:00:00+00:00",
        **fields,
    }


ENV = {
    "packages": {"torch": "2.5.1", "transformers": "4.46.0", "trl": "0.12.0"},
    "torch": {"threads": 4, "cpu_capability": "AVX2", "cuda": ["H100", "H200"]},  # the first named
}


def test_text_prints_the_output_who_made_it_and_each_input():
    entry = made(
        overrides=["trainer.max_steps=4", "trainer.seed=1"],
        pipeline="pipelines/r1",
        stage="grpo",
        inputs={
            "model": {"ref": "runs/sft", "path": "/x/runs/sft", "lineage": made(output="/x/sft")},
            "data": {"ref": "rows.jsonl", "path": "/x/rows.jsonl"},
            "base": {"ref": "arithmetic"},
        },
    )
    assert lineage.text(entry).splitlines() == [
        "/runs/grpo",
        "  made by: grpo r1_zero/tiny trainer.max_steps=4 trainer.seed=1 (stage 'grpo' of "
        "pipelines/r1)",
        "  r1lab 0.1.0 @ 0123456789ab, 2025-01-01T00:00:00+00:00",
        "  model: runs/sft, made by",
        "    /x/sft",
        "      made by: grpo r1_zero/tiny",
        "      r1lab 0.1.0 @ 0123456789ab, 2025-01-01T00:00:00+00:00",
        "  data: rows.jsonl (local, not an r1lab output)",
        "  base: arithmetic (Hub id, task or file)",
    ]


def test_text_without_git_or_stage():
    shown = lineage.text(made(git_commit=None, pipeline="pipelines/r1", stage=None))
    assert shown.splitlines()[1:] == [
        "  made by: grpo r1_zero/tiny",
        "  r1lab 0.1.0 @ no git, 2025-01-01T00:00:00+00:00",
    ]


def test_environment_line_names_torch_its_settings_the_libraries_and_seeds():
    line = lineage.environment_line({"environment": ENV, "seeds": {"trainer.seed": 0, "x.seed": 2}})
    assert line == (
        "torch 2.5.1 (4 threads, AVX2, 2x H100), transformers 4.46.0, trl 0.12.0, "
        "seeds trainer.seed=0 x.seed=2"
    )
    bare = {"packages": {"torch": "2.5.1"}, "torch": {"threads": None, "cuda": []}}
    assert lineage.environment_line({"environment": bare}) == (
        "torch 2.5.1, transformers None, trl None"
    )
    zero = {"packages": {}, "torch": {"threads": 0}}
    assert lineage.environment_line({"environment": zero}).startswith("torch None (0 threads)")
    assert lineage.environment_line({"seeds": {"data.seed": 1}}) == "seeds data.seed=1"
    assert lineage.environment_line({"environment": {}, "seeds": {}}) is None
    assert lineage.environment_line({}) is None


def test_text_prints_the_environment_line_after_who_made_it():
    lines = lineage.text(made(environment=ENV)).splitlines()
    assert lines[3] == "  torch 2.5.1 (4 threads, AVX2, 2x H100), transformers 4.46.0, trl 0.12.0"


# ---- the model card ------------------------------------------------------------------------


CARD = (
    "# Model\n\nFine-tuned from [None](https://huggingface.co/None).\n\n"
    'generator = pipeline("text-generation", model="None")\n'
)


def test_the_model_card_names_the_base_model_and_the_output_and_gets_the_lineage(tmp_path):
    out = tmp_path / "out"
    entry = made(output=str(out), inputs={"model": {"ref": "Qwen/Qwen2.5-0.5B"}})
    lineage.save(out, entry)
    (out / "README.md").write_text(CARD)
    lineage.fill_model_card(out)
    assert (out / "README.md").read_text() == (
        "# Model\n\nFine-tuned from `Qwen/Qwen2.5-0.5B`.\n\n"
        f'generator = pipeline("text-generation", model="{out.resolve()}")\n'
        f"\n## Lineage (r1lab)\n\n```\n{lineage.text(entry)}\n```\n"
    )


def test_the_model_card_without_a_model_input_names_the_base_model(tmp_path):
    lineage.save(tmp_path, made(inputs={"data": {"ref": "arithmetic"}}))
    (tmp_path / "README.md").write_text(CARD)
    lineage.fill_model_card(tmp_path)
    assert "Fine-tuned from `the base model`." in (tmp_path / "README.md").read_text()


def test_no_model_card_or_no_lineage_changes_nothing(tmp_path):
    lineage.save(tmp_path / "a", made())
    lineage.fill_model_card(tmp_path / "a")  # no README.md
    assert os.listdir(tmp_path / "a") == [lineage.FILE]
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "README.md").write_text(CARD)
    lineage.fill_model_card(tmp_path / "b")  # no lineage.json
    assert (tmp_path / "b" / "README.md").read_text() == CARD


@pytest.fixture(autouse=True)
def _no_stage(monkeypatch):
    """A test run inside `r1lab pipeline` must not see its stage."""
    monkeypatch.delenv(lineage.PIPELINE_ENV, raising=False)
    monkeypatch.delenv(lineage.STAGE_ENV, raising=False)
