"""The recipes `r1lab evaluate` runs: a training recipe's held-out split as one more benchmark of
the evaluate kind, and any evaluate recipe with the command line's options.

`r1lab evaluate <training recipe> [--model M] [--out DIR/heldout.json]` (the demo's before/after
numbers) builds an evaluate recipe whose one benchmark, of the `task` style
(`r1lab.benchmarks`), is the recipe's test split (or, with `evaluate.split: validation`, a
synthetic task's validation split for choosing settings), asked with the recipe's template and
graded by its verifier. Sampling, shards, scoring, the metrics (`r1lab.metrics`: pass@1 ± s.e.,
maj@k, pass@k, greedy) and what counts as solved are the evaluate kind's, on any backend
(`evaluate.backend`: hf by default, vllm, openai).

The verifier: `evaluate.reward` if set, else a synthetic task's own (`countdown` for countdown),
else the recipe's first verifying reward (`accuracy`, `countdown`, `code`, with the recipe's
parameters), else `accuracy` on `data.solution_column`. Greedy accuracy is reported too: GRPO
optimises the sampled policy, and the two can move apart.

The command line (`r1lab.kinds.evaluate.recipe_of`) composes its target once, takes the recipe as
a dict from `heldout_recipe` (a training recipe: its held-out split) or `with_arguments` (an
evaluate recipe, or evaluate/r1 with a training recipe's model and template under `--benchmark`,
with the command line's model, benchmarks, k, problems and temperature), and validates that one
dict with `r1lab.recipe.from_dict`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1lab.data import DataConfig
from r1lab.errors import RecipeError, section_dataclass
from r1lab.lora import is_adapter_folder
from r1lab.recipe import Recipe, RewardSpec, from_dict


@dataclass
class EvalConfig:
    """A training recipe's `evaluate:` section (DeepSeek-R1 protocol defaults: T=0.6, top-p 0.95)."""

    num_problems: int | None = None  # None: the recipe's data.test_size
    k: int = 8
    temperature: float = 0.6
    top_p: float = 0.95
    max_new_tokens: int = 32768
    batch_size: int = 64  # hf: sequences per generate call
    greedy: bool = True
    # thinking budgets (max_think_tokens) to sample the split at too: the budget curve
    budgets: list[int] = field(default_factory=list)
    reward: str | None = None  # None: the recipe's verifier (see the module docstring)
    seed: int = 0
    # "test" for the numbers a comparison reports; "validation" (a synthetic task's third split)
    # for choosing settings without looking at the test problems
    split: str = "test"
    backend: str = "hf"  # vllm | openai | hf, as generate.backend
    shard_size: int = 256  # problems per shard: the unit of resume
    # more of the backend's `generate:` settings, e.g. {base_url: ...} for openai,
    # {gpu_memory_utilization: 0.3, vllm_args: {enforce_eager: true}} for vLLM on a CPU
    generate: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_recipe(cls, section: dict[str, Any], **overrides: Any) -> EvalConfig:
        cfg = section_dataclass(cls, "evaluate", section, **overrides)
        if cfg.split not in ("test", "validation"):
            raise RecipeError(
                f"evaluate.split must be 'test' (the numbers to report) or 'validation' (to "
                f"choose settings on), got '{cfg.split}'"
            )
        return cfg


def verifier_for(specs: list[RewardSpec], data: DataConfig, cfg: EvalConfig) -> RewardSpec:
    """The reward that decides correctness, as a RewardSpec: one of the recipe's rewards `specs`
    (with its parameters), else a verifier reading `data`'s solution column."""
    from r1lab.rewards import accepts, is_verifier, verifier_names
    from r1lab.tasks import VERIFIERS

    if cfg.reward and not is_verifier(cfg.reward):
        raise RecipeError(
            f"evaluate.reward={cfg.reward} does not judge answers, so it cannot decide "
            f"correctness; use a verifier: {', '.join(verifier_names())}"
        )
    # evaluate.reward, else a synthetic task's own verifier, else the recipe's first verifier
    name = cfg.reward or VERIFIERS.get(data.task_name or "")
    if name is None:
        name = next((s.name for s in specs if is_verifier(s.name)), "accuracy")
    spec = next((s for s in specs if s.name == name), None)
    if spec is not None:
        return spec
    params = {"solution_column": data.solution_column} if accepts(name, "solution_column") else {}
    return RewardSpec(name, 1.0, params)


def default_model(recipe: Recipe) -> str:
    """The recipe's trained model when its output holds one, else the model it starts from."""
    out = Path(recipe.output_dir)
    if (out / "config.json").exists() or is_adapter_folder(out):  # a LoRA adapter: merged on load
        return str(out)
    return str(recipe.model["model_name_or_path"])


def evaluate_recipe(
    recipe: Recipe,
    model: str | None = None,
    out: str | None = None,
    **overrides: Any,
) -> Recipe:
    """`heldout_recipe`, validated as a `Recipe`."""
    return from_dict(recipe.name, heldout_recipe(recipe, model, out, **overrides), recipe.overrides)


def heldout_recipe(
    recipe: Recipe,
    model: str | None = None,
    out: str | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """The evaluate recipe, as a dict for `from_dict`, that scores `model` (default: the recipe's
    own) on `recipe`'s held-out split. `out`: the benchmark's JSON (DIR/NAME.json: NAME is the
    benchmark, DIR the output dir); `overrides`: `evaluate:` values from the command line (k,
    num_problems, temperature)."""
    evaluated = model or default_model(recipe)
    given = {key: value for key, value in overrides.items() if value is not None}
    cfg = EvalConfig.from_recipe(recipe.evaluate, **given)
    data = DataConfig.from_recipe(recipe.data)
    if data.template == "none":
        raise RecipeError(
            f"recipe '{recipe.name}': data.template=none (the data holds its own prompts) cannot "
            "be evaluated as a held-out benchmark; give the recipe a template "
            "(r1_zero, r1_zero_chat, chat)"
        )
    section = dict(recipe.data)
    if cfg.num_problems is not None:  # the split drawn at this size, as `r1lab check` checks it
        section["test_size"] = cfg.num_problems
    verifier = verifier_for(recipe.reward_specs, data, cfg)
    name, folder = "heldout", Path(recipe.output_dir) / "heldout"
    if model:
        folder = folder.with_name(f"heldout-{Path(model.rstrip('/')).name}")
    if out:
        name, folder = Path(out).stem, Path(out).parent
    bench = {
        "style": "task",
        "data": section,
        "split": cfg.split,
        "question_column": data.question_column,
        "template": data.template,
        "k": cfg.k,
        "verifier": verifier.name,
        "verifier_params": dict(verifier.params),
        "greedy": cfg.greedy,
        "budgets": list(cfg.budgets),
    }
    generate = {
        key: getattr(cfg, key)
        for key in ("backend", "temperature", "top_p", "max_new_tokens", "seed", "shard_size")
    }
    generate = {**generate, "batch_size": cfg.batch_size, **cfg.generate}
    return {
        "kind": "evaluate",
        "model": {**recipe.model, "model_name_or_path": evaluated},
        "trainer": {"output_dir": str(folder)},
        "accelerate": recipe.accelerate,
        "slurm": recipe.slurm,
        "generate": generate,
        "benchmarks": {name: bench},
    }


def with_arguments(
    recipe: Recipe,
    model: str | None,
    benchmarks: list[str] | None,
    template: str | None = None,
    k: int | None = None,
    num_problems: int | None = None,
    temperature: float | None = None,
    budgets: list[int] | None = None,
) -> dict[str, Any]:
    """Evaluate recipe `recipe` as a dict for `from_dict`, with the command line's model (and its
    output dir runs/<recipe>/<model> where the recipe sets none), only these benchmarks, a template
    for those that set none, and k, num_problems, budgets and temperature for every benchmark
    (None: the recipe's)."""
    data = recipe.to_dict()
    if model:
        data["model"] = {**data["model"], "model_name_or_path": model}
        if not recipe.trainer.get("output_dir"):
            name = Path(model.rstrip("/")).name
            data["trainer"] = {**data["trainer"], "output_dir": f"runs/{recipe.name}/{name}"}
    section = data.get("benchmarks") or {}
    section = {n: {} for n in section} if isinstance(section, list) else dict(section)
    if benchmarks:
        section = {n: section.get(n) or {} for n in benchmarks}
    if template:
        section = {n: {"template": template, **(o or {})} for n, o in section.items()}
    for option, value in (("k", k), ("num_problems", num_problems), ("budgets", budgets)):
        if value is not None:
            section = {n: {**(o or {}), option: value} for n, o in section.items()}
    data["benchmarks"] = section
    if temperature is not None:
        data["generate"] = {**(data.get("generate") or {}), "temperature": temperature}
    return data
