"""Budget forcing (`generate.budget`, r1lab.generation.budget) on the real tiny model: the hf
backend in this process, a real vLLM engine through `r1lab generate` (as a user runs it)."""

from __future__ import annotations

import json
import os

import pytest

from r1lab.generation import Sampling, load_generator
from r1lab.generation.budget import END_THINK, START_THINK, Budget, wrap
from r1lab.generation.settings import GenerateConfig
from r1lab.prompts import format_prompt

from conftest import run_r1lab

QUESTIONS = ["Compute 1 + 2 + 3", "Compute 7 - 3 + 1", "Compute 4 + 4 - 2", "Compute 9 - 5 - 1"]
PROMPTS = [format_prompt(q, "r1_zero") for q in QUESTIONS]
SAMPLED = Sampling(max_new_tokens=40, temperature=1.0, seed=3)
GREEDY = Sampling(max_new_tokens=40, greedy=True)
MAX_THINK, MIN_THINK, WAITS = 4, 12, 2


@pytest.fixture(scope="module")
def hf(base_model):
    return load_generator("hf", str(base_model), batch_size=16)


def thought(text: str) -> str:
    """The thinking: the text before the first `</think>` (all of it without one), after an
    opening `<think>`."""
    before = text.split(END_THINK, 1)[0]
    opened = before.lstrip()
    return opened[len(START_THINK) :] if opened.startswith(START_THINK) else before


def tokens(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def assert_capped(rows: list[tuple[str, int, str]], tokenizer, most: int) -> None:
    """(completion, completion_tokens, finish_reason): `</think>` after at most `most` thinking
    tokens in each (or the model ended the sequence sooner, inside its thinking); some reach the
    cap and an answer is written after it; token counts true to the text."""
    capped = 0
    for text, count, finish in rows:
        assert END_THINK in text or finish == "stop", (finish, text)
        think = tokens(tokenizer, thought(text))
        assert think <= most, (think, text)
        if think == most:
            capped += 1
            assert thought(text)[-1:].isspace(), text  # `</think>` a word of its own
            assert text.split(END_THINK, 1)[1].strip(), f"no answer after the cap: {text!r}"
        assert count - tokens(tokenizer, text) in (0, 1), (count, text)  # + its end of sequence
    assert capped, f"no thinking reached the cap of {most}: {[t for t, *_ in rows]}"


def test_hf_thinking_stops_at_the_max_budget_and_an_answer_follows(hf):
    plain = [c.text for g in hf.generate(PROMPTS, 2, SAMPLED) for c in g]
    # the same samples unforced think longer than the cap (else this test could not fail)
    assert any(tokens(hf.tokenizer, thought(t)) > MAX_THINK for t in plain), plain
    forced = wrap(hf, Budget(max_think_tokens=MAX_THINK)).generate(PROMPTS, 2, SAMPLED)
    assert [len(g) for g in forced] == [2] * len(PROMPTS)
    made = [(c.text, c.completion_tokens, c.finish_reason) for g in forced for c in g]
    assert_capped(made, hf.tokenizer, MAX_THINK)


def test_hf_a_short_thought_is_extended_once_per_wait(hf):
    plain = [g[0].text for g in hf.generate(PROMPTS, 1, GREEDY)]
    short = [tokens(hf.tokenizer, thought(t)) < MIN_THINK and END_THINK in t for t in plain]
    assert any(short), plain  # the model ends some thinking before the minimum by itself
    budget = Budget(min_think_tokens=MIN_THINK, max_waits=WAITS)
    forced = [g[0] for g in wrap(hf, budget).generate(PROMPTS, 1, GREEDY)]
    for was_short, c in zip(short, forced, strict=True):
        think = thought(c.text)
        waits = think.count(budget.wait_text)
        assert waits <= WAITS, c.text
        if was_short:
            assert waits >= 1, c.text  # its early `</think>` became a wait
        if END_THINK in c.text:  # it thought enough, or ran out of waits
            assert tokens(hf.tokenizer, think) >= MIN_THINK or waits == WAITS, c.text
        assert c.completion_tokens - tokens(hf.tokenizer, c.text) in (0, 1)


def test_without_a_budget_generation_is_as_before(hf):
    """No budget: the backend itself (no forcing code on the way), its call as before (the
    reference is transformers' own greedy generate), and the provenance samples already made
    carry, so their runs resume."""
    import torch

    assert GenerateConfig.from_recipe({}).budget is None
    assert GenerateConfig.from_recipe({"budget": {"max_waits": 3}}).budget is None  # bounds nothing
    assert wrap(hf, None) is hf
    assert GenerateConfig.from_recipe({}).provenance() == json.dumps(
        {"num_samples": 4, "temperature": 0.6, "top_p": 0.95, "max_new_tokens": 32768, "seed": 0}
    )
    out = [g[0] for g in hf.generate(PROMPTS, 1, GREEDY)]
    tok = hf.tokenizer
    batch = tok(PROMPTS, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():
        ids = hf.model.generate(
            **batch.to(hf.model.device),
            do_sample=False,
            max_new_tokens=GREEDY.max_new_tokens,
            pad_token_id=tok.pad_token_id,
        )
    reference = tok.batch_decode(ids[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    assert [c.text for c in out] == reference
    assert any(END_THINK in t and t.split(END_THINK, 1)[1].strip() for t in reference)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["+generate.budget.min_think_tokens=9", "+generate.budget.max_think_tokens=4"],
            "min_think_tokens=9 exceeds max_think_tokens=4",
        ),
        (["+generate.budget.max_think_tokens=-4"], r"max_think_tokens=-4 must be >= 1"),
        (["+generate.budget.max_waits=-1", "+generate.budget.min_think_tokens=2"], "max_waits=-1"),
        (["+generate.budget.max_thinking=5"], "unknown key 'max_thinking'"),
        (
            [
                "generate.backend=openai",
                "generate.base_url=http://127.0.0.1:9/v1",
                "+generate.budget.max_think_tokens=8",
            ],
            "budget forcing runs on the vllm and hf backends, not openai",
        ),
    ],
)
def test_bad_budgets_are_refused_by_check_before_any_model_loads(overrides, message):
    proc = run_r1lab(
        "check",
        "distill/tiny",
        "model.model_name_or_path=/nowhere/no-model",  # never reached: the budget is refused first
        "generate.backend=hf",
        *overrides,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "generate.budget" in proc.stderr
    import re

    assert re.search(message, proc.stderr), proc.stderr[-2000:]
    assert "/nowhere" not in proc.stdout + proc.stderr  # nothing looked for the model


@pytest.mark.usefixtures("vllm_installed")
def test_vllm_engine_forces_the_budget_and_records_it(base_model, tmp_path):
    """`r1lab generate` on the real vLLM engine with a budget: every thinking capped, short ones
    extended, the budget in every sample's provenance; a rerun with another budget is refused."""
    import datasets
    from transformers import AutoTokenizer

    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    out = tmp_path / "forced"
    args = [
        "generate",
        "distill/tiny",
        f"model.model_name_or_path={base_model}",
        f"trainer.output_dir={out}",
        "data.train_size=6",
        "generate.num_samples=2",
        "generate.max_new_tokens=40",
        "select.verifiers.accuracy=0.0",
        "select.verifiers.format=0.0",
        "select.drop_truncated=false",
    ]
    budget = [
        f"+generate.budget.max_think_tokens={MAX_THINK + 2}",
        "+generate.budget.min_think_tokens=3",
        "+generate.budget.max_waits=1",
    ]
    proc = run_r1lab(*args, *budget, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    rows = datasets.load_dataset(str(out / "samples"), split="train").to_list()
    assert len(rows) == 12 and {r["backend"] for r in rows} == {"vllm"}
    tok = AutoTokenizer.from_pretrained(base_model)
    made = [(r["completion"], r["completion_tokens"], r["finish_reason"]) for r in rows]
    assert_capped(made, tok, MAX_THINK + 2)
    recorded = {r["sampling"] for r in rows}
    assert len(recorded) == 1
    assert json.loads(recorded.pop())["budget"] == {
        "max_think_tokens": MAX_THINK + 2,
        "min_think_tokens": 3,
        "wait_text": "Wait",
        "max_waits": 1,
    }
    waited = [r["completion"] for r in rows if "Wait" in thought(r["completion"])]
    assert waited, [r["completion"] for r in rows]  # some thought was extended
    for text in waited:
        assert thought(text).count("Wait") == 1
    again = run_r1lab(*args, *budget[:-1], "+generate.budget.max_waits=2", timeout=300)
    assert again.returncode == 2, again.stdout[-2000:] + again.stderr[-2000:]
    assert "generate.budget.max_waits: 1 -> 2" in again.stderr or "max_waits" in again.stderr


def test_an_evaluation_rerun_with_another_budget_is_refused(tmp_path):
    """A benchmark's samples are admitted against their settings (their sampling, the budget in
    it): another budget, or none, is refused; the same budget resumes."""
    from r1lab.errors import RecipeError
    from r1lab.kinds.evaluate import benchmarks, sample_sets
    from r1lab.recipe import compose

    def first_set(*budget: str):
        recipe = compose(
            "evaluate/tiny",
            ["model.model_name_or_path=/nowhere/model", f"trainer.output_dir={tmp_path}", *budget],
        )
        bench = benchmarks(recipe)[0]
        return sample_sets(recipe, bench, recipe.parsed["generate"])[0]

    made = "+generate.budget.max_think_tokens=8"
    first_set(made).admit_settings(write=True)
    first_set(made).admit_settings(write=False)  # the same budget: resumed
    with pytest.raises(RecipeError, match="max_think_tokens': 8.*max_think_tokens': 16"):
        first_set("+generate.budget.max_think_tokens=16").admit_settings(write=False)
    with pytest.raises(RecipeError, match="holds samples made otherwise .*budget"):
        first_set().admit_settings(write=False)


def test_an_evaluation_draws_accuracy_and_tokens_against_the_thinking_budget(base_model, tmp_path):
    """`r1lab evaluate <recipe> --budgets 2 8`: k more samples per problem at each budget, each
    one's thinking capped; a row per budget (and the plain samples' as `none`) in the JSON, in
    scaling.md and as a second row of panels in scaling.png; a rerun with one more budget makes
    that budget's samples alone."""
    import datasets
    from PIL import Image
    from transformers import AutoTokenizer

    out = tmp_path / "eval" / "heldout.json"
    args = [
        "evaluate",
        "r1_zero/tiny",
        "--model",
        str(base_model),
        "--out",
        str(out),
        "evaluate.num_problems=12",
        "evaluate.k=2",
        "evaluate.greedy=false",
        "evaluate.max_new_tokens=40",
    ]
    proc = run_r1lab(*args, "--budgets", "8", "2", timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    report = json.loads(out.read_text())
    assert [r["max_think_tokens"] for r in report["budgets"]] == [2, 8, None]
    rows = {r["max_think_tokens"]: r for r in report["budgets"]}
    assert rows[None]["pass@1"] == report["pass@1"]  # the plain samples: the curve's reference
    tok = AutoTokenizer.from_pretrained(base_model)
    folder = out.parent / "heldout"
    for cap in (2, 8):
        made = datasets.load_dataset(str(folder / f"budget-{cap}" / "samples"), split="train")
        samples = made.to_list()
        assert len(samples) == 12 * 2
        assert all(tokens(tok, thought(s["completion"])) <= cap for s in samples), samples
        assert {json.loads(s["sampling"])["budget"]["max_think_tokens"] for s in samples} == {cap}
        mean = sum(s["completion_tokens"] for s in samples) / len(samples)
        assert rows[cap]["mean_completion_tokens"] == pytest.approx(mean)
    # the base model thinks longer than 2 tokens, so the cap shortens its completions
    assert rows[2]["mean_completion_tokens"] < rows[None]["mean_completion_tokens"]
    table = (out.parent / "scaling.md").read_text()
    for cap, label in ((2, "2"), (8, "8"), (None, "none")):
        assert f"| heldout | {label} | {100 * rows[cap]['pass@1']:.1f} ± " in table, table
    width, height = Image.open(out.parent / "scaling.png").size
    assert height == 2 * 340, (width, height)  # samples above, budgets below

    shards = {p: p.stat().st_mtime_ns for p in folder.rglob("shard-*.parquet")}
    again = run_r1lab(*args, "--budgets", "2", "4", "8", timeout=600)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-4000:]
    after = {p: p.stat().st_mtime_ns for p in folder.rglob("shard-*.parquet")}
    assert {p: after[p] for p in shards} == shards  # resumed, not made again
    assert {p.parent.parent.name for p in set(after) - set(shards)} == {"budget-4"}
    rerun = json.loads(out.read_text())
    assert [r["max_think_tokens"] for r in rerun["budgets"]] == [2, 4, 8, None]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["--budgets", "0"], r"budgets=\[0\] must be distinct whole numbers >= 1"),
        (["evaluate.budgets=[4,4]"], r"budgets=\[4, 4\] must be distinct whole numbers"),
        (
            ["+evaluate.generate.budget.min_think_tokens=9", "--budgets", "4"],
            "budgets: 4: generate.budget.min_think_tokens=9 exceeds max_think_tokens=4",
        ),
        (
            [
                "evaluate.backend=openai",
                "+evaluate.generate.base_url=http://127.0.0.1:9/v1",
                "--budgets",
                "4",
            ],
            "budgets: 4: generate.budget: budget forcing runs on the vllm and hf backends",
        ),
    ],
)
def test_bad_budget_sweeps_are_refused_before_any_model_loads(overrides, message, tmp_path):
    import re

    proc = run_r1lab(
        "evaluate",
        "r1_zero/tiny",
        "--model",
        "/nowhere/no-model",
        "--out",
        str(tmp_path / "heldout.json"),
        *overrides,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert re.search(message, proc.stdout + proc.stderr), proc.stdout[-2000:] + proc.stderr[-2000:]
    assert not any(tmp_path.rglob("shard-*.parquet"))
