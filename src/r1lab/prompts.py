"""The R1-Zero prompt (DeepSeek-R1, Table 1) as plain text for base models or a system prompt."""

from __future__ import annotations

from typing import Any

R1_ZERO_INSTRUCTION = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves "
    "it. The assistant first thinks about the reasoning process in the mind and then provides the "
    "user with the answer. The reasoning process and answer are enclosed within <think> </think> "
    "and <answer> </answer> tags, respectively, i.e., <think> reasoning process here </think> "
    "<answer> answer here </answer>."
)
R1_ZERO_TEMPLATE = R1_ZERO_INSTRUCTION + " User: {prompt}. Assistant:"

TEMPLATES = ("r1_zero", "r1_zero_chat", "chat", "none")
CHAT_TEMPLATES = ("r1_zero_chat", "chat")  # the templates that give chat messages


def format_prompt(question: str, template: str) -> Any:
    """The `prompt` value TRL expects: a string for base models, messages for chat models.

    r1_zero: the paper's plain-text template (base models, no chat template).
    r1_zero_chat: the same instruction as a system message, the question as the user turn.
    chat: the question alone as the user turn (instruct/distilled models).
    """
    if template == "r1_zero":
        return R1_ZERO_TEMPLATE.format(prompt=question)
    if template == "r1_zero_chat":
        return [
            {"role": "system", "content": R1_ZERO_INSTRUCTION},
            {"role": "user", "content": question},
        ]
    if template == "chat":
        return [{"role": "user", "content": question}]
    raise ValueError(f"template must be one of {TEMPLATES}, got {template!r}")


def format_completion(text: str, template: str) -> Any:
    """The SFT target matching `format_prompt`: a string, or an assistant message for chat."""
    return text if template == "r1_zero" else [{"role": "assistant", "content": text}]
