"""The `grpo_async` kind: TRL's AsyncGRPOTrainer, generation and training overlapped.

Run: `make grpo_async RECIPE=r1_zero/qwen2.5-math-7b_async` (Slurm: the last node serves vLLM).

TRL's asynchronous GRPO (`trl.experimental.async_grpo`) keeps a vLLM server generating while the
policy trains: a spawned process sends prompts to the server, scores the completions with the
recipe's rewards and queues them; the trainer takes samples at most `max_staleness` weight
versions old and pushes its weights to the server every `weight_sync_steps`. Peers measure 2-3x
over synchronous GRPO at equal accuracy (AReaL, verl, ROLL). What it needs, refused early by
`check_async_grpo` where a run would fail later:

- a vLLM server (r1lab.vllm_server; on Slurm train.slurm starts it and sets
  `trainer.vllm_server_base_url`), and NCCL between trainer and server for the weights;
- CUDA GPUs: the trainer packs samples into a prefix tree and attends with the FA3 kernel it
  fetches from the Hub (`kernels-community/flash-attn3`, the `kernels` package: `pip install -e
  '.[async]'`), and asks torch.cuda for the device's name; `r1lab grpo_async` refuses a CPU (the
  tests run it on one with stand-ins for those parts: tests/async_grpo_cpu.py);
- FSDP2 or plain data parallel, not DeepSpeed (`accelerate: fsdp2`);
- picklable rewards (they run in the spawned process): r1lab's registered rewards are; a plug-in
  lambda or closure is not;
- conversational prompts (`data.template: r1_zero_chat` or `chat`) and a model whose chat
  template TRL's worker knows how to parse (`parseable_tokenizer`);
- no `use_liger_kernel` (TRL raises NotImplementedError), no KL term (TRL's async GRPO has no
  reference model), no LoRA on the LM head.

TRL sums the rewards with weight 1; `Weighted` applies the recipe's weights inside each reward,
so a run optimizes what the recipe says (the logged `rewards/<name>` are then the weighted values).
"""

from __future__ import annotations

import os
import pickle
import sys
from typing import Any

from r1lab import lora, run_dir
from r1lab.checks.context import Context
from r1lab.checks.findings import Finding, Findings, ok
from r1lab.checks.lengths import check_completion_fits_context
from r1lab.checks.memory import check_memory_plan
from r1lab.checks.packages import gpu_package_missing, installed
from r1lab.checks.rewards import check_answers_are_verified, check_reward_columns, check_rewards
from r1lab.errors import RecipeError, exit_on_error
from r1lab.kind import Kind
from r1lab.prompts import CHAT_TEMPLATES
from r1lab.recipe import Recipe, parse_rewards
from r1lab.train import Run, trainer_kwargs
from r1lab.train import run as run_trainer

DISTRIBUTED_TYPES = ("NO", "MULTI_GPU", "FSDP")  # what AsyncGRPOTrainer runs under
SERVER_URL_KEY = "trainer.vllm_server_base_url"


class Weighted:
    """A reward times its recipe weight, picklable (the spawned scorer gets it); keeps the
    reward's name so TRL logs `rewards/<name>`."""

    def __init__(self, reward: Any, weight: float) -> None:
        self.reward, self.weight = reward, weight
        self.__name__ = getattr(reward, "__name__", type(reward).__name__)

    def __call__(self, *args: Any, **kwargs: Any) -> list[float | None]:
        return [None if r is None else self.weight * r for r in self.reward(*args, **kwargs)]


def rewards_of(recipe: Recipe) -> list[Any]:
    """The recipe's rewards for AsyncGRPOTrainer, each weighted as `rewards:` says."""
    from r1lab.rewards import get_reward

    built = [(get_reward(s.name, **s.params), s.weight) for s in recipe.reward_specs]
    return [reward if weight == 1 else Weighted(reward, weight) for reward, weight in built]


def _experimental() -> Any:
    """TRL's async GRPO module, without its every-import warning (this kind says it is
    experimental in its help and the README)."""
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from trl.experimental import async_grpo

    return async_grpo


def parseable_tokenizer(tokenizer: Any, model: str) -> Any:
    """`tokenizer` as TRL's rollout worker will use it: left padding, and a response template
    from TRL's own list (`add_response_schema`), which knows only some models' chat templates;
    any other template fails in the spawned worker after the model has loaded, so here first."""
    from trl.chat_template_utils import add_response_schema

    tokenizer.padding_side = "left"
    if getattr(tokenizer, "response_template", None) or getattr(tokenizer, "response_schema", None):
        return tokenizer
    try:
        return add_response_schema(tokenizer)
    except ValueError:
        raise RecipeError(
            f"model '{model}': TRL's async GRPO parses every completion with a response template "
            "it knows for the model's chat template (Qwen2.5/Qwen3, Llama 3, DeepSeek-R1-Distill, "
            "gpt-oss, GLM-4, Gemma 4, LFM2, Nemotron 3), and this model's chat template is none of "
            "them; use such a model, or give its tokenizer a `response_template` (transformers' "
            "response parsing) and save it with the model"
        ) from None


def build_trainer(run: Run, **extra: Any):
    """TRL's AsyncGRPOTrainer for `run`; `extra`: more of its arguments (a `weight_transfer`)."""
    from transformers import AutoTokenizer

    AsyncGRPOTrainer = _experimental().AsyncGRPOTrainer  # noqa: N806

    kwargs = trainer_kwargs(run)
    kwargs.pop("quantization_config")  # AsyncGRPOTrainer loads the model itself, unquantized
    model = kwargs["model"]
    tokenizer = AutoTokenizer.from_pretrained(model, revision=run.model_args.model_revision)
    kwargs["processing_class"] = parseable_tokenizer(tokenizer, model)  # before the model loads
    return AsyncGRPOTrainer(reward_funcs=rewards_of(run.recipe), **kwargs, **extra)


def _config_class() -> type:
    return _experimental().AsyncGRPOConfig


def _uses_server(recipe: Recipe) -> bool:
    return True


def server_overrides(host: str, port: int | str) -> list[str]:
    """What points the trainer at the vLLM server train.slurm starts."""
    return [f"{SERVER_URL_KEY}=http://{host}:{port}"]


def check_async_grpo(ctx: Context) -> Findings:
    """What AsyncGRPOTrainer cannot run, with the reason, before a model or a server starts."""
    t = ctx.recipe.trainer
    if ctx.on_cpu:
        raise RecipeError(
            "kind grpo_async on a CPU: TRL's AsyncGRPOTrainer attends with the FA3 CUDA kernel "
            "(tree-packed samples) and syncs weights to its vLLM server over NCCL; run it on "
            "CUDA GPUs, or use kind: grpo (trainer.use_vllm=true trainer.vllm_mode=colocate runs "
            "vLLM on a CPU)"
        )
    acc = ctx.accelerate
    if acc.distributed_type not in DISTRIBUTED_TYPES:
        raise RecipeError(
            f"accelerate: '{acc.name}' is {acc.distributed_type}; TRL's AsyncGRPOTrainer supports "
            "FSDP2 and data parallel only, not DeepSpeed: set accelerate: fsdp2"
        )
    if acc.fsdp_version not in (None, 2):
        raise RecipeError(
            f"accelerate: '{acc.name}' is FSDP version {acc.fsdp_version}; AsyncGRPOTrainer gathers "
            "FSDP2 (DTensor) parameters for its weight sync: set fsdp_config.fsdp_version: 2"
        )
    if t.get("use_liger_kernel"):
        raise RecipeError(
            "trainer.use_liger_kernel=true: AsyncGRPOTrainer does not support it (its own fused "
            "LM head computes the log-probs in chunks already); set trainer.use_liger_kernel=false"
        )
    targets = ctx.recipe.model.get("lora_target_modules") or []
    if ctx.recipe.model.get("use_peft") and any("lm_head" in str(m) for m in targets):
        raise RecipeError(
            "model.lora_target_modules includes lm_head: AsyncGRPOTrainer reads the head's base "
            "weight for its log-probs and would ignore the adapter; remove lm_head"
        )
    template = ctx.data.template
    if template not in CHAT_TEMPLATES:
        raise RecipeError(
            f"data.template={template}: TRL's async GRPO sends every prompt through the model's "
            "chat template as messages, not as text; set data.template=r1_zero_chat (the R1-Zero "
            "instruction as the system message) or data.template=chat"
        )
    if ctx.model_folder is not None:  # else checked when the run loads the tokenizer
        parseable_tokenizer(ctx.tokenizer, str(ctx.recipe.model["model_name_or_path"]))
        yield ok("chat template: one TRL's async rollout worker parses")
    yield from _check_picklable(ctx.recipe)
    yield from _check_kernels(ctx)
    yield _server_finding(ctx)


def _check_picklable(recipe: Recipe) -> Findings:
    try:
        rewards = rewards_of(recipe)
    except ValueError:
        return  # check_rewards reports it
    for spec, reward in zip(recipe.reward_specs, rewards, strict=True):
        try:
            pickle.dumps(reward)
        except (pickle.PicklingError, AttributeError, TypeError) as err:
            raise RecipeError(
                f"rewards.{spec.name}: AsyncGRPOTrainer scores in a spawned process, so every "
                f"reward must be picklable, and this one is not ({err}); make it a module-level "
                "function, a functools.partial or a callable class instance"
            ) from None
    yield ok(f"rewards picklable for the spawned scorer: {len(rewards)}")


def _check_kernels(ctx: Context) -> Findings:
    if installed("kernels"):
        yield ok("kernels installed (AsyncGRPOTrainer's FA3 tree attention)")
        return
    yield gpu_package_missing(
        ctx,
        "kind grpo_async needs the kernels package (AsyncGRPOTrainer fetches its FA3 attention "
        "kernel with it), which is not installed here: pip install -e '.[async]' on the GPU "
        "machines, and have kernels-community/flash-attn3 in their Hub cache",
    )


def _server_finding(ctx: Context) -> Finding:
    url = ctx.recipe.trainer.get("vllm_server_base_url")
    default = _config_class().__dataclass_fields__["vllm_server_base_url"].default  # TRL's
    where = url or f"set by slurm/train.slurm (Slurm), else {default}"
    return ok(f"vLLM server: {where}; it must run r1lab.vllm_server's command (NCCL sync)")


def workload(recipe: Recipe, config: Any, compute_bytes: int, prompt_tokens: int | None) -> Any:
    """One AsyncGRPO forward for the memory plan: one packed row of `token_budget` tokens per rank
    (the server's max_model_len when unset; planned as prompt + max_completion_length), its
    log-probs from TRL's chunked fused head (no full logits), no reference model, no old-policy
    forward (the server's log-probs are the old ones), generation on the server node."""
    from r1lab import memory_plan

    prompt = prompt_tokens or memory_plan.DEFAULT_PROMPT_TOKENS
    completion = int(config.max_completion_length)
    sequence = prompt + completion
    samples = int(config.per_device_train_batch_size) * int(config.gradient_accumulation_steps)
    budget = config.token_budget
    if budget is not None and budget <= 0:  # fixed count: per_device samples packed per row
        row = int(config.per_device_train_batch_size) * sequence
        how = f"{config.per_device_train_batch_size} samples packed per row"
    else:
        row = int(budget) if budget else sequence
        how = f"token_budget {budget}" if budget else "token_budget unset: the server's context"
    forwards = max(1, -(-samples * sequence // row))  # rows per rank per step, every sample full
    return memory_plan.Workload(
        micro_batch=1,
        accumulation=forwards,
        sequence_tokens=row,
        logit_tokens=completion * row // sequence,
        logit_bytes=2 * compute_bytes,
        gradient_checkpointing=bool(config.gradient_checkpointing),
        fused_logits=True,
        generated_tokens=completion * row // sequence,
        reference_model=False,
        extra_forwards=0,
        vllm_colocate_share=None,
        vllm_sleeps=False,
        generation_sequences=samples,
        max_steps=int(config.max_steps) if config.max_steps > 0 else None,
        assumptions=(
            f"{samples} samples per rank per step of {sequence} tokens each (an upper bound), "
            f"packed into rows of {row} tokens ({how}), one row per forward",
            f"prompts of {prompt} tokens",
        ),
    )


def main(argv: list[str]) -> int:
    return run_trainer(KIND, build_trainer, argv)


KIND = Kind(
    name="grpo_async",
    help="run an asynchronous GRPO recipe (TRL's experimental AsyncGRPOTrainer; CUDA GPUs and a "
    "vLLM server)",
    module="r1lab.kinds.grpo_async",
    run=main,
    config_class=_config_class,
    finished=run_dir.finished_training,
    sections={"rewards": parse_rewards, "lora": lora.parse_section},
    checks=(
        check_rewards,
        check_reward_columns,
        check_answers_are_verified,
        check_completion_fits_context,
        check_async_grpo,
        check_memory_plan,
    ),
    vllm_server=_uses_server,
    vllm_server_overrides=server_overrides,
    workload=workload,
)


if __name__ == "__main__":
    exit_on_error(lambda: main(sys.argv[1:]))
