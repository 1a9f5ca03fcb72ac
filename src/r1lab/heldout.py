"""A training recipe's model on its held-out test split: pass@1 over k samples, maj@k, greedy.

`r1lab evaluate <training recipe>` (the demo's before/after numbers); the metrics are
`r1lab.metrics`, the same as benchmark evaluation's (`r1lab.kinds.evaluate`).

Correctness is decided by the task's verifier: `evaluate.reward` if set, else a synthetic task's
own (`countdown` for countdown), else the recipe's first verifying reward (`accuracy`,
`countdown`, `code`, with the recipe's parameters), else `accuracy` on `data.solution_column`. A sample is correct only when the
verifier gives full marks (1.0): partial credit (countdown's 0.1 for a well-formed wrong
equation, a fraction of code tests) is a training signal, never a pass. Greedy accuracy is
reported too: GRPO optimises the sampled policy, and the two can move apart.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from r1lab import lineage
from r1lab.errors import RecipeError, section_dataclass
from r1lab.generation import Completion, Sampling
from r1lab.lora import is_adapter_folder


@dataclass
class EvalConfig:
    """The recipe's `evaluate:` section (DeepSeek-R1 protocol defaults: T=0.6, top-p 0.95)."""

    num_problems: int | None = None  # None: the recipe's data.test_size
    k: int = 8
    temperature: float = 0.6
    top_p: float = 0.95
    max_new_tokens: int = 32768
    batch_size: int = 64
    greedy: bool = True
    reward: str | None = None  # None: the recipe's verifier (see the module docstring)
    seed: int = 0
    # "test" for the numbers a comparison reports; "validation" (a synthetic task's third split)
    # for choosing settings without looking at the test problems
    split: str = "test"

    @classmethod
    def from_recipe(cls, section: dict[str, Any], **overrides: Any) -> EvalConfig:
        cfg = section_dataclass(cls, "evaluate", section, **overrides)
        if cfg.split not in ("test", "validation"):
            raise RecipeError(
                f"evaluate.split must be 'test' (the numbers to report) or 'validation' (to "
                f"choose settings on), got '{cfg.split}'"
            )
        return cfg

    def sampling(self, greedy: bool = False) -> Sampling:
        """The sampled run is seeded; the greedy one needs no seed (and draws none)."""
        return Sampling(
            temperature=self.temperature,
            top_p=self.top_p,
            max_new_tokens=self.max_new_tokens,
            greedy=greedy,
            seed=None if greedy else self.seed,
        )


@dataclass
class Scores:
    """Per-problem correctness of k samples, plus greedy correctness if measured."""

    sampled: list[list[float]]
    answers: list[list[str | None]]
    questions: list[str] | None = None  # names each problem, so two models pair problem by problem
    greedy: list[float] | None = None
    lengths: list[int] | None = None
    formats: list[float] | None = None

    def __post_init__(self) -> None:
        values = [x for s in self.sampled for x in s] + list(self.greedy or [])
        if any(x not in (0.0, 1.0) for x in values):
            raise ValueError(
                "correctness must be 0 or 1 (solved or not); partial credit is not a pass"
            )

    def summary(self) -> dict[str, float]:
        from r1lab.metrics import cons_at_k, mean, pass_at_k, standard_error

        k = len(self.sampled[0]) if self.sampled else 0
        per_problem = [mean(s) for s in self.sampled]
        votes = [cons_at_k(a, s) for a, s in zip(self.answers, self.sampled, strict=True)]
        out: dict[str, Any] = {
            "problems": len(self.sampled),
            "k": k,
            "pass@1": mean(per_problem),
            "pass@1_stderr": standard_error(per_problem),
            f"maj@{k}": mean(votes),
            f"pass@{k}": mean([pass_at_k(len(s), int(sum(s)), k) for s in self.sampled]),
        }
        if self.questions is not None:  # what a paired comparison of two models reads
            out["per_problem"] = [
                {"question": q, "pass@1": p, f"maj@{k}": v}
                for q, p, v in zip(self.questions, per_problem, votes, strict=True)
            ]
        if self.greedy is not None:
            out["greedy"] = mean(self.greedy)
        if self.formats is not None:
            out["format"] = mean(self.formats)
        if self.lengths is not None:
            out["mean_completion_tokens"] = mean(self.lengths)
        return out


def verifier_for(recipe, cfg: EvalConfig):
    """The reward that decides correctness, as a RewardSpec (with the recipe's parameters)."""
    from r1lab.data import DataConfig
    from r1lab.recipe import RewardSpec
    from r1lab.rewards import accepts, is_verifier, verifier_names
    from r1lab.tasks import VERIFIERS

    data = DataConfig.from_recipe(recipe.data)
    specs = recipe.reward_specs
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


def solved(value: float | None) -> bool:
    """Full marks from the verifier; partial credit and unjudgeable samples are not solved."""
    return value is not None and value >= 1.0


def score(
    completions: list[list[Completion]], rows: list[dict], reward
) -> tuple[list[list[float]], list[list[str | None]]]:
    """Correctness (1.0 solved / 0.0) and extracted answer of every completion."""
    from r1lab.rewards.answers import extract_answer

    flat = [c.text for group in completions for c in group]
    columns: dict[str, list] = {key: [] for key in rows[0]} if rows else {}
    for row, group in zip(rows, completions, strict=True):
        for key in columns:
            columns[key] += [row[key]] * len(group)
    rewards = reward(prompts=columns.get("prompt", [""] * len(flat)), completions=flat, **columns)
    it = iter(rewards)
    correct = [[float(solved(next(it))) for _ in group] for group in completions]
    answers = [[extract_answer(c.text) for c in group] for group in completions]
    return correct, answers


def evaluate(model_path: str, recipe, cfg: EvalConfig) -> dict[str, Any]:
    """Summary metrics of `model_path` on the recipe's test split."""
    from r1lab.data import DataConfig, format_dataset, load_raw
    from r1lab.generation import load_generator
    from r1lab.rewards import get_reward

    data = DataConfig.from_recipe(recipe.data)
    if cfg.num_problems is not None:
        data.test_size = cfg.num_problems
    test = format_dataset(load_raw(data, cfg.split), data, completions=False)
    rows = [dict(r) for r in test]
    verifier = verifier_for(recipe, cfg)
    reward = get_reward(verifier.name, **verifier.params)
    fmt = get_reward("format")
    generator = load_generator("hf", model_path, batch_size=cfg.batch_size)
    prompts = [r["prompt"] for r in rows]
    sampled = generator.generate(prompts, cfg.k, cfg.sampling())
    correct, answers = score(sampled, rows, reward)
    flat = [c for group in sampled for c in group]
    formats = fmt(prompts=[""] * len(flat), completions=[c.text for c in flat])
    scores = Scores(
        correct,
        answers,
        questions=[str(r.get(data.question_column, r["prompt"])) for r in rows],
        lengths=[c.completion_tokens for c in flat],
        formats=[float(f or 0.0) for f in formats],
    )
    if cfg.greedy:
        greedy_out = generator.generate(prompts, 1, cfg.sampling(greedy=True))
        scores.greedy = [g[0] for g in score(greedy_out, rows, reward)[0]]
    summary = scores.summary()
    summary.update(
        model=str(model_path),
        recipe=recipe.name,
        verifier=verifier.name,
        settings={**asdict(cfg), "reward": verifier.name},
    )
    summary["examples"] = [
        {
            "prompt": rows[i]["question"] if "question" in rows[i] else "",
            "completion": sampled[i][0].text,
            "correct": correct[i][0],
        }
        for i in range(min(3, len(rows)))
    ]
    return summary


def default_model(recipe) -> str:
    out = Path(recipe.output_dir)
    if (out / "config.json").exists() or is_adapter_folder(out):  # a LoRA adapter: merged on load
        return str(out)
    return str(recipe.model["model_name_or_path"])


def run(recipe, args: argparse.Namespace) -> int:
    """`r1lab evaluate <training recipe>`: the metrics printed, and as JSON in --out."""
    cfg = EvalConfig.from_recipe(
        recipe.evaluate, k=args.k, num_problems=args.num_problems, temperature=args.temperature
    )
    model = args.model or default_model(recipe)
    result = evaluate(model, recipe, cfg)
    print(format_summary(result))
    if args.out:
        result["lineage"] = lineage.make(recipe, Path(args.out).parent, model=model)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2))
    return 0


def format_summary(result: dict[str, Any]) -> str:
    keys = [
        k
        for k in result
        if k.startswith(("pass@", "maj@")) or k in ("greedy", "format", "mean_completion_tokens")
    ]
    head = (
        f"{result['model']} on {result['problems']} problems of {result['recipe']} "
        f"(k={result['k']}, verified by {result.get('verifier', '?')})"
    )
    return head + "\n" + "\n".join(f"  {k:<24} {result[k]:.3f}" for k in keys)
