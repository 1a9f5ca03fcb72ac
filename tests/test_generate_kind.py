"""The generate kind (r1lab.kinds.generate) called directly on distill/tiny's first prompts with a
stand-in teacher: the prompts it sends, the manifest, the selection on saved samples, the checks,
start and finish. `r1lab generate` on the real tiny model, killed and rerun, is
tests/test_generate.py (slow)."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from r1lab.checks.findings import Finding
from r1lab.errors import RecipeError
from r1lab.generation import Completion
from r1lab.generation.settings import NOT_GENERATION, GenerateConfig
from r1lab.kinds import generate as kind
from r1lab.recipe import compose

PROMPTS, SHARD, N = 5, 2, 2


def tiny(tmp_path: Path, *overrides: str):
    return compose(
        "distill/tiny",
        [
            f"trainer.output_dir={tmp_path / 'out'}",
            f"data.train_size={PROMPTS}",
            "data.test_size=2",
            "generate.backend=hf",
            f"generate.shard_size={SHARD}",
            f"generate.num_samples={N}",
            "model.model_name_or_path=teachers/t1",
            *overrides,
        ],
    )


class Teacher:
    """Sample 0 of each prompt answers right (it works out the sum asked), sample 1 wrong."""

    def __init__(self) -> None:
        self.calls = []

    def generate(self, prompts, n, sampling, ids=None):
        self.calls.append(list(ids))
        out = []
        for p in prompts:
            asked = re.search(r"User: Compute ([-+ 0-9]+)\. Assistant:", p).group(1)
            value = eval(asked)  # noqa: S307 - digits, + and - only
            right = f"<think> {value} </think> <answer> {value} </answer>"
            wrong = "<think> no </think> <answer> -1 </answer>"
            out.append([Completion([right, wrong][j], "stop", 30, 12 + j) for j in range(n)])
        return out


@pytest.fixture
def teacher(monkeypatch):
    """The recipe's teacher, made by GenerateConfig.generator with the node's rank, recorded."""
    made = SimpleNamespace(teacher=Teacher(), loads=[])

    def generator(cfg, model, node=0):
        made.loads.append((model["model_name_or_path"], node))
        return made.teacher

    monkeypatch.setattr(GenerateConfig, "generator", generator)
    monkeypatch.setattr("r1lab.preempt.requested", lambda: False)
    monkeypatch.delenv("R1LAB_NODE_RANK", raising=False)
    monkeypatch.delenv("R1LAB_NUM_NODES", raising=False)
    return made


def test_prompt_rows_are_the_recipes_prompts_numbered_in_order_with_their_schema(tmp_path):
    rows, schema = kind.prompt_rows(tiny(tmp_path))
    assert [r["prompt_id"] for r in rows] == list(range(PROMPTS))
    assert all(r["question"] in r["prompt"] and r["prompt"].endswith("Assistant:") for r in rows)
    assert schema.names[:2] == ["prompt_id", "question"]
    assert schema.names[-4:] == ["teacher", "backend", "sampling", "recipe"]


def test_generate_makes_every_shard_writes_the_manifest_and_selects(tmp_path, teacher, capsys):
    recipe = tiny(tmp_path)
    out = kind.generate(recipe)
    assert out == tmp_path / "out"
    assert teacher.loads == [("teachers/t1", 0)]
    assert teacher.teacher.calls == [[0, 1], [2, 3], [4]]
    manifest = json.loads((out / "generation.json").read_text())
    assert (manifest["shards"], manifest["samples"]) == (3, PROMPTS * N)
    selected = json.loads((out / "selection.json").read_text())
    assert selected["generation"]["samples"] == PROMPTS * N
    printed = capsys.readouterr().out
    assert f"[r1lab generate] SFT data: {out / 'selected.parquet'}\n" in printed
    assert (
        f"selected {PROMPTS}/{PROMPTS * N} samples (50.0%) from {PROMPTS}/{PROMPTS} prompts"
        in printed
    )
    import pyarrow.parquet as pq

    kept = pq.read_table(out / "selected.parquet").to_pylist()
    assert sorted(r["prompt_id"] for r in kept) == list(range(PROMPTS))  # the right samples
    assert pq.read_table(out / "prompts.parquet").num_rows == PROMPTS
    assert json.loads((out / "lineage.json").read_text())["kept"] == PROMPTS


@pytest.mark.timeout(120)  # a node that waited for the others would wait forever
def test_another_node_makes_its_shards_and_leaves_the_rest_to_node_0(
    tmp_path, teacher, monkeypatch
):
    monkeypatch.setenv("R1LAB_NODE_RANK", "1")
    monkeypatch.setenv("R1LAB_NUM_NODES", "2")
    out = kind.generate(tiny(tmp_path))
    assert teacher.loads == [("teachers/t1", 1)] and teacher.teacher.calls == [[2, 3]]
    assert sorted(p.name for p in out.iterdir()) == ["samples", "stats"]


def test_a_preempted_generation_writes_no_manifest(tmp_path, teacher, monkeypatch):
    monkeypatch.setattr("r1lab.preempt.requested", lambda: bool(teacher.teacher.calls))
    out = kind.generate(tiny(tmp_path))
    assert teacher.teacher.calls == [[0, 1]]
    assert not (out / "generation.json").exists()


def test_node_0_preempted_while_waiting_writes_no_manifest(tmp_path, teacher, monkeypatch):
    monkeypatch.setattr(kind, "wait_for_shards", lambda out, total: False)
    out = kind.generate(tiny(tmp_path))
    assert len(teacher.teacher.calls) == 3 and not (out / "generation.json").exists()


def test_the_manifest_holds_totals_settings_and_provenance(tmp_path):
    recipe = tiny(tmp_path)
    out = Path(recipe.output_dir)
    (out / "stats").mkdir(parents=True)
    for k, (n, secs, c) in enumerate([(4, 2.0, 60), (2, 1.0, 30)]):
        stats = {
            "shard": k,
            "samples": n,
            "seconds": secs,
            "prompt_tokens": 5,
            "completion_tokens": c,
        }
        (out / "stats" / f"shard-{k:05d}.json").write_text(json.dumps(stats))
    manifest = kind.write_manifest(recipe, out, 2)
    text = (out / "generation.json").read_text()
    assert json.loads(text) == manifest and text.startswith('{\n  "recipe": "distill/tiny",\n')
    assert manifest["recipe"] == "distill/tiny" and manifest["teacher"] == "teachers/t1"
    assert manifest["backend"] == "hf" and manifest["shards"] == 2
    assert manifest["settings"]["shard_size"] == SHARD and manifest["settings"]["seed"] == 0
    assert (manifest["samples"], manifest["completion_tokens"], manifest["generation_seconds"]) == (
        6,
        90,
        3.0,
    )
    assert manifest["completion_tokens_per_second"] == 30.0


def test_select_saved_reports_the_generations_totals(tmp_path, teacher):
    recipe = tiny(tmp_path)
    kind.generate(recipe)
    (Path(recipe.output_dir) / "selection.json").unlink()
    report = kind.select_saved(recipe)
    assert report["generation"] == {
        "samples": PROMPTS * N,
        "completion_tokens": PROMPTS * (12 + 13),
        "generation_seconds": report["generation"]["generation_seconds"],
        "tokens_per_second": report["generation"]["tokens_per_second"],
    }
    assert report["generation"]["tokens_per_second"] == pytest.approx(
        PROMPTS * 25 / report["generation"]["generation_seconds"]
    )


def test_the_selection_reads_the_recipes_question_column(tmp_path, teacher, monkeypatch):
    import r1lab.selection

    asked, select = [], r1lab.selection.select

    def spy(rows, cfg, *column):
        asked.append(column)
        return select(rows, cfg, *column)

    monkeypatch.setattr(r1lab.selection, "select", spy)
    kind.generate(tiny(tmp_path))
    assert asked == [("question",)]


def test_select_saved_without_a_manifest_reports_no_generation(tmp_path, teacher):
    recipe = tiny(tmp_path)
    kind.generate(recipe)
    (Path(recipe.output_dir) / "generation.json").unlink()
    assert "generation" not in kind.select_saved(recipe)


def test_a_selection_that_keeps_nothing_says_how_to_rerun_only_it(tmp_path, teacher):
    recipe = tiny(tmp_path, "++select.pass_rate_above=0.6")
    kind.generate(tiny(tmp_path))
    with pytest.raises(RecipeError) as err:
        kind.select_saved(recipe)
    message = str(err.value)
    assert message.startswith(
        f"the selection kept no sample of {PROMPTS * N} (report: {tmp_path / 'out' / 'selection.json'}); "
        "loosen the select: filters that dropped them, or check the teacher's samples in samples/. "
        "Rerun only the selection with `r1lab select distill/tiny "
    )
    assert "r1lab select distill/tiny trainer.output_dir=" in message
    assert "model.model_name_or_path=teachers/t1 select.<key>=<value>`" in message
    assert "pass_rate" not in message.split("`r1lab select")[1]


def test_a_generate_recipe_refuses_trainer_settings(tmp_path):
    ctx = SimpleNamespace(recipe=tiny(tmp_path, "+trainer.learning_rate=0.1"))
    with pytest.raises(RecipeError) as err:
        list(kind.check_generate(ctx))
    assert str(err.value) == (
        "trainer: a generate recipe trains nothing, so trainer.learning_rate has no effect; only "
        "trainer.output_dir (where the samples go) is read. Generation settings go in generate: "
        "(e.g. generate.temperature)"
    )


def test_check_generate_runs_the_generation_checks_then_says_what_it_will_do(tmp_path, monkeypatch):
    ctx = SimpleNamespace(recipe=tiny(tmp_path))
    monkeypatch.setattr(
        kind,
        "check_generation",
        lambda c, cfg: iter([Finding("ok", f"{c is ctx} {cfg.backend} {cfg.shard_size}")]),
    )
    findings = list(kind.check_generate(ctx))
    assert findings == [
        Finding("ok", f"True hf {SHARD}"),
        Finding("ok", f"generate: {N} samples per prompt on hf, shards of {SHARD} prompts"),
    ]


@pytest.fixture
def started(monkeypatch):
    calls = SimpleNamespace(parse=[], begin=[], ran=[])
    facts = SimpleNamespace(recipe="the recipe")

    def parse(k, argv, command):
        calls.parse.append((k, argv, command))
        return None if "--help" in argv else (facts, "--fresh" in argv)

    monkeypatch.setattr("r1lab.run_start.parse", parse)
    monkeypatch.setattr("r1lab.run_start.begin", lambda *a, **kw: calls.begin.append((a, kw)))
    monkeypatch.setattr(kind, "generate", lambda r: calls.ran.append(("generate", r)))
    monkeypatch.setattr(kind, "select_saved", lambda r: calls.ran.append(("select", r)))
    calls.facts = facts
    return calls


def test_generate_with_fresh_clears_and_runs_ignoring_speed_settings(started):
    assert kind.main(["distill/tiny", "--fresh"]) == 0
    assert started.parse == [(kind.KIND, ["distill/tiny", "--fresh"], "generate")]
    assert started.begin == [((started.facts, True), {"running": True, "ignore": NOT_GENERATION})]
    assert started.ran == [("generate", "the recipe")]


def test_select_never_clears_the_samples(started):
    assert kind.select_main(["distill/tiny", "--fresh"]) == 0
    assert started.parse[0][2] == "select"
    assert started.begin == [((started.facts, False), {"running": False, "ignore": NOT_GENERATION})]
    assert started.ran == [("select", "the recipe")]


def test_help_runs_nothing(started):
    assert kind.main(["--help"]) == 0 and kind.select_main(["--help"]) == 0
    assert started.begin == [] and started.ran == []


def test_finished_needs_the_manifest_the_selection_and_the_same_recipe(tmp_path, monkeypatch):
    recipe = tiny(tmp_path)
    out = Path(recipe.output_dir)
    out.mkdir(parents=True)
    monkeypatch.setattr("r1lab.run_dir.same_recipe", lambda r: r is recipe)
    assert not kind.finished(recipe)
    (out / "generation.json").write_text("{}")
    assert not kind.finished(recipe)
    (out / "selected.parquet").write_text("")
    assert kind.finished(recipe)
    (out / "generation.json").unlink()
    assert not kind.finished(recipe)
    monkeypatch.setattr("r1lab.run_dir.same_recipe", lambda r: False)
    (out / "generation.json").write_text("{}")
    assert not kind.finished(recipe)


def test_the_kind_loads_a_model_unless_it_is_served(tmp_path):
    assert kind.KIND.loads_model(tiny(tmp_path)) is True
    served = tiny(tmp_path, "generate.backend=openai", "generate.base_url=http://h/v1")
    assert kind.KIND.loads_model(served) is False


def test_the_kinds_module_is_this_one_and_runs_main():
    assert importlib.import_module(kind.KIND.module).KIND is kind.KIND
    assert kind.KIND.run is kind.main and kind.KIND.name == "generate"
