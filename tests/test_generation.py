"""The generation interface on the real tiny model: n completions per prompt with true metadata."""

from __future__ import annotations

import pytest

from r1lab.errors import RecipeError
from r1lab.generation import Sampling, load_generator


@pytest.fixture(scope="module")
def generator(base_model):
    return load_generator("hf", str(base_model), batch_size=8)


PROMPTS = ["Compute 1 + 2", "Compute 7 - 3 + 1", "Compute 4 + 4 - 2"]


def test_n_completions_per_prompt_in_prompt_order(generator):
    out = generator.generate(PROMPTS, 3, Sampling(max_new_tokens=12, seed=0))
    assert [len(group) for group in out] == [3, 3, 3]
    # each prompt's token count is its own (prompts differ in length; padding is not counted)
    tok = generator.tokenizer
    lengths = [len(tok(p, add_special_tokens=False)["input_ids"]) for p in PROMPTS]
    assert [group[0].prompt_tokens for group in out] == lengths


def test_finish_reason_and_token_counts_agree_with_the_cap(generator):
    sampling = Sampling(max_new_tokens=6, seed=1)
    for group in generator.generate(PROMPTS, 4, sampling):
        for c in group:
            assert 1 <= c.completion_tokens <= 6
            if c.finish_reason == "length":
                assert c.completion_tokens == 6
            else:
                assert c.finish_reason == "stop"
    long = generator.generate(PROMPTS, 2, Sampling(max_new_tokens=64, seed=1))
    assert any(c.finish_reason == "stop" and c.completion_tokens < 64 for g in long for c in g)


def test_seeded_sampling_repeats_and_greedy_ignores_the_seed(generator):
    a = generator.generate(PROMPTS, 2, Sampling(max_new_tokens=16, temperature=1.0, seed=5))
    b = generator.generate(PROMPTS, 2, Sampling(max_new_tokens=16, temperature=1.0, seed=5))
    assert [c.text for g in a for c in g] == [c.text for g in b for c in g]
    g1 = generator.generate(PROMPTS, 1, Sampling(max_new_tokens=16, greedy=True, seed=1))
    g2 = generator.generate(PROMPTS, 1, Sampling(max_new_tokens=16, greedy=True, seed=2))
    assert [g[0].text for g in g1] == [g[0].text for g in g2]


def test_unknown_backend_names_the_known_ones():
    with pytest.raises(RecipeError, match="'hff'.*did you mean 'hf'"):
        load_generator("hff", "nowhere")
