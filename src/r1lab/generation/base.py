"""What every generation backend shares: how to sample, what a completion carries, the interface."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Sampling:
    """How to sample. `greedy` ignores temperature/top_p.

    `seed` makes a call repeatable: prompt i of the call is sampled with seed + i on backends that
    seed per request (vLLM, an OpenAI-compatible server), and seeds the whole call on transformers.
    The generate kind passes seed + the first prompt's id, so a prompt's samples do not depend on
    which shard, node or rerun produced them.
    """

    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    greedy: bool = False
    seed: int | None = None


@dataclass(frozen=True)
class Completion:
    text: str  # a server's separate reasoning is put back as `<think>\n...\n</think>\n\n` + answer
    finish_reason: str  # "stop" (end of sequence or a stop string) or "length" (hit max_new_tokens)
    prompt_tokens: int
    completion_tokens: int  # generated tokens, the end-of-sequence token included


class Generator(Protocol):
    def generate(self, prompts: list[Any], n: int, sampling: Sampling) -> list[list[Completion]]:
        """`n` completions for each prompt, in prompt order."""
        ...


def render_prompt(tokenizer: Any, prompt: Any) -> str:
    """The text the model sees: a string as is, chat messages through the chat template."""
    if isinstance(prompt, str):
        return prompt
    return tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
