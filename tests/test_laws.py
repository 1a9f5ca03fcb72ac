"""Laws of the modules that decide what a student trains on and which numbers a report shows,
checked over generated inputs (hypothesis): verified selection, pass@k from per-sample rows, a
generation resumed after a stop at any shard, and a pipeline rerun after a stage's output is gone."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from r1lab import run_dir
from r1lab.generation import Completion
from r1lab.generation.settings import GenerateConfig
from r1lab.generation.shards import generate_shards, load_samples, samples_schema
from r1lab.kinds import pipeline
from r1lab.metrics import summarize
from r1lab.recipe import Recipe
from r1lab.selection import SelectConfig, select

RECIPE = {"data": {"source": "x.jsonl", "solution_column": "solution"}}


def sample(pid: int, index: int, answer: str, reasoning: int) -> dict:
    """One generated sample; `reasoning` picks its text, so equal numbers are duplicates."""
    return {
        "prompt_id": pid,
        "sample": index,
        "question": f"Problem {pid}: what is 3 + 4?",
        "solution": "7",
        "prompt": f"User: Problem {pid}? Assistant:",
        "completion": f"<think> step {reasoning} gives {answer} </think> <answer> {answer} </answer>",
        "finish_reason": "stop",
        "prompt_tokens": 10,
        "completion_tokens": 20,
    }


# per prompt: a list of (answer right?, reasoning id) samples
samples_strategy = st.lists(
    st.lists(st.tuples(st.booleans(), st.integers(0, 3)), min_size=1, max_size=6),
    min_size=1,
    max_size=4,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prompts=samples_strategy, cap=st.one_of(st.none(), st.integers(1, 4)))
def test_selection_keeps_exactly_the_verified_distinct_samples_up_to_the_cap(prompts, cap):
    """Never a sample the verifier rejects; every verified one, once per distinct text, up to
    max_per_prompt per prompt."""
    rows = [
        sample(pid, i, "7" if right else "8", reasoning)
        for pid, group in enumerate(prompts)
        for i, (right, reasoning) in enumerate(group)
    ]
    cfg = SelectConfig.from_recipe({"max_per_prompt": cap}, RECIPE)
    kept = select(rows, cfg).kept
    assert all("<answer> 7 </answer>" in r["completion"] for r in kept)
    for pid, group in enumerate(prompts):
        distinct = len({reasoning for right, reasoning in group if right})
        mine = [r for r in kept if r["prompt_id"] == pid]
        assert len(mine) == (distinct if cap is None else min(cap, distinct)), (group, cap)
        assert len({r["completion"] for r in mine}) == len(mine)  # no duplicate kept


@settings(max_examples=60, deadline=None)
@given(
    correct=st.lists(st.lists(st.booleans(), min_size=4, max_size=4), min_size=1, max_size=6),
    seed=st.integers(0, 2**16),
)
def test_pass_at_k_from_per_sample_rows_ignores_their_order(correct, seed):
    rows = [
        {
            "prompt_id": pid,
            "sample": i,
            "correct": ok,
            "answer": str(i % 2),
            "completion_tokens": 5 + i,
            "finish_reason": "stop",
        }
        for pid, problem in enumerate(correct)
        for i, ok in enumerate(problem)
    ]
    shuffled = rows[:]
    random.Random(seed).shuffle(shuffled)
    a = summarize(rows, k=4, expected=len(correct), same=None)
    b = summarize(shuffled, k=4, expected=len(correct), same=None)
    assert a == b
    assert a["pass@1"] == sum(map(sum, correct)) / (4 * len(correct))


class Killed(Exception):
    """The process died in the middle of a shard (SIGKILL, a node lost)."""


class FakeGenerator:
    """A prompt's samples depend on its id, the sample index and the seed only, as vLLM's
    per-request seeds make them: not on which shard or batch the prompt lands in. It stops the
    run after `shards` calls: by a preemption between shards, or by a kill inside the next one."""

    made = 0  # shards generated, over every run

    def __init__(self, shards: int | None = None, how: str = "preempt") -> None:
        self.left, self.how = shards, how

    def stop_now(self) -> bool:
        return self.how == "preempt" and self.left == 0

    def generate(self, prompts, n, sampling, ids=None):
        if self.left is not None:
            if self.left == 0:  # only a kill gets here: a preemption stops before the call
                raise Killed
            self.left -= 1
        FakeGenerator.made += 1
        return [
            [Completion(f"{i}/{j}/{sampling.seed}: {p}", "stop", len(p), 3 + j) for j in range(n)]
            for p, i in zip(prompts, ids, strict=True)
        ]


def run_generation(
    out: Path, rows: list[dict], cfg: GenerateConfig, gen: FakeGenerator | None
) -> bool:
    """One run of the recipe; `gen` None: a run that must not need a generator."""
    import pyarrow as pa

    from r1lab import preempt

    schema = samples_schema(pa.schema([("prompt", pa.string()), ("question", pa.string())]))
    made_by = {"teacher": "fake", "backend": "fake", "sampling": "{}", "recipe": "laws"}

    def make_generator() -> FakeGenerator:
        assert gen is not None, "a generator was made with no shard to make"
        return gen

    with mock.patch.object(preempt, "requested", gen.stop_now if gen else lambda: False):
        try:
            return generate_shards(rows, schema, out, cfg, make_generator, made_by)
        except Killed:
            return False


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prompts=st.integers(1, 10),
    shard_size=st.integers(1, 4),
    num_samples=st.integers(1, 3),
    stops=st.lists(st.tuples(st.sampled_from(["preempt", "kill"]), st.integers(0, 6)), max_size=3),
)
def test_a_generation_stopped_at_any_shard_and_rerun_has_exactly_the_uninterrupted_samples(
    prompts, shard_size, num_samples, stops
):
    """Preempted between shards or killed inside one, any number of times: the rerun makes the
    missing shards only, and the samples are those of a run that was never stopped, each once."""
    rows = [{"prompt_id": k, "prompt": f"P{k}?", "question": f"Q{k}"} for k in range(prompts)]
    cfg = GenerateConfig(num_samples=num_samples, shard_size=shard_size, seed=3)
    total = -(-prompts // shard_size)
    with tempfile.TemporaryDirectory() as tmp:
        whole, resumed = Path(tmp) / "whole", Path(tmp) / "resumed"
        assert run_generation(whole, rows, cfg, FakeGenerator())
        FakeGenerator.made = 0
        for how, shards in stops:
            done = len(list((resumed / "samples").glob("*.parquet")))
            finished = run_generation(resumed, rows, cfg, FakeGenerator(shards, how))
            assert finished == (done + shards >= total)  # stopped iff shards were left
        assert run_generation(resumed, rows, cfg, FakeGenerator())
        assert FakeGenerator.made == total  # each shard made once, over all the runs
        expected = load_samples(whole)
        assert len(expected) == prompts * num_samples
        assert load_samples(resumed) == expected
        # a finished run's rerun makes no generator and changes nothing
        assert run_generation(resumed, rows, cfg, None)
        assert load_samples(resumed) == expected


def _chain(root: Path, reads: list[int | None]) -> list[pipeline.Stage]:
    """SFT stages of base/tiny; stage i starts from stage reads[i]'s model (None: a model no
    stage makes), so the stages form a forest of `reads` links."""
    stages: list[pipeline.Stage] = []
    for i, source in enumerate(reads):
        model = stages[source].output if source is not None else str(root / "pretrained")
        overrides = (f"model.model_name_or_path={model}",)
        stages.append(pipeline.Stage(f"s{i}", str(root / f"s{i}"), "base/tiny", overrides))
    return stages


def _after(reads: list[int | None], removed: int) -> list[str]:
    """The removed stage and every stage that reads it, directly or through others."""
    made = {removed}
    for i, source in enumerate(reads):
        if source in made:
            made.add(i)
    return [f"s{i}" for i in sorted(made)]


@st.composite
def forests(draw) -> tuple[list[int | None], int]:
    size = draw(st.integers(1, 5))
    reads = [None] + [draw(st.one_of(st.none(), st.integers(0, i - 1))) for i in range(1, size)]
    return reads, draw(st.integers(0, size - 1))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=forests())
def test_a_pipeline_rerun_after_a_stage_output_is_removed_remakes_it_and_what_reads_it(case):
    """No stage keeps an output made from an earlier stage's output that is being made anew: a
    rerun after one stage's output is removed runs exactly that stage and those reading it, in
    order, and sets their old outputs aside (kept, not deleted)."""
    reads, removed = case
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        stages = _chain(root, reads)
        ran: list[str] = []

        def run(cmd: list[str], log_path: Path, env: dict[str, str]) -> int:
            stage = next(s for s in stages if s.name == cmd[-1])
            assert not (Path(stage.output) / "run_info.json").exists(), "ran into a finished dir"
            run_dir.write_recipe(pipeline.stage_recipe(stage, stages), Path(stage.output))
            (Path(stage.output) / "run_info.json").write_text('{"global_step": 1}')
            ran.append(stage.name)
            return 0

        recipe = Recipe("laws", "pipeline", {}, {}, {"output_dir": str(root)})
        recipe.parsed["stages"] = stages
        with (
            mock.patch.object(pipeline, "run_logged", run),
            mock.patch.object(pipeline, "command", lambda stage, _: ["fake", stage.name]),
            mock.patch.object(pipeline, "build_tiny_model", lambda _: None),
        ):
            pipeline.run_here(recipe)
            assert ran == [s.name for s in stages]
            ran.clear()
            pipeline.run_here(recipe)
            assert ran == []  # everything finished: nothing reruns
            run_dir.clear(stages[removed].output)
            pipeline.run_here(recipe)
        assert ran == _after(reads, removed)
        kept = sorted(p.name.split(".stale-")[0] for p in root.glob("*.stale-*"))
        assert kept == [n for n in ran if n != f"s{removed}"]
