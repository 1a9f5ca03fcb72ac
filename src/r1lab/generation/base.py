"""What every generation backend shares: how to sample, what a completion carries, the interface."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Sampling:
    """How to sample. `greedy` ignores temperature/top_p.

    `seed` makes a call repeatable. Backends that seed per request (vLLM, an OpenAI-compatible
    server) seed prompt i with `request_seed(seed, ids[i])`, its id given by the caller (the
    generate kind passes each prompt's id, so a prompt's samples do not depend on the shard, node
    or rerun that produced them); transformers seeds the whole call with the first prompt's.
    """

    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    greedy: bool = False
    seed: int | None = None
    # stop strings: a completion stopped by one ends with it (the budget's `</think>`; none = as
    # before: only the end of sequence or max_new_tokens stops)
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Completion:
    text: str  # a server's separate reasoning is put back as `<think>\n...\n</think>\n\n` + answer
    finish_reason: str  # "stop" (end of sequence or a stop string) or "length" (hit max_new_tokens)
    prompt_tokens: int
    completion_tokens: int  # generated tokens, the end-of-sequence token included


class Generator(Protocol):
    def generate(
        self, prompts: list[Any], n: int, sampling: Sampling, ids: list[int] | None = None
    ) -> list[list[Completion]]:
        """`n` completions for each prompt, in prompt order; `ids`: the prompts' stable ids (for
        seeding; default 0, 1, ...)."""
        ...


_MASK = (1 << 64) - 1


def request_seed(seed: int, prompt_id: int) -> int:
    """A 63-bit seed for one prompt, mixed from the run's seed and the prompt's id (splitmix64).

    Additive seeds collide: with `seed + id`, vLLM's n children (`seed + j`) of prompt p reuse the
    streams of prompt p+1, and a run with seed 1 repeats most samples of a run with seed 0. Mixed
    seeds are distinct for every (seed, prompt) in practice, and a sample's `+ j` stays clear of
    other prompts' seeds.
    """
    x = (seed * 0x9E3779B97F4A7C15 + prompt_id + 1) & _MASK
    for shift, mult in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
        x = ((x ^ (x >> shift)) * mult) & _MASK
    return (x ^ (x >> 31)) >> 1


def think_prefix(rendered_prompt: str) -> str:
    """What a chat template pre-fills of the answer: R1-Distill's template ends with `<think>\n`,
    so the model's text starts inside the thinking; put back in front of the completion, the
    sample reads as the model's whole turn (as an SFT target must)."""
    stripped = rendered_prompt.rstrip()
    if stripped.endswith("<think>"):
        return "<think>" + rendered_prompt[len(stripped) :]
    return ""


def render_prompt(tokenizer: Any, prompt: Any) -> str:
    """The text the model sees: a string as is, chat messages through the chat template."""
    if isinstance(prompt, str):
        return prompt
    return tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
