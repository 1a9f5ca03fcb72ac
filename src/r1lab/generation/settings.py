"""A generation run's `generate:` section: sampling, batching, the backend's options, and what a
sample's provenance records. Shared by the generate and evaluate kinds."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from r1lab.errors import RecipeError, section_dataclass
from r1lab.generation import Sampling, check_backend
from r1lab.generation.budget import Budget

Recipe = Any  # an r1lab.recipe.Recipe


# What changes which samples are kept (selection reruns on saved samples) or how fast they are
# made, not what they are: a rerun with other values here resumes the same samples.
NOT_GENERATION = ("select",) + tuple(
    f"generate.{key}"
    for key in (
        "tensor_parallel_size",
        "gpu_memory_utilization",
        "batch_size",
        "base_url",
        "api_key_env",
        "concurrency",
        "timeout",
        "max_retries",
    )
)


@dataclass
class GenerateConfig:
    """The recipe's `generate:` section (defaults: DeepSeek-R1's sampling, T 0.6, top_p 0.95)."""

    backend: str = "vllm"  # vllm | openai | hf (r1lab.generation.BACKENDS)
    num_samples: int = 4  # samples per prompt
    temperature: float = 0.6
    top_p: float = 0.95
    max_new_tokens: int = 32768
    seed: int = 0
    shard_size: int = 256  # prompts per shard: the unit of resume and of work between nodes
    tensor_parallel_size: int = 1  # vllm: GPUs one engine spans
    max_model_len: int | None = None  # vllm: None = the model's context
    # vllm: share of GPU memory the engine takes (None: vLLM's 0.9); on a CPU, the share of RAM
    gpu_memory_utilization: float | None = None
    batch_size: int = 64  # hf: sequences per generate call
    base_url: str | list[str] | None = None  # openai: one endpoint, or one per node
    api_key_env: str = "OPENAI_API_KEY"  # openai: the variable holding the key (local: none)
    concurrency: int = 64  # openai: requests in flight per node
    timeout: float = 600.0  # openai: seconds per request
    max_retries: int = 5  # openai: retries per request, with exponential backoff
    vllm_args: dict[str, Any] = field(default_factory=dict)  # vllm: more `vllm.LLM(...)` arguments
    # s1-style budget forcing of the thinking (r1lab.generation.budget.Budget; vllm, hf): e.g.
    # {max_think_tokens: 4096, min_think_tokens: 1024, wait_text: Wait, max_waits: 2}
    budget: Any = None

    @classmethod
    def from_recipe(cls, section: Any, recipe: dict[str, Any] | None = None) -> GenerateConfig:
        cfg = section_dataclass(cls, "generate", dict(section or {}))
        check_backend(cfg.backend)
        wrong = [
            f"generate.{name}={getattr(cfg, name)!r} must be {kind.__name__ if kind is int else 'a number'}"
            for name, kind in _TYPES.items()
            if isinstance(getattr(cfg, name), bool) or not isinstance(getattr(cfg, name), kind)
        ]
        if wrong:
            raise RecipeError("; ".join(wrong))
        problems = [
            f"generate.{name}={getattr(cfg, name)} must be {rule}"
            for name, bad, rule in (
                ("num_samples", cfg.num_samples < 1, ">= 1"),
                ("shard_size", cfg.shard_size < 1, ">= 1"),
                ("max_new_tokens", cfg.max_new_tokens < 1, ">= 1"),
                ("temperature", cfg.temperature < 0, ">= 0"),
                ("top_p", not 0 < cfg.top_p <= 1, "in (0, 1]"),
                ("concurrency", cfg.concurrency < 1, ">= 1"),
                (
                    "num_samples",
                    cfg.temperature == 0 and cfg.num_samples > 1,
                    "1 at temperature 0 (greedy samples are all the same)",
                ),
            )
            if bad
        ]
        if problems:
            raise RecipeError("; ".join(problems))
        cfg.budget = Budget.parse(cfg.budget, cfg.backend)
        return cfg

    def sampling(self, seed: int) -> Sampling:
        return Sampling(
            temperature=self.temperature,
            top_p=self.top_p,
            max_new_tokens=self.max_new_tokens,
            greedy=self.temperature == 0,
            seed=seed,
        )

    def backend_options(self, model: dict[str, Any], node: int = 0) -> dict[str, Any]:
        """Keyword arguments for the chosen backend's generator."""
        revision = {"revision": r} if (r := model.get("model_revision")) else {}
        if self.backend == "vllm":
            options = {
                **revision,
                "tensor_parallel_size": self.tensor_parallel_size,
                "dtype": model.get("dtype") or "auto",
                "max_model_len": self.max_model_len,
                **({"gpu_memory_utilization": u} if (u := self.gpu_memory_utilization) else {}),
                "seed": self.seed,
                **self.vllm_args,
            }
        elif self.backend == "openai":
            urls = self.base_url if isinstance(self.base_url, list) else [self.base_url]
            options = {
                "base_url": urls[node % len(urls)],
                "api_key_env": self.api_key_env,
                "concurrency": self.concurrency,
                "timeout": self.timeout,
                "max_retries": self.max_retries,
            }
        else:
            options = {"batch_size": self.batch_size, **revision}
        return options

    def generator(self, model: dict[str, Any], node: int = 0) -> Any:
        """The backend's generator for the recipe's `model:` section, held to the budget if
        there is one (r1lab.generation.budget): what the generate and evaluate kinds sample with."""
        return self.held(self.load(model, node))

    def load(self, model: dict[str, Any], node: int = 0) -> Any:
        """The backend's own generator for the recipe's `model:` section (no budget)."""
        from r1lab.generation import load_generator

        name = str(model["model_name_or_path"])
        return load_generator(self.backend, name, **self.backend_options(model, node))

    def held(self, loaded: Any) -> Any:
        """`loaded` (from `load`) held to this config's budget: settings that differ in their
        budget alone (an evaluation's budget sweep) share one engine."""
        from r1lab.generation import budget

        return budget.wrap(loaded, self.budget)

    def provenance(self) -> str:
        """How the samples were sampled; a budget only when there is one (so samples made without
        one keep the provenance they had before budgets existed, and a rerun resumes them)."""
        keys = ("num_samples", "temperature", "top_p", "max_new_tokens", "seed")
        made = {k: getattr(self, k) for k in keys}
        if self.budget is not None:
            made["budget"] = self.budget.record()
        return json.dumps(made)


_NUMBER = (int, float)
_TYPES: dict[str, Any] = {
    "num_samples": int,
    "shard_size": int,
    "max_new_tokens": int,
    "seed": int,
    "tensor_parallel_size": int,
    "batch_size": int,
    "concurrency": int,
    "max_retries": int,
    "temperature": _NUMBER,
    "top_p": _NUMBER,
    "timeout": _NUMBER,
}


def config(recipe: Recipe) -> GenerateConfig:
    return recipe.parsed["generate"]


def provenance(recipe: Recipe, cfg: GenerateConfig) -> dict[str, str]:
    """What every sample carries about how it was made."""
    return {
        "teacher": str(recipe.model["model_name_or_path"]),
        "backend": cfg.backend,
        "sampling": cfg.provenance(),
        "recipe": recipe.name,
    }
