"""The demo's seed runs: every stage retrained with the seed, into its own folders."""

from __future__ import annotations

from r1lab.demo import PIPELINE, seed_overrides
from r1lab.kinds import pipeline
from r1lab.recipe import compose


def test_a_seed_run_reseeds_every_training_stage_into_its_own_folders(tmp_path):
    default = compose(PIPELINE, [])
    root = str(tmp_path / "seed2")
    recipe = compose(PIPELINE, seed_overrides(default, 2, root))
    stages = pipeline.stages_of(recipe)
    assert all(s.output == f"{root}/{s.name}" for s in stages)
    by_name = {s.name: pipeline.stage_recipe(s, stages) for s in stages if not s.evaluate}
    for name, stage_recipe in by_name.items():
        assert stage_recipe.output_dir == f"{root}/{name}"
        if stage_recipe.kind in ("sft", "grpo"):
            assert stage_recipe.trainer["seed"] == 2, name
        else:
            assert stage_recipe.sections["generate"]["seed"] == 2, name
    # later stages read the seed's own models and traces, never seed 0's
    assert by_name["r1_zero"].model["model_name_or_path"] == f"{root}/base"
    assert by_name["cold_start"].data["source"] == f"{root}/traces/selected.parquet"
    # the evaluation protocol is the same in every seed
    evals = [pipeline.stage_recipe(s, stages).evaluate for s in stages if s.evaluate]
    assert evals and all(e == dict(default_eval(default)) for e in evals)


def default_eval(recipe) -> dict:
    stages = pipeline.stages_of(recipe)
    first = next(s for s in stages if s.evaluate)
    return dict(pipeline.stage_recipe(first, stages).evaluate)
