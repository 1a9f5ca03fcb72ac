"""The generation interface's shared pieces, called directly (no model): Sampling, request seeds,
the thinking prefix, prompt rendering, backend choice (r1lab.generation, .base), and the recipe's
`generate:` section (r1lab.generation.settings)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

import r1lab.generation
from r1lab.errors import RecipeError
from r1lab.generation import BACKENDS, Sampling, check_backend, load_generator
from r1lab.generation.base import render_prompt, request_seed, think_prefix
from r1lab.generation.budget import Budget, BudgetGenerator
from r1lab.generation.settings import NOT_GENERATION, GenerateConfig, config, provenance

# ---- base -----------------------------------------------------------------------------------------


def test_default_sampling_is_plain_sampling_of_256_tokens_unseeded_unstopped():
    s = Sampling()
    assert (s.temperature, s.top_p, s.max_new_tokens, s.greedy, s.seed, s.stop) == (
        1.0,
        1.0,
        256,
        False,
        None,
        (),
    )


def test_request_seed_is_splitmix64_of_the_mixed_seed_halved_to_63_bits():
    # splitmix64's published first two outputs from state 0: 0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4
    # (its states are 1 and 2 golden gammas: seed 1 and 2 with prompt id -1)
    assert request_seed(1, -1) == 0xE220A8397B1DCDAF >> 1
    assert request_seed(2, -1) == 0x6E789E6AA1B965F4 >> 1


def test_request_seeds_are_distinct_and_fit_63_bits():
    seeds = {request_seed(s, p) for s in range(4) for p in range(50)}
    assert len(seeds) == 200 and all(0 <= x < 1 << 63 for x in seeds)
    assert max(seeds) >= 1 << 62  # the whole 63 bits are used


def test_think_prefix_gives_back_an_opened_thinking_with_its_whitespace():
    assert think_prefix("<|User|>2+2?<|Assistant|><think>\n") == "<think>\n"
    assert think_prefix("Q <think> \n\n") == "<think> \n\n"
    assert think_prefix("Q <think>") == "<think>"
    assert think_prefix("Q <think> so") == ""
    assert think_prefix("Q </think>\n") == ""


class Template:
    def apply_chat_template(self, messages, tokenize=True, add_generation_prompt=False):
        return f"{messages[0]['content']}|tokenize={tokenize}|open={add_generation_prompt}"


def test_a_string_prompt_is_sent_as_is_and_chat_goes_through_the_template_untokenized():
    assert render_prompt(Template(), "2+2?") == "2+2?"
    assert render_prompt(Template(), [{"role": "user", "content": "3+4?"}]) == (
        "3+4?|tokenize=False|open=True"
    )


# ---- backends ---------------------------------------------------------------------------------------


def test_an_unknown_backend_names_the_closest_and_every_known_one():
    check_backend("hf")
    with pytest.raises(RecipeError) as err:
        check_backend("vlm")
    assert str(err.value) == (
        "generation backend 'vlm' (did you mean 'vllm'?) is not one of hf, vllm, openai"
    )


@pytest.mark.parametrize(
    ("backend", "module", "name"),
    [
        ("hf", "r1lab.generation.hf", "TransformersGenerator"),
        ("vllm", "r1lab.generation.vllm_engine", "VLLMGenerator"),
        ("openai", "r1lab.generation.openai_client", "OpenAIGenerator"),
    ],
)
def test_each_backend_name_loads_its_generator_class(backend, module, name):
    from r1lab.plugins import load_callable

    loaded = load_callable(BACKENDS[backend])
    assert (loaded.__module__, loaded.__name__) == (module, name)


@pytest.fixture
def loads(monkeypatch):
    """load_generator's model resolution and class loading, recorded."""
    made = []
    monkeypatch.setattr("r1lab.lora.resolve", lambda ref: f"{ref}/merged")
    monkeypatch.setattr(
        "r1lab.plugins.load_callable",
        lambda path: lambda model, **options: made.append((path, model, options)) or "generator",
    )
    return made


def test_a_local_backend_gets_the_resolved_model_and_the_options(loads):
    assert load_generator("hf", "runs/adapter", batch_size=8) == "generator"
    assert loads == [(BACKENDS["hf"], "runs/adapter/merged", {"batch_size": 8})]


def test_a_served_models_name_is_not_resolved(loads):
    load_generator("openai", "served-name", concurrency=3)
    assert loads == [(BACKENDS["openai"], "served-name", {"concurrency": 3})]


def test_an_unknown_backend_loads_nothing(loads):
    with pytest.raises(RecipeError, match="not one of"):
        load_generator("sglang", "m")
    assert loads == []


# ---- the generate: section ----------------------------------------------------------------------


def test_speed_and_selection_settings_are_not_generation_settings():
    speed = {"tensor_parallel_size", "gpu_memory_utilization", "batch_size", "base_url"}
    speed |= {"api_key_env", "concurrency", "timeout", "max_retries"}
    assert set(NOT_GENERATION) == {"select"} | {f"generate.{k}" for k in speed}


def test_no_section_is_r1s_sampling_on_vllm():
    cfg = GenerateConfig.from_recipe(None)
    assert (cfg.backend, cfg.num_samples, cfg.temperature, cfg.top_p, cfg.budget) == (
        "vllm",
        4,
        0.6,
        0.95,
        None,
    )


def test_the_sections_values_are_taken():
    cfg = GenerateConfig.from_recipe({"backend": "hf", "num_samples": 3, "top_p": 0.5, "seed": 9})
    assert (cfg.backend, cfg.num_samples, cfg.top_p, cfg.seed) == ("hf", 3, 0.5, 9)


def test_an_unknown_backend_in_the_section_is_refused():
    with pytest.raises(RecipeError, match="generation backend 'hff'"):
        GenerateConfig.from_recipe({"backend": "hff"})


def test_settings_of_the_wrong_type_are_named_at_once():
    with pytest.raises(RecipeError) as err:
        GenerateConfig.from_recipe(
            {"num_samples": "4", "shard_size": True, "temperature": "hot", "timeout": None}
        )
    assert str(err.value) == (
        "generate.num_samples='4' must be int; generate.shard_size=True must be int; "
        "generate.temperature='hot' must be a number; generate.timeout=None must be a number"
    )


@pytest.mark.parametrize(
    "key",
    [
        "num_samples",
        "shard_size",
        "max_new_tokens",
        "seed",
        "tensor_parallel_size",
        "batch_size",
        "concurrency",
        "max_retries",
    ],
)
def test_a_whole_number_setting_refuses_a_fraction(key):
    with pytest.raises(RecipeError, match=f"generate.{key}=2.5 must be int"):
        GenerateConfig.from_recipe({key: 2.5})


@pytest.mark.parametrize("key", ["temperature", "top_p", "timeout"])
def test_a_number_setting_takes_a_whole_number_but_not_a_bool(key):
    assert getattr(GenerateConfig.from_recipe({key: 1}), key) == 1
    with pytest.raises(RecipeError, match=f"generate.{key}=False must be a number"):
        GenerateConfig.from_recipe({key: False})


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"num_samples": 0}, "generate.num_samples=0 must be >= 1"),
        ({"shard_size": 0}, "generate.shard_size=0 must be >= 1"),
        ({"max_new_tokens": 0}, "generate.max_new_tokens=0 must be >= 1"),
        ({"temperature": -0.1}, r"generate.temperature=-0.1 must be >= 0"),
        ({"top_p": 0}, r"generate.top_p=0 must be in \(0, 1\]"),
        ({"top_p": 1.01}, r"generate.top_p=1.01 must be in \(0, 1\]"),
        ({"concurrency": 0}, "generate.concurrency=0 must be >= 1"),
        ({"temperature": 0, "num_samples": 2}, "generate.num_samples=2 must be 1 at temperature 0"),
    ],
)
def test_a_meaningless_setting_is_refused_with_its_rule(section, message):
    with pytest.raises(RecipeError, match=message):
        GenerateConfig.from_recipe(section)


def test_the_smallest_meaningful_settings_are_accepted():
    cfg = GenerateConfig.from_recipe(
        {
            "num_samples": 1,
            "shard_size": 1,
            "max_new_tokens": 1,
            "temperature": 0,
            "top_p": 1,
            "concurrency": 1,
        }
    )
    assert (cfg.num_samples, cfg.shard_size, cfg.max_new_tokens, cfg.top_p) == (1, 1, 1, 1)


def test_every_meaningless_setting_is_named_at_once():
    with pytest.raises(RecipeError) as err:
        GenerateConfig.from_recipe({"num_samples": 0, "shard_size": -2})
    assert str(err.value) == (
        "generate.num_samples=0 must be >= 1; generate.shard_size=-2 must be >= 1"
    )


def test_the_budget_is_parsed_for_the_backend():
    cfg = GenerateConfig.from_recipe({"backend": "hf", "budget": {"max_think_tokens": 64}})
    assert cfg.budget == Budget(max_think_tokens=64)
    with pytest.raises(RecipeError, match="not openai"):
        GenerateConfig.from_recipe(
            {"backend": "openai", "base_url": "http://h/v1", "budget": {"max_think_tokens": 64}}
        )


def test_sampling_carries_the_settings_and_the_given_seed():
    cfg = GenerateConfig(temperature=0.7, top_p=0.8, max_new_tokens=300, seed=1)
    assert cfg.sampling(11) == Sampling(0.7, 0.8, 300, greedy=False, seed=11)


def test_temperature_zero_samples_greedily():
    assert GenerateConfig(temperature=0, num_samples=1).sampling(0).greedy is True


def test_vllm_options_carry_the_engine_settings_and_its_extra_arguments():
    cfg = GenerateConfig(
        tensor_parallel_size=2,
        max_model_len=4096,
        gpu_memory_utilization=0.45,
        seed=7,
        vllm_args={"enforce_eager": True, "dtype": "half"},
    )
    assert cfg.backend_options(
        {"model_name_or_path": "m", "dtype": "bfloat16", "model_revision": "v2"}
    ) == {
        "revision": "v2",
        "tensor_parallel_size": 2,
        "dtype": "half",  # vllm_args win
        "max_model_len": 4096,
        "gpu_memory_utilization": 0.45,
        "seed": 7,
        "enforce_eager": True,
    }


def test_vllm_options_leave_out_what_is_not_set():
    assert GenerateConfig(seed=3).backend_options({"model_name_or_path": "m"}) == {
        "tensor_parallel_size": 1,
        "dtype": "auto",
        "max_model_len": None,
        "seed": 3,
    }
    options = GenerateConfig().backend_options({"model_name_or_path": "m", "dtype": "float16"})
    assert options["dtype"] == "float16"


def test_openai_options_take_the_nodes_endpoint_in_turn():
    cfg = GenerateConfig(
        backend="openai",
        base_url=["http://a/v1", "http://b/v1", "http://c/v1"],
        api_key_env="KEY",
        concurrency=5,
        timeout=30.0,
        max_retries=2,
    )
    options = [
        cfg.backend_options({"model_name_or_path": "m"}, node)["base_url"] for node in range(5)
    ]
    assert options == ["http://a/v1", "http://b/v1", "http://c/v1", "http://a/v1", "http://b/v1"]
    assert cfg.backend_options({"model_name_or_path": "m", "model_revision": "v2"}, 1) == {
        "base_url": "http://b/v1",
        "api_key_env": "KEY",
        "concurrency": 5,
        "timeout": 30.0,
        "max_retries": 2,
    }


def test_without_a_node_the_first_endpoint_is_taken(monkeypatch):
    cfg = GenerateConfig(backend="openai", base_url=["http://a/v1", "http://b/v1"])
    assert cfg.backend_options({})["base_url"] == "http://a/v1"
    made = []
    monkeypatch.setattr(r1lab.generation, "load_generator", lambda b, m, **o: made.append(o))
    cfg.load({"model_name_or_path": "m"})
    cfg.generator({"model_name_or_path": "m"})
    assert [o["base_url"] for o in made] == ["http://a/v1", "http://a/v1"]


def test_openai_options_with_one_endpoint_give_it_to_every_node():
    cfg = GenerateConfig(backend="openai", base_url="http://one/v1")
    assert cfg.backend_options({}, 3)["base_url"] == "http://one/v1"


def test_hf_options_are_the_batch_size_and_revision():
    cfg = GenerateConfig(backend="hf", batch_size=12)
    assert cfg.backend_options({"model_revision": "abc"}) == {"batch_size": 12, "revision": "abc"}
    assert cfg.backend_options({}) == {"batch_size": 12}


def test_generator_loads_the_models_backend_for_the_node_and_holds_it_to_the_budget(monkeypatch):
    made = []

    class Loaded:
        tokenizer = None

    def fake(backend, model, **options):
        made.append((backend, model, options))
        return Loaded()

    monkeypatch.setattr(r1lab.generation, "load_generator", fake)
    cfg = GenerateConfig(backend="openai", base_url=["http://a/v1", "http://b/v1"], budget=None)
    plain = cfg.generator({"model_name_or_path": 42}, node=1)
    assert isinstance(plain, Loaded)
    assert made[0][:2] == ("openai", "42") and made[0][2]["base_url"] == "http://b/v1"
    held = GenerateConfig(backend="hf", budget=Budget(max_think_tokens=9)).generator(
        {"model_name_or_path": "m"}
    )
    assert isinstance(held, BudgetGenerator) and held.budget == Budget(max_think_tokens=9)
    assert made[1] == ("hf", "m", {"batch_size": 64})


def test_provenance_records_the_sampling_and_a_budget_only_when_there_is_one():
    cfg = GenerateConfig(num_samples=3, temperature=0.7, top_p=0.9, max_new_tokens=500, seed=4)
    assert json.loads(cfg.provenance()) == {
        "num_samples": 3,
        "temperature": 0.7,
        "top_p": 0.9,
        "max_new_tokens": 500,
        "seed": 4,
    }
    cfg.budget = Budget(max_think_tokens=100, min_think_tokens=10)
    assert json.loads(cfg.provenance())["budget"] == {
        "max_think_tokens": 100,
        "min_think_tokens": 10,
        "wait_text": "Wait",
        "max_waits": 1,
    }


def test_the_recipes_config_and_the_samples_provenance():
    cfg = GenerateConfig(backend="hf", seed=2)
    recipe = SimpleNamespace(
        parsed={"generate": cfg}, model={"model_name_or_path": 7}, name="distill/mine"
    )
    assert config(recipe) is cfg
    assert provenance(recipe, cfg) == {
        "teacher": "7",
        "backend": "hf",
        "sampling": cfg.provenance(),
        "recipe": "distill/mine",
    }
