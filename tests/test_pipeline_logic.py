"""The pipeline's decisions, called directly (no model, no subprocess): which stages are finished,
what each reads, which a run (re)makes, the command and environment a stage runs with, what the
check says of the stages, what --fresh deletes and how the Slurm chain is linked.
The end-to-end runs are in tests/test_pipeline.py."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from unittest import mock

import pytest

from r1lab import lineage, run_dir, slurm, tiny
from r1lab.checks.context import Context
from r1lab.errors import RecipeError
from r1lab.kind import KINDS
from r1lab.kinds import pipeline
from r1lab.recipe import Recipe, compose
from r1lab.stages import Stage


def sft(root: Path, name: str, model: str, *more: str) -> Stage:
    """An SFT stage of base/tiny that starts from `model` (`more`: further overrides)."""
    overrides = (f"model.model_name_or_path={model}", *more)
    return Stage(name, str(root / name), "base/tiny", overrides)


def finish(stage: Stage, stages: list[Stage]) -> None:
    """What a trainer kind leaves in a finished run's output: its recipe.yaml and run_info.json."""
    out = Path(stage.output)
    run_dir.write_recipe(pipeline.stage_recipe(stage, stages), out)
    (out / "run_info.json").write_text('{"global_step": 3}')


def pipeline_recipe(root: Path, stages: list[Stage], name: str = "tests/chain") -> Recipe:
    recipe = Recipe(name, "pipeline", {}, {}, {"output_dir": str(root)})
    recipe.parsed["stages"] = stages
    return recipe


# ---- what a stage runs and reads ----------------------------------------------------------------


def test_an_evaluation_without_a_recipe_composes_its_target_stages_recipe(tmp_path):
    train = sft(tmp_path, "train", "some/model", "trainer.max_steps=7")
    evaluation = Stage("eval", str(tmp_path / "eval"), evaluate="train")
    recipe = pipeline.stage_recipe(evaluation, [train, evaluation])
    assert (recipe.name, recipe.trainer["max_steps"]) == ("base/tiny", 7)
    assert recipe.output_dir == str(tmp_path / "train")


def test_an_evaluation_with_a_recipe_composes_that_recipe_into_its_own_output(tmp_path):
    train = sft(tmp_path, "train", "some/model")
    evaluation = Stage(
        "eval", str(tmp_path / "eval"), "r1_zero/tiny", ("evaluate.k=3",), evaluate="train"
    )
    recipe = pipeline.stage_recipe(evaluation, [train, evaluation])
    assert (recipe.name, recipe.evaluate["k"]) == ("r1_zero/tiny", 3)
    assert recipe.output_dir == str(tmp_path / "eval")


def test_a_stage_whose_recipe_does_not_compose_is_named_first_in_the_error(tmp_path):
    broken = Stage("broken", str(tmp_path / "b"), "base/tinyy")
    with pytest.raises(RecipeError, match=r"^stage 'broken': unknown recipe 'base/tinyy'"):
        pipeline.stage_recipe(broken, [broken])


def test_an_evaluation_is_finished_only_once_both_its_metrics_and_its_table_are_written(tmp_path):
    train = sft(tmp_path, "train", "some/model")
    evaluation = Stage("eval", str(tmp_path / "eval"), evaluate="train")
    out = tmp_path / "eval"
    out.mkdir()
    seen = []
    for name in (pipeline.HELDOUT, "results.md"):
        (out / name).write_text("{}")
        seen.append(pipeline.finished(evaluation, [train, evaluation]))
        (out / name).unlink()
    assert seen == [False, False]
    (out / pipeline.HELDOUT).write_text("{}")
    (out / "results.md").write_text("| |")
    assert pipeline.finished(evaluation, [train, evaluation])


def test_a_training_stage_is_finished_only_when_this_very_recipe_finished_in_its_output(tmp_path):
    stage = sft(tmp_path, "a", "some/model", "trainer.max_steps=7")
    assert not pipeline.finished(stage, [stage])
    finish(stage, [stage])
    assert pipeline.finished(stage, [stage])
    changed = sft(tmp_path, "a", "some/model", "trainer.max_steps=9")  # same output, other run
    assert not pipeline.finished(changed, [changed])


def test_sources_are_the_earlier_stages_holding_the_model_or_the_data_a_stage_reads(tmp_path):
    a = sft(tmp_path, "a", "some/model")
    b = sft(tmp_path, "b", str(tmp_path / "a"))
    c = sft(tmp_path, "c", "some/model", f"data.source={tmp_path / 'b'}/selected.parquet")
    d = Stage("d", str(tmp_path / "d"), "r1_zero/tiny", evaluate="b")
    stages = [a, b, c, d]
    assert [[s.name for s in pipeline.sources(s, stages)] for s in stages] == [
        [],
        ["a"],
        ["b"],
        ["b"],
    ]


def test_a_stage_reading_a_later_stage_has_no_source_in_it(tmp_path):
    first = sft(tmp_path, "first", str(tmp_path / "second"))
    second = sft(tmp_path, "second", "some/model")
    assert pipeline.sources(first, [first, second]) == []


def test_reading_finds_a_teacher_and_a_path_inside_an_output_with_its_reference(tmp_path):
    student, teacher = sft(tmp_path, "student", "x"), sft(tmp_path, "teacher", "x")
    other = sft(tmp_path, "other", "x")
    recipe = compose(
        "distill_online/tiny",
        [
            f"model.model_name_or_path={tmp_path}/student/checkpoint-4",
            f"trainer.teacher_model_name_or_path={tmp_path}/teacher",
        ],
    )
    assert pipeline.reading(recipe, [other, student, teacher]) == [
        (student, f"{tmp_path}/student/checkpoint-4"),
        (teacher, f"{tmp_path}/teacher"),
    ]


def test_a_recipe_without_a_model_reads_the_stage_holding_its_data_even_one_writing_here(tmp_path):
    """An empty model reference is no path (it would resolve to the working directory, inside
    a stage writing there) and does not hide the data reference after it."""
    here = Stage("here", str(Path.cwd()), "base/tiny")
    recipe = Recipe("x", "sft", {}, {"source": f"{Path.cwd()}/rows.parquet"}, {})
    assert pipeline.reading(recipe, [here]) == [(here, f"{Path.cwd()}/rows.parquet")]
    assert pipeline.reading(Recipe("x", "sft", {}, {}, {}), [here]) == []


def test_a_run_remakes_unfinished_stages_and_finished_ones_reading_them_through_others(tmp_path):
    a = sft(tmp_path, "a", "some/model")
    b = sft(tmp_path, "b", str(tmp_path / "a"))
    c = sft(tmp_path, "c", str(tmp_path / "b"))
    d = sft(tmp_path, "d", "some/model")
    e = sft(tmp_path, "e", str(tmp_path / "a"), f"data.source={tmp_path / 'c'}/x.parquet")
    stages = [a, b, c, d, e]
    for stage in (a, b, c, d):
        finish(stage, stages)
    assert pipeline.to_make(stages) == {"e": []}
    finish(e, stages)
    assert pipeline.to_make(stages) == {}
    run_dir.clear(a.output)
    assert pipeline.to_make(stages) == {"a": [], "b": ["a"], "c": ["b"], "e": ["a", "c"]}


def test_set_aside_moves_the_output_beside_itself_stamped_with_the_time_files_kept(tmp_path):
    stage = sft(tmp_path, "a", "some/model")
    Path(stage.output).mkdir()
    (Path(stage.output) / "weights.bin").write_text("old model")
    before = time.time()
    aside = pipeline.set_aside(stage)
    after = time.time()
    assert aside.parent == tmp_path and not Path(stage.output).exists()
    stamp = re.fullmatch(r"a\.stale-(\d{8}-\d{6})", aside.name)
    assert stamp, aside.name
    when = time.mktime(time.strptime(stamp.group(1), "%Y%m%d-%H%M%S"))
    assert int(before) - 1 <= when <= after
    assert (aside / "weights.bin").read_text() == "old model"


def test_an_evaluation_stage_runs_r1lab_evaluate_on_its_targets_model_into_heldout_json(tmp_path):
    train = sft(tmp_path, "train", "some/model")
    evaluation = Stage(
        "eval", str(tmp_path / "eval"), "r1_zero/tiny", ("evaluate.k=3",), evaluate="train"
    )
    assert pipeline.command(evaluation, [train, evaluation]) == [
        sys.executable,
        "-m",
        "r1lab.cli",
        "evaluate",
        "r1_zero/tiny",
        "evaluate.k=3",
        f"trainer.output_dir={tmp_path / 'eval'}",
        "--model",
        str(tmp_path / "train"),
        "--out",
        str(tmp_path / "eval" / "heldout.json"),
    ]


@pytest.mark.parametrize("accelerate, launched", [("cpu", False), ("ddp", True)])
def test_a_training_stage_runs_its_kind_under_accelerate_when_its_recipe_has_processes(
    tmp_path, accelerate, launched
):
    stage = Stage("a", str(tmp_path / "a"), "base/tiny", (f"accelerate={accelerate}",))
    cmd = pipeline.command(stage, [stage])
    module = ["-m", KINDS["sft"].module, "base/tiny", f"accelerate={accelerate}"]
    assert cmd[-5:] == [*module, f"trainer.output_dir={tmp_path / 'a'}"]
    assert cmd[0] == sys.executable
    assert ("accelerate.commands.launch" in cmd) == launched
    if launched:  # ddp.yaml's 8 processes
        assert cmd[cmd.index("--num_processes") + 1] == "8"


def test_a_stage_runs_with_the_pipeline_and_stage_named_in_its_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("R1LAB_TEST_MARK", "kept")
    env = pipeline.stage_env(pipeline_recipe(tmp_path, [], "tests/p7"), Stage("st3", "o", "r"))
    assert env[lineage.PIPELINE_ENV] == "tests/p7" and env[lineage.STAGE_ENV] == "st3"
    assert env["LOCAL"] == "1" and env["R1LAB_TEST_MARK"] == "kept"


# ---- checks -------------------------------------------------------------------------------------


def check_messages(recipe: Recipe) -> list[tuple[str, str]]:
    return [
        (f.status, f.message) for f in pipeline.check_stages(Context(recipe, KINDS["pipeline"]))
    ]


def test_the_check_refuses_two_stages_writing_one_folder_and_names_both(tmp_path):
    a = sft(tmp_path, "a", "some/model")
    b = Stage("b", str(tmp_path / "x" / ".." / "a"), "r1_zero/tiny")
    found = check_messages(pipeline_recipe(tmp_path, [a, b]))
    clash = [m for level, m in found if "also stage" in m]
    assert clash == [
        f"stage 'b': output {b.output} is also stage 'a''s; give stages.b.output another folder"
    ]
    assert ("error", clash[0]) in found


def test_the_check_reports_an_evaluation_stage_as_passed_and_its_output_as_taken(tmp_path):
    a = sft(tmp_path, "a", "some/model")
    e = Stage("e", str(tmp_path / "e"), evaluate="a")
    f = Stage("f", str(tmp_path / "e"), evaluate="a")
    found = check_messages(pipeline_recipe(tmp_path, [a, e, f]))
    assert ("ok", "stage 'e': held-out evaluation of 'a'") in found
    assert any(level == "error" and "is also stage 'e''s" in m for level, m in found)


def test_the_check_refuses_a_stage_reading_a_later_stage_and_says_how_to_reorder(tmp_path):
    a = sft(tmp_path, "a", str(tmp_path / "b"))
    b = sft(tmp_path, "b", "some/model")
    found = check_messages(pipeline_recipe(tmp_path, [a, b]))
    assert (
        "error",
        f"stage 'a' reads {tmp_path / 'b'}, which stage 'b' makes after it: move 'b' before "
        "'a' in stages:",
    ) in found


def test_the_check_counts_an_earlier_unfinished_stages_output_as_made(tmp_path):
    """Stage b starts from stage a's output, not there yet: no error for b (a's own model is
    missing, which is a's error)."""
    a = sft(tmp_path, "a", str(tmp_path / "nowhere"))
    b = sft(tmp_path, "b", str(tmp_path / "a"))
    found = check_messages(pipeline_recipe(tmp_path, [a, b]))
    assert not any(level == "error" and m.startswith("stage 'b'") for level, m in found)
    passed = [m for level, m in found if level == "ok"]
    assert len(passed) == 1
    assert re.fullmatch(
        rf"stage 'b': sft base/tiny \(\d+ checks passed, \d+ skipped\) -> {tmp_path / 'b'}",
        passed[0],
    ), passed[0]


def test_the_check_takes_a_finished_earlier_stages_output_as_there_and_checks_it(tmp_path):
    """A finished stage's output is not pending: the next stage's model is checked in it (here
    the run left no model files, which is an error of the stage reading it)."""
    a = sft(tmp_path, "a", str(tmp_path / "nowhere"))
    b = sft(tmp_path, "b", str(tmp_path / "a"))
    finish(a, [a, b])
    found = check_messages(pipeline_recipe(tmp_path, [a, b]))
    assert any(
        level == "error" and m.startswith("stage 'b' (sft base/tiny): ") for level, m in found
    )


def test_the_check_counts_a_tiny_model_not_built_yet_as_made(tmp_path, monkeypatch):
    """`r1lab pipeline` builds the cached tiny models first: a stage starting from one that is
    not built yet is not an error. A cache of its own: other tests build tiny models in theirs."""
    monkeypatch.setenv("R1LAB_CACHE", str(tmp_path / "cache"))
    assert not (tiny.cached_dir("tiny-wide") / "config.json").exists()
    a = sft(tmp_path, "a", str(tiny.cached_dir("tiny-wide")))
    found = check_messages(pipeline_recipe(tmp_path, [a]))
    assert [m for level, m in found if level == "error"] == []


def test_the_check_names_the_stage_of_each_warning(tmp_path):
    a = sft(tmp_path, "a", str(tmp_path / "nowhere"), "lora.save=adapter")
    warnings = [
        m for level, m in check_messages(pipeline_recipe(tmp_path, [a])) if level == "warning"
    ]
    assert any(
        m.startswith("stage 'a' (sft base/tiny): ") and "model.use_peft is false" in m
        for m in warnings
    ), warnings


def test_the_check_names_the_stage_kind_and_recipe_of_each_finding(tmp_path):
    a = sft(tmp_path, "a", str(tmp_path / "nowhere"))
    found = check_messages(pipeline_recipe(tmp_path, [a]))
    errors = [m for level, m in found if level == "error"]
    assert errors and all(m.startswith("stage 'a' (sft base/tiny): ") for m in errors)
    assert any("no model at" in m for m in errors)
    assert not any(level == "ok" for level, _ in found)


def test_the_check_reports_a_stage_that_does_not_compose_and_goes_on(tmp_path):
    bad = Stage("bad", str(tmp_path / "bad"), "base/tinyy")
    b = Stage("b", str(tmp_path / "bad"), "base/tiny")
    found = check_messages(pipeline_recipe(tmp_path, [bad, b]))
    errors = [m for level, m in found if level == "error"]
    assert errors[0].startswith("stage 'bad': unknown recipe 'base/tinyy'")
    assert any("is also stage 'bad''s" in m for m in errors)  # its output still counted


# ---- running ------------------------------------------------------------------------------------


def test_build_tiny_model_builds_only_missing_cached_shapes_that_a_training_stage_starts_from(
    tmp_path, capsys, monkeypatch
):
    # a cache of its own: the session's may hold a built tiny-wide, whose config.json this removes
    monkeypatch.setenv("R1LAB_CACHE", str(tmp_path / "cache"))
    wide = str(tiny.cached_dir("tiny-wide"))
    a = sft(tmp_path, "a", str(tmp_path / "pretrained"))  # not a cached shape
    e = Stage("e", str(tmp_path / "e"), evaluate="a")
    w = sft(tmp_path, "w", wide)
    built = []
    with mock.patch.object(tiny, "ensure", lambda shape: built.append(shape) or Path("/built")):
        pipeline.build_tiny_model([a, e, w])
    assert built == ["tiny-wide"]
    assert (
        "building the tiny-wide model that stage 'w' starts from: /built" in capsys.readouterr().out
    )
    Path(wide).mkdir(parents=True, exist_ok=True)
    (Path(wide) / "config.json").write_text("{}")
    try:
        with mock.patch.object(tiny, "ensure", lambda shape: built.append(shape)):
            pipeline.build_tiny_model([a, e, w])
    finally:
        (Path(wide) / "config.json").unlink()
    assert built == ["tiny-wide"]  # there already: not built again


def building(stages: list[Stage]):
    """build_tiny_model, faked: it must be asked about the pipeline's own stages."""

    def build(given: list[Stage]) -> None:
        assert given == stages, "the tiny models are built for other stages"

    return build


def commanding(stages: list[Stage]):
    """command, faked: a stage's command is built knowing every stage (an evaluation names the
    model of another)."""

    def command(stage: Stage, given: list[Stage]) -> list[str]:
        assert given == stages, "a stage's command built without the other stages"
        return ["fake", stage.name]

    return command


def run_chain(recipe: Recipe, stages: list[Stage], codes: dict[str, int]):
    """run_here with each stage's command faked: it finishes the stage (code 0) or fails."""
    calls = []

    def run(cmd, log_path, env):
        stage = next(s for s in stages if s.name == cmd[-1])
        calls.append((stage.name, log_path, env[lineage.STAGE_ENV]))
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text(f"line one\nlast words of {stage.name}\n")
        code = codes.get(stage.name, 0)
        if code == 0 and not stage.evaluate:
            finish(stage, stages)
        return code

    with (
        mock.patch.object(pipeline, "run_logged", run),
        mock.patch.object(pipeline, "command", commanding(stages)),
        mock.patch.object(pipeline, "build_tiny_model", building(stages)),
    ):
        return calls, pipeline.run_here(recipe)


def test_a_failing_stage_stops_the_chain_naming_its_log_its_last_lines_and_what_did_not_run(
    tmp_path,
):
    a, b = sft(tmp_path, "a", "m"), sft(tmp_path, "b", str(tmp_path / "a"))
    c, d = sft(tmp_path, "c", "m"), sft(tmp_path, "d", "m")
    stages = [a, b, c, d]
    with pytest.raises(RecipeError) as err:
        run_chain(pipeline_recipe(tmp_path, stages, "tests/p"), stages, {"b": 5})
    log = tmp_path / "logs" / "b.log"
    text = str(err.value)
    assert text.startswith(
        f"pipeline tests/p: stage 'b' (base/tiny) failed with exit code 5; log: {log}\n"
    )
    assert "last words of b" in text
    assert text.endswith(
        "Not run: c, d. Fix the cause and rerun the same command: finished stages are skipped "
        "and this one resumes from its last checkpoint or shard"
    )
    assert (tmp_path / "a" / "run_info.json").exists() and not (tmp_path / "c").exists()


def test_a_failing_last_stage_leaves_nothing_not_run(tmp_path):
    a = sft(tmp_path, "a", "m")
    with pytest.raises(RecipeError, match="Not run: nothing."):
        run_chain(pipeline_recipe(tmp_path, [a]), [a], {"a": 1})


def test_a_run_skips_finished_stages_logs_each_under_the_pipeline_and_names_the_last_model(
    tmp_path, capsys
):
    a, b = sft(tmp_path, "a", "m"), sft(tmp_path, "b", str(tmp_path / "a"))
    c = sft(tmp_path, "c", "m")
    e = Stage("e", str(tmp_path / "e"), evaluate="b")
    stages = [a, b, c, e]
    finish(c, stages)
    calls, code = run_chain(pipeline_recipe(tmp_path, stages, "tests/p"), stages, {})
    assert code == 0
    assert calls == [(s.name, tmp_path / "logs" / f"{s.name}.log", s.name) for s in (a, b, e)]
    out = capsys.readouterr().out
    assert "[r1lab pipeline] tests/p: 4 stages: a -> b -> c -> e\n" in out
    assert f"[3/4] c (base/tiny): finished earlier in {c.output}; skipped" in out
    assert f"[2/4] b (base/tiny) -> {b.output}\n$ fake b\n" in out
    assert re.search(r"\[2/4\] b \(base/tiny\): done in \d+ s", out)
    assert re.search(r"tests/p: all 4 stages done in \d+ s", out)
    assert f"lineage of the last model: r1lab show {c.output}\n" in out  # e evaluates, trains none


def test_a_rerun_sets_aside_a_finished_stage_made_from_one_made_anew_and_says_so(tmp_path, capsys):
    a, b = sft(tmp_path, "a", "m"), sft(tmp_path, "b", str(tmp_path / "a"))
    stages = [a, b]
    pipeline.remake(a, [], stages)  # nothing to set aside: no output needed
    finish(b, stages)
    calls, _ = run_chain(pipeline_recipe(tmp_path, stages), stages, {})
    assert [name for name, _, _ in calls] == ["a", "b"]
    aside = next(tmp_path.glob("b.stale-*"))
    assert f"b: made from 'a', which is made anew; its output moved to {aside}" in (
        capsys.readouterr().out
    )


def test_a_rerun_sets_aside_a_stage_whose_own_recipe_was_edited_and_remakes_what_reads_it(
    tmp_path, capsys
):
    a, b = sft(tmp_path, "a", "m", "trainer.max_steps=7"), sft(tmp_path, "b", str(tmp_path / "a"))
    finish(a, [a, b])
    finish(b, [a, b])
    edited = sft(tmp_path, "a", "m", "trainer.max_steps=9")  # the user changed a's overrides
    stages = [edited, b]
    assert pipeline.edited(edited, stages) == ["trainer.max_steps: 7 -> 9"]
    calls, code = run_chain(pipeline_recipe(tmp_path, stages), stages, {})
    assert code == 0 and [name for name, _, _ in calls] == ["a", "b"]
    aside = next(tmp_path.glob("a.stale-*"))
    assert "max_steps: 7" in (aside / "recipe.yaml").read_text()  # the old run, kept
    assert pipeline.finished(edited, stages)  # the new one in its place
    out = capsys.readouterr().out
    assert (
        f"a: its recipe changed since its output was made (trainer.max_steps: 7 -> 9); that "
        f"output moved to {aside}"
    ) in out
    assert len(list(tmp_path.glob("b.stale-*"))) == 1  # b read the old a: made anew too


def test_a_stage_is_edited_only_by_keys_its_kind_does_not_continue_across(tmp_path):
    root = tmp_path / "traces"

    def traces(*more: str) -> Stage:
        return Stage("traces", str(root), "distill/tiny", ("model.model_name_or_path=m", *more))

    before = traces("select.max_per_prompt=2")
    run_dir.write_recipe(pipeline.stage_recipe(before, [before]), root)
    reselect = traces("select.max_per_prompt=1")  # generate reselects on the saved samples
    assert pipeline.edited(reselect, [reselect]) == []
    resample = traces("generate.temperature=0.5")
    changed = pipeline.edited(resample, [resample])
    assert len(changed) == 1 and changed[0].startswith("generate.temperature: ")
    assert changed[0].endswith(" -> 0.5")
    assert pipeline.edited(Stage("e", str(root), evaluate="traces"), [resample]) == []
    assert pipeline.edited(traces(), [traces()]) == []


def test_a_chain_of_evaluations_only_names_no_last_model(tmp_path, capsys):
    a = sft(tmp_path, "a", "m")
    e = Stage("e", str(tmp_path / "e"), evaluate="a")
    finish(a, [a, e])
    run_chain(pipeline_recipe(tmp_path, [e]), [a, e][1:], {})
    assert "lineage of the last model" not in capsys.readouterr().out


def submitted(recipe: Recipe, stages: list[Stage]):
    calls = []

    def submit(facts, node, **kwargs):
        calls.append((facts, node, kwargs))
        return 100 + len(calls)

    with (
        mock.patch.object(slurm, "submit", submit),
        mock.patch.object(pipeline, "build_tiny_model", building(stages)),
    ):
        return calls, pipeline.submit_chain(recipe)


def test_the_slurm_chain_submits_each_stage_to_make_after_the_one_before(tmp_path, capsys):
    a, b = sft(tmp_path, "a", "m"), sft(tmp_path, "b", str(tmp_path / "a"))
    c = sft(tmp_path, "c", "m")
    e = Stage("e", str(tmp_path / "e"), evaluate="c")
    stages = [a, b, c, e]
    finish(a, stages)
    calls, jobs = submitted(pipeline_recipe(tmp_path, stages, "tests/p"), stages)
    assert jobs == [("b", 101), ("c", 102), ("e", 103)]
    assert [kw["extra"] for _, _, kw in calls] == [
        [],
        ["--dependency=afterok:101", "--kill-on-invalid-dep=yes"],
        ["--dependency=afterok:102", "--kill-on-invalid-dep=yes"],
    ]
    assert [kw["job_name"] for _, _, kw in calls] == [
        "r1lab-tests-p-b",
        "r1lab-tests-p-c",
        "r1lab-tests-p-e",
    ]
    for (facts, node, kw), stage in zip(calls, (b, c, e), strict=True):
        assert node is None and kw["validated"] is True
        assert kw["env"] == {lineage.PIPELINE_ENV: "tests/p", lineage.STAGE_ENV: stage.name}
        assert kw["log_dir"] == Path(stage.output).resolve() / "slurm"
        assert facts.recipe.output_dir == pipeline.stage_recipe(stage, stages).output_dir
        assert facts.kind.name == "sft"
    assert [kw["wrap"] for _, _, kw in calls[:2]] == [None, None]
    assert calls[2][2]["wrap"] == pipeline.command(e, stages)
    out = capsys.readouterr().out
    assert f"a: finished earlier in {a.output}; not submitted" in out
    assert "chain: b (job 101) -> c (job 102) -> e (job 103)" in out
    assert "watch: squeue -j 101,102,103" in out


def test_a_slurm_chain_with_every_stage_finished_submits_nothing_and_says_so(tmp_path, capsys):
    a = sft(tmp_path, "a", "m")
    finish(a, [a])
    calls, jobs = submitted(pipeline_recipe(tmp_path, [a]), [a])
    assert calls == [] and jobs == []
    out = capsys.readouterr().out
    assert "[r1lab pipeline] every stage finished earlier: nothing submitted\n" in out
    assert "chain:" not in out


def test_a_slurm_chain_sets_aside_a_finished_stage_made_from_one_made_anew(tmp_path):
    a, b = sft(tmp_path, "a", "m"), sft(tmp_path, "b", str(tmp_path / "a"))
    finish(b, [a, b])
    calls, jobs = submitted(pipeline_recipe(tmp_path, [a, b]), [a, b])
    assert [name for name, _ in jobs] == ["a", "b"]
    assert len(list(tmp_path.glob("b.stale-*"))) == 1 and not (tmp_path / "b").exists()


def test_fresh_deletes_stage_outputs_and_finished_evaluations_but_no_other_folder(tmp_path):
    a = sft(tmp_path, "a", "m")
    finish(a, [a])
    done, mine = tmp_path / "done", tmp_path / "mine"
    for folder, name in ((done, pipeline.HELDOUT), (mine, "notes.txt")):
        folder.mkdir()
        (folder / name).write_text("{}")
    stages = [
        a,
        Stage("never", str(tmp_path / "never"), "base/tiny"),
        Stage("e", str(done), evaluate="a"),
        Stage("f", str(mine), evaluate="a"),
    ]
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "a.log").write_text("x")
    pipeline.clear(pipeline_recipe(tmp_path, stages))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]
    assert (mine / "notes.txt").exists()


def test_fresh_before_any_run_has_nothing_to_delete(tmp_path):
    pipeline.clear(pipeline_recipe(tmp_path / "new", [sft(tmp_path / "new", "a", "m")]))
    assert not (tmp_path / "new").exists()


def test_fresh_refuses_to_delete_a_folder_that_holds_no_r1lab_run(tmp_path):
    (tmp_path / "a").mkdir()
    with pytest.raises(RecipeError, match="holds no r1lab run"):
        pipeline.clear(pipeline_recipe(tmp_path, [sft(tmp_path, "a", "m")]))


@pytest.mark.parametrize(
    "on_slurm, fresh, expected",
    [(False, False, ["check", "run_here"]), (True, True, ["check", "clear", "submit_chain"])],
)
def test_launch_checks_then_clears_when_fresh_then_submits_or_runs_that_recipe(
    tmp_path, on_slurm, fresh, expected
):
    recipe = pipeline_recipe(tmp_path, [])
    calls = []

    def step(name, result=None):
        def called(given):
            assert given is recipe, name
            calls.append(name)
            return mock.Mock(raise_if_failed=lambda: None) if name == "check" else result

        return called

    with (
        mock.patch.object(pipeline, "check", step("check")),
        mock.patch.object(pipeline, "clear", step("clear")),
        mock.patch.object(pipeline, "submit_chain", step("submit_chain")),
        mock.patch.object(pipeline, "run_here", step("run_here", 7)),
    ):
        code = pipeline.launch(recipe, on_slurm, fresh=fresh)
    assert calls == expected and code == (0 if on_slurm else 7)


def test_launch_stops_at_a_failed_check(tmp_path):
    calls = []

    def failed():
        raise RecipeError("stage 'a': broken")

    with (
        mock.patch.object(pipeline, "check", lambda recipe: mock.Mock(raise_if_failed=failed)),
        mock.patch.object(pipeline, "clear", lambda recipe: calls.append("clear")),
        mock.patch.object(pipeline, "run_here", lambda recipe: calls.append("run_here")),
    ):
        with pytest.raises(RecipeError, match="stage 'a': broken"):
            pipeline.launch(pipeline_recipe(tmp_path, []), on_slurm=False, fresh=True)
    assert calls == []


def test_launch_clears_nothing_unless_asked(tmp_path):
    calls = []
    with (
        mock.patch.object(pipeline, "check", lambda recipe: mock.Mock()),
        mock.patch.object(pipeline, "clear", lambda recipe: calls.append("clear")),
        mock.patch.object(pipeline, "run_here", lambda recipe: 0),
    ):
        pipeline.launch(pipeline_recipe(tmp_path, []), on_slurm=False)
    assert calls == []


def test_r1lab_pipeline_runs_the_composed_recipe_here_with_fresh_as_given(tmp_path, capsys):
    seen = []
    with mock.patch.object(pipeline, "launch", lambda *a, **kw: seen.append((a, kw)) or 3):
        assert pipeline.main(["r1/tiny", f"trainer.output_dir={tmp_path}", "--fresh"]) == 3
        assert pipeline.main(["-h"]) == 0
    assert "usage: r1lab pipeline <recipe>" in capsys.readouterr().out
    [(args, kw)] = seen
    assert args[0].name == "r1/tiny" and args[0].output_dir == str(tmp_path)
    assert kw == {"on_slurm": False, "fresh": True}


def test_the_pipeline_kind_loads_no_model_reads_no_data_and_has_no_model_section():
    kind = KINDS["pipeline"]
    assert kind.loads_model(compose("r1/tiny")) is False
    assert (kind.reads_data, kind.common_sections, kind.launcher) == (False, False, "python")
