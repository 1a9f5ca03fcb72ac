"""The registry of kinds: what varies by kind is read from the kind, never decided by its name."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest

from r1lab.checks.context import Context
from r1lab.checks.run import check, check_columns, run_checks
from r1lab.errors import RecipeError
from r1lab.kind import KINDS, get_kind, require_kind
from r1lab.launch import local_command
from r1lab.recipe import compose

from conftest import REPO, run_r1lab

SRC = REPO / "src" / "r1lab"


def test_no_code_outside_the_kind_modules_branches_on_a_kind_name():
    """Adding a kind must not mean editing launch, slurm, check or train: no `== "grpo"` there."""
    names = "|".join(KINDS)
    pattern = re.compile(
        rf"""(==|!=|\bin\b)\s*\(?["'](?:{names})["']|["'](?:{names})["']\s*(==|!=)"""
    )
    offenders = [
        f"{path.relative_to(SRC)}:{number}: {line.strip()}"
        for path in SRC.rglob("*.py")
        if path.relative_to(SRC).parts[0] != "kinds"  # the kind modules and their registry
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []


def test_makefile_has_a_target_for_every_kind_and_only_those():
    out = subprocess.run(
        ["make", "-pn", "-f", "Makefile", "KINDS-probe"], cwd=REPO, capture_output=True, text=True
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("KINDS :="))
    assert sorted(line.split(":=", 1)[1].split()) == sorted(KINDS)


def test_cli_has_a_command_for_every_kind():
    from r1lab.cli import COMMANDS

    for name, kind in KINDS.items():
        assert COMMANDS[name] == (kind.run, kind.help)


def test_a_new_kind_is_picked_up_by_checks_and_the_launcher(monkeypatch):
    """A kind registered in one line gets its own sections, checks and entry point everywhere."""
    seen = []

    def my_check(ctx: Context):
        seen.append(ctx.kind.name)
        raise RecipeError("probe: my kind's own check ran")

    probe = dataclasses.replace(
        get_kind("sft"),
        name="probe",
        module="my_pkg.probe",
        launcher="python",
        sections={"probe_settings": lambda value, recipe: dict(value)},
        checks=(my_check,),
    )
    monkeypatch.setitem(KINDS, "probe", probe)
    recipe = compose("base/tiny", ["kind=probe", "+probe_settings.x=1"])
    assert recipe.sections == {"probe_settings": {"x": 1}}
    report = check(recipe)
    assert seen == ["probe"] and "probe: my kind's own check ran" in report.errors
    # launched by python, never accelerate, whatever the process count
    assert local_command(probe, recipe, 8)[1:4] == ["-m", "my_pkg.probe", "base/tiny"]
    assert local_command(get_kind("sft"), compose("base/tiny"), 2)[1:3] == [
        "-m",
        "accelerate.commands.launch",
    ]


def test_wrong_command_for_a_recipe_gives_one_message_with_both_commands():
    with pytest.raises(RecipeError) as err:
        require_kind("r1_zero/tiny", "grpo", "sft")
    assert "`make grpo RECIPE=r1_zero/tiny`" in str(err.value)
    assert "`r1lab grpo r1_zero/tiny`" in str(err.value)
    proc = run_r1lab("sft", "r1_zero/tiny")
    assert proc.returncode == 2 and "is a grpo recipe, not sft" in proc.stderr


def test_a_shared_fact_that_fails_is_reported_once():
    """Several checks need the data config; a bad one is one error, not one per check."""
    report = check(compose("r1_zero/tiny", ["data.sourec=x"]))
    data_errors = [e for e in report.errors if "data.sourec" in e]
    assert len(data_errors) == 1 and "did you mean 'source'" in data_errors[0]


def test_every_check_of_a_kind_runs_even_when_another_fails():
    ctx = Context(
        compose("r1_zero/tiny", ["trainer.num_generations=1", "+rewards.nope=1"]), get_kind("grpo")
    )
    errors = "\n".join(run_checks(ctx).errors)
    assert "num_generations=1" in errors and "unknown reward 'nope'" in errors


def test_kind_help_and_usage():
    proc = run_r1lab("grpo", "--help")
    assert proc.returncode == 0 and "usage: r1lab grpo <recipe>" in proc.stdout


@pytest.mark.parametrize(
    "recipe, kind", [("base/tiny", "sft"), ("distill_online/tiny", "distill_online")]
)
def test_slurm_plan_names_the_kinds_entry_module(recipe, kind):
    from r1lab.slurm import make_plan, shell_plan

    plan = shell_plan(make_plan(compose(recipe)))
    assert f"R1LAB_MODULE=r1lab.kinds.{kind}\n" in plan and "R1LAB_LAUNCHER=accelerate" in plan
    node_script = (REPO / "slurm" / "train-node.sh").read_text()
    assert "r1lab.$R1LAB_KIND" not in node_script and '-m "$R1LAB_MODULE"' in node_script


def test_entry_modules_exist_for_every_kind():
    for kind in KINDS.values():
        proc = subprocess.run(
            [sys.executable, "-m", kind.module, "--help"], capture_output=True, text=True, cwd=REPO
        )
        assert proc.returncode == 0, proc.stderr
        assert f"usage: r1lab {kind.name}" in proc.stdout
        assert Path(SRC / "kinds" / f"{kind.module.split('.')[-1]}.py").exists()


def test_hub_dataset_columns_are_checked_once_loaded_and_nothing_else_reruns():
    """A Hub dataset's columns are unknown offline; once loaded, only the column checks run."""
    recipe = compose("r1_zero/qwen2.5-math-7b", ["trainer.num_generations=1"])
    assert any("is a Hub dataset" in m for m in check(recipe).skipped)
    report = check_columns(recipe, ["problem", "answer"])
    errors = "\n".join(report.errors)
    assert "rewards.accuracy needs dataset column(s) ['solution']" in errors
    assert "num_generations" not in errors  # a batch problem: check() reported it already
    bad_question = "\n".join(check_columns(recipe, ["question", "solution"]).errors)
    assert "column 'problem' not in" in bad_question


def test_the_package_imports_in_one_direction():
    """No circle in src/r1lab's imports, those inside functions included (tools/import_graph.py):
    the registry names kinds by module path and imports one only when it is asked for."""
    sys.path.insert(0, str(REPO / "tools"))
    import import_graph

    edges = import_graph.graph()
    assert import_graph.circles(edges) == []
    assert edges["r1lab.kinds"] <= {"r1lab.kind", "r1lab.errors"}, edges["r1lab.kinds"]


def test_a_kind_module_is_imported_only_when_its_kind_is_asked_for():
    code = (
        "import sys; from r1lab.kind import KINDS, get_kind; "
        "assert 'r1lab.kinds.grpo_async' not in sys.modules; "
        "assert list(KINDS)[:2] == ['sft', 'grpo']; "
        "get_kind('sft'); assert 'r1lab.kinds.sft' in sys.modules and 'r1lab.kinds.grpo_async' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
