"""A run's output dir without training anything: which recipe keys make a run a different run,
when a rerun is admitted, resumed, a no-op or refused, what `--fresh` deletes, and that files
written there appear whole or not at all (r1lab.run_dir, r1lab.atomic). The same rules end to
end, with a trained model: tests/test_first_hour.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from r1lab import run_dir
from r1lab.atomic import atomic_write
from r1lab.errors import RecipeError
from r1lab.recipe import Recipe


def recipe(out: Path, **trainer) -> Recipe:
    return Recipe(
        name="r1_zero/tiny",
        kind="grpo",
        model={"model_name_or_path": "tiny"},
        data={"source": "arithmetic", "seed": 0},
        trainer={"output_dir": str(out), "learning_rate": 1e-5, "max_steps": 40, **trainer},
    )


def started(rec: Recipe, step: int | None = None) -> Path:
    """`rec`'s output dir as a run leaves it: recipe.yaml, and run_info.json once finished."""
    out = Path(rec.output_dir)
    run_dir.write_recipe(rec, out)
    if step is not None:
        (out / "run_info.json").write_text(json.dumps({"global_step": step}))
    return out


# ---- which keys make another run -----------------------------------------------------------


def test_training_identity_is_flat_dotted_keys_without_where_a_run_executes():
    found = run_dir.training_identity(
        {
            "name": "r1_zero/tiny",
            "trainer": {"output_dir": "runs/a", "learning_rate": 1e-5, "lr": {"warmup": 0.1}},
            "rewards": {},
            "overrides": ["trainer.max_steps=4"],
            "slurm": {"nodes": 2},
            "evaluate": {"benchmarks": ["aime24"]},
        }
    )
    assert found == {
        "name": "r1_zero/tiny",
        "trainer.learning_rate": 1e-5,
        "trainer.lr.warmup": 0.1,
        "rewards": {},  # an empty section is a value, not nothing
    }


def test_training_identity_ignores_whole_sections_and_dotted_keys_not_prefixes_of_words():
    recipe_dict = {
        "select": {"max_per_prompt": 4},
        "selection": {"x": 1},
        "generate": {"seed": 1, "seeds": 2, "n": 8},
    }
    found = run_dir.training_identity(recipe_dict, ignore=("select", "generate.seed"))
    assert found == {"selection.x": 1, "generate.seeds": 2, "generate.n": 8}


def test_differences_name_each_changed_key_in_order_with_unset_ones():
    stored = {"trainer": {"learning_rate": 1e-5, "warmup": None, "beta": 0.1}, "slurm": {"n": 1}}
    current = {"trainer": {"learning_rate": 3e-5, "beta": 0.1, "max_steps": 40}, "slurm": {"n": 2}}
    assert run_dir.differences(stored, current) == [
        "trainer.learning_rate: 1e-05 -> 3e-05",
        "trainer.max_steps: (unset) -> 40",
        "trainer.warmup: None -> (unset)",  # set to None is not the same as not set
    ]
    assert run_dir.differences(stored, current, ignore=("trainer",)) == []
    stored, current = {"data": {"source": "x"}}, {"data": {"source": "x", "seed": None}}
    assert run_dir.differences(stored, current) == ["data.seed: (unset) -> None"]


# ---- finished, same recipe -----------------------------------------------------------------


def test_finished_step_is_the_step_in_run_info_or_none_without_it(tmp_path):
    assert run_dir.finished_step(tmp_path) is None
    (tmp_path / "run_info.json").write_text(json.dumps({"global_step": 37}))
    assert run_dir.finished_step(str(tmp_path)) == 37
    (tmp_path / "run_info.json").write_text(json.dumps({"epoch": 1.0}))
    assert run_dir.finished_step(tmp_path) == 0


def test_same_recipe_compares_the_saved_recipe_keys_in_ignore_aside(tmp_path):
    rec = recipe(tmp_path / "run")
    assert not run_dir.same_recipe(rec)  # nothing saved yet
    started(rec)
    assert run_dir.same_recipe(rec)
    other = recipe(tmp_path / "run", learning_rate=3e-5)
    assert not run_dir.same_recipe(other)
    assert run_dir.same_recipe(other, ignore=("trainer.learning_rate",))


def test_finished_training_needs_both_the_run_info_and_the_same_recipe(tmp_path):
    rec = recipe(tmp_path / "run")
    started(rec)
    assert not run_dir.finished_training(rec)  # cut off: resumes
    started(rec, step=40)
    assert run_dir.finished_training(rec)
    assert not run_dir.finished_training(recipe(tmp_path / "run", max_steps=80))


# ---- admit ---------------------------------------------------------------------------------


def test_admit_lets_a_new_run_or_its_own_cut_off_run_train(tmp_path):
    rec = recipe(tmp_path / "run")
    assert run_dir.admit(rec) is None  # nothing there
    started(rec)
    assert run_dir.admit(rec) is None  # resumes its own run
    started(rec, step=40)
    assert run_dir.admit(rec) == 40  # finished: a no-op that says so


@pytest.mark.parametrize("finished", [True, False])
def test_admit_refuses_another_recipes_run_with_what_differs_and_the_ways_out(tmp_path, finished):
    out = started(recipe(tmp_path / "run"), step=40 if finished else None)
    with pytest.raises(RecipeError) as err:
        run_dir.admit(recipe(tmp_path / "run", learning_rate=3e-5))
    state = "a finished run" if finished else "a run (not finished)"
    assert str(err.value) == (
        f"{out} holds {state} of a different recipe ({out / 'recipe.yaml'}): "
        "trainer.learning_rate: 1e-05 -> 3e-05. Continuing there would mix two runs. Write this "
        f"one elsewhere, trainer.output_dir={out}-2, or start over there with --fresh "
        f"(deletes {out})"
    )


def test_admit_shows_eight_differences_and_counts_the_rest(tmp_path):
    started(recipe(tmp_path / "run"))
    changed = {f"k{i}": i for i in range(10)}  # k0 .. k9, shown in sorted order
    with pytest.raises(RecipeError) as err:
        run_dir.admit(recipe(tmp_path / "run", **changed))
    shown = [f"trainer.k{i}: (unset) -> {i}" for i in range(8)]
    assert f"): {'; '.join(shown)}; and 2 more. Continuing" in str(err.value)
    started(recipe(tmp_path / "eight"))
    with pytest.raises(RecipeError) as err:
        run_dir.admit(recipe(tmp_path / "eight", **{f"k{i}": i for i in range(8)}))
    assert f"): {'; '.join(shown)}. Continuing" in str(err.value)
    started(recipe(tmp_path / "nine"))
    with pytest.raises(RecipeError) as err:
        run_dir.admit(recipe(tmp_path / "nine", **{f"k{i}": i for i in range(9)}))
    assert f"): {'; '.join(shown)}; and 1 more. Continuing" in str(err.value)


def test_a_saved_recipe_is_compared_by_its_resolved_values(tmp_path):
    """A recipe.yaml written with an interpolation (by hand, or by an older r1lab) names the same
    run as the recipe it resolves to."""
    rec = recipe(tmp_path / "run", warmup_lr=1e-5)
    out = started(rec, step=40)
    text = (out / "recipe.yaml").read_text()
    assert "warmup_lr: 1.0e-05" in text
    (out / "recipe.yaml").write_text(
        text.replace("warmup_lr: 1.0e-05", "warmup_lr: ${.learning_rate}")
    )
    assert run_dir.same_recipe(rec) and run_dir.admit(rec) == 40


def test_admit_with_the_differing_keys_ignored_admits(tmp_path):
    rec = recipe(tmp_path / "run")
    started(rec, step=40)
    assert (
        run_dir.admit(recipe(tmp_path / "run", max_steps=80), ignore=("trainer.max_steps",)) == 40
    )


# ---- --fresh, recipe.yaml ------------------------------------------------------------------


def test_fresh_deletes_an_r1lab_run_and_refuses_any_other_folder(tmp_path):
    run_dir.clear(tmp_path / "never-made")  # nothing there: nothing to do
    out = started(recipe(tmp_path / "run"), step=40)
    run_dir.clear(str(out))
    assert not out.exists()
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    with pytest.raises(RecipeError) as err:
        run_dir.clear(other)
    assert str(err.value) == (
        f"--fresh: {other} exists but holds no r1lab run (no recipe.yaml), so r1lab will not "
        "delete it; choose another trainer.output_dir"
    )
    assert (other / "notes.txt").read_text() == "keep"


def test_write_recipe_makes_the_folder_and_leaves_only_recipe_yaml(tmp_path):
    rec = recipe(tmp_path / "deep" / "down" / "run")
    run_dir.write_recipe(rec, Path(rec.output_dir))
    out = Path(rec.output_dir)
    assert sorted(p.name for p in out.iterdir()) == ["recipe.yaml"]
    assert (out / "recipe.yaml").read_text() == rec.to_yaml()


# ---- atomic_write --------------------------------------------------------------------------


def test_atomic_write_writes_through_a_hidden_temporary_beside_the_file(tmp_path):
    seen = []

    def write(tmp: str) -> None:
        seen.append(Path(tmp))
        assert not (tmp_path / "out.json").exists()  # not visible until whole
        Path(tmp).write_text('{"done": true}')

    atomic_write(str(tmp_path / "out.json"), write)
    [tmp] = seen
    assert tmp.parent == tmp_path and tmp.name.startswith(".out.json.") and tmp.suffix == ".tmp"
    assert os.listdir(tmp_path) == ["out.json"]
    assert json.loads((tmp_path / "out.json").read_text()) == {"done": True}


@pytest.mark.parametrize("error", [ValueError, KeyboardInterrupt])
def test_a_failed_atomic_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, error):
    path = tmp_path / "out.json"
    path.write_text("old")

    def write(tmp: str) -> None:
        Path(tmp).write_text("half")
        raise error("killed")

    with pytest.raises(error):
        atomic_write(path, write)
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["out.json"]


def test_a_writer_that_fails_after_removing_its_temporary_raises_its_own_error(tmp_path):
    def write(tmp: str) -> None:
        Path(tmp).unlink()
        raise ValueError("the writer's own error")

    with pytest.raises(ValueError, match="the writer's own error"):
        atomic_write(tmp_path / "out.json", write)
    assert os.listdir(tmp_path) == []
