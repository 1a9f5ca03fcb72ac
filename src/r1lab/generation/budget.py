"""s1-style budget forcing (Muennighoff et al. 2025, "s1: Simple test-time scaling"): the
`generate.budget` setting, and a `Generator` that applies it over any backend that continues raw
text (vllm, hf).

Why a module of its own, over the backends rather than inside them: the forcing is a few rounds of
plain generation (stop at `</think>`, then append text and continue from prompt + text so far), the
same for every backend, so each backend only has to honour `Sampling.stop`; the rounds, the
thinking-token count and the bookkeeping of the final completion live here once.

- `max_think_tokens`: the thinking stops after at most this many tokens (the model's tokenizer
  counts the text between the opening of the thinking and `</think>`, wait texts included), then
  `</think>` is appended and the model writes its answer.
- `min_think_tokens`: when the model ends its thinking earlier, its `</think>` is dropped, the
  wait text appended (verbatim, e.g. "Wait"), and it thinks on; at most `max_waits` times, after
  which its next `</think>` stands.

Every round is a request of the backend on prompt + text so far (one sample each, seeded from the
run's seed, the prompt's id, the sample and the round, so a shard's samples are the same whichever
node or rerun makes them). A round may be asked for more tokens than one sample has left; that
sample's text is cut at its own budget (cutting an autoregressive sample is the same as stopping
it there). The completion is the concatenation; `completion_tokens` counts its text with the
tokenizer (plus the end-of-sequence token when the model ended it), so it is true to the text.
The openai backend is refused: a chat endpoint cannot continue a turn part-way, and its server's
tokenizer is not ours to count with.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from r1lab.errors import RecipeError, section_dataclass
from r1lab.generation.base import Completion, Generator, Sampling, render_prompt, request_seed
from r1lab.generation.base import think_prefix as _think_prefix

END_THINK, START_THINK = "</think>", "<think>"
BACKENDS = ("vllm", "hf")  # the backends that continue raw text with our tokenizer


@dataclass(frozen=True)
class Budget:
    """`generate.budget`: the thinking's length in tokens (None: no bound on that side)."""

    max_think_tokens: int | None = None
    min_think_tokens: int | None = None
    wait_text: str = "Wait"  # appended, verbatim, in place of an early `</think>`
    max_waits: int = 1  # times the thinking is extended at most

    @classmethod
    def parse(cls, section: Any, backend: str) -> Budget | None:
        """The section, validated; None when it bounds nothing (generation as without it)."""
        if section is None:
            return None
        if isinstance(section, Budget):
            budget = section
        elif isinstance(section, dict):
            budget = section_dataclass(cls, "generate.budget", section)
        else:
            raise RecipeError(
                f"generate.budget={section!r} must be a mapping, e.g. "
                "{max_think_tokens: 4096, min_think_tokens: 1024, wait_text: Wait, max_waits: 2}"
            )
        problems = []
        for name in ("max_think_tokens", "min_think_tokens", "max_waits"):
            value = getattr(budget, name)
            if value is None and name != "max_waits":
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                problems.append(f"generate.budget.{name}={value!r} must be a whole number")
            elif value < (1 if name == "max_think_tokens" else 0):
                problems.append(
                    f"generate.budget.{name}={value} must be >= "
                    f"{1 if name == 'max_think_tokens' else 0}"
                )
        if not isinstance(budget.wait_text, str) or not budget.wait_text.strip():
            problems.append(f"generate.budget.wait_text={budget.wait_text!r} must be some text")
        elif END_THINK in budget.wait_text:
            problems.append(f"generate.budget.wait_text must not hold {END_THINK}")
        if problems:
            raise RecipeError("; ".join(problems))
        low, high = budget.min_think_tokens, budget.max_think_tokens
        if low is not None and high is not None and low > high:
            raise RecipeError(
                f"generate.budget.min_think_tokens={low} exceeds max_think_tokens={high}: the "
                "thinking cannot be both longer and shorter"
            )
        if not low and high is None:
            return None  # bounds nothing
        if backend not in BACKENDS:
            raise RecipeError(
                f"generate.budget: budget forcing runs on the {' and '.join(BACKENDS)} backends, "
                f"not {backend} (a served chat turn cannot be continued part-way, and the "
                "thinking's tokens are counted with the model's own tokenizer); use "
                "generate.backend=vllm or hf, or leave generate.budget out"
            )
        return budget

    def record(self) -> dict[str, Any]:
        """What the samples' provenance records of it: every field."""
        return asdict(self)


def capped(budget: Budget | None, max_think_tokens: int, backend: str) -> Budget:
    """One point of a budget sweep (`benchmarks.<name>.budgets`): `budget`'s other settings (the
    minimum, the wait text; none without one) with the thinking capped at `max_think_tokens`."""
    point = Budget.parse(replace(budget or Budget(), max_think_tokens=max_think_tokens), backend)
    assert point is not None  # a maximum always bounds something
    return point


def spaced(thought: str) -> str:
    """The thinking, ending in whitespace (what a model writes before its `</think>`)."""
    return thought if not thought or thought[-1].isspace() else thought + " "


def opening(text: str) -> tuple[str, str]:
    """(an opening `<think>` the model wrote itself, with the space before it; the rest)."""
    stripped = text.lstrip()
    if not stripped.startswith(START_THINK):
        return "", text
    k = len(text) - len(stripped) + len(START_THINK)
    return text[:k], text[k:]


def wrap(generator: Generator, budget: Budget | None) -> Generator:
    """`generator` itself without a budget (generation exactly as before), else forced."""
    return generator if budget is None else BudgetGenerator(generator, budget)


@dataclass
class _Sample:
    """One sample in the making: its text after the prompt (generated and appended)."""

    prompt: str  # the rendered prompt
    text: str = ""
    waits: int = 0
    answering: bool = False  # `</think>` written: what follows is the answer
    done: bool = False
    finish: str = "length"
    eos: bool = False  # the model ended the sequence (its end-of-sequence token counts)


class BudgetGenerator:
    """A `Generator` over `inner` (a vllm or hf generator) whose thinking is held to `budget`."""

    def __init__(self, inner: Any, budget: Budget) -> None:
        self.inner, self.budget, self.tokenizer = inner, budget, inner.tokenizer

    def count(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def cut(self, text: str, tokens: int) -> str:
        """`text`'s first `tokens` tokens, or fewer: a cut inside a character decodes to U+FFFD,
        which counts more tokens than the bytes it replaces."""
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        keep = max(tokens, 0)
        while keep > 0 and self.count(self.tokenizer.decode(ids[:keep])) > tokens:
            keep -= 1
        return self.tokenizer.decode(ids[:keep])

    def thinking_tokens(self, s: _Sample) -> int:
        """The thinking's tokens so far (after an opening `<think>` the model wrote itself)."""
        return self.count(opening(s.text)[1])

    def left(self, s: _Sample, max_new_tokens: int) -> tuple[int, int | None]:
        """(tokens left in the completion, tokens left to think; None: unbounded)."""
        total = max_new_tokens - self.count(s.text)
        if s.answering or self.budget.max_think_tokens is None:
            return total, None
        return total, self.budget.max_think_tokens - self.thinking_tokens(s)

    def generate(
        self, prompts: list[Any], n: int, sampling: Sampling, ids: list[int] | None = None
    ) -> list[list[Completion]]:
        ids = list(range(len(prompts))) if ids is None else ids
        texts = [render_prompt(self.tokenizer, p) for p in prompts]
        samples = [[_Sample(t) for _ in range(n)] for t in texts]
        # think, (wait, think) x waits, answer; and a few rounds to spare for thinking cut short
        # of its budget (the tokens of a `<think>` the model writes itself are no thinking)
        for step in range(self.budget.max_waits + 8):
            todo = [(i, j, s) for i, g in enumerate(samples) for j, s in enumerate(g) if not s.done]
            if not todo:
                break
            self.round(todo, ids, n, sampling, step)
        for group in samples:
            for s in group:
                if not s.done:  # out of rounds: as if out of tokens
                    s.done, s.finish = True, "length"
        return [
            [
                Completion(
                    _think_prefix(s.prompt) + s.text,
                    s.finish,
                    self.count(s.prompt),
                    self.count(s.text) + (1 if s.eos else 0),
                )
                for s in group
            ]
            for group in samples
        ]

    def round(
        self,
        todo: list[tuple[int, int, _Sample]],
        ids: list[int],
        n: int,
        sampling: Sampling,
        step: int,
    ) -> None:
        """One request for each unfinished sample: more thinking (stopped at `</think>`, at most
        its thinking budget) or its answer. Round 0 asks each prompt once for its n samples, with
        the run's own seed, as the backend alone would."""
        asks = []
        for i, j, s in todo:
            total, think = self.left(s, sampling.max_new_tokens)
            if think is not None and think <= 0:
                self.end_thinking(s)  # the thinking budget is spent: answer now
                total, think = self.left(s, sampling.max_new_tokens)
            if total <= 0:
                s.done, s.finish = True, "length"
                continue
            asks.append((i, j, s, total if think is None else min(total, think)))
        groups = [(False, [a for a in asks if not a[2].answering])]
        groups.append((True, [a for a in asks if a[2].answering]))  # made before either runs
        for answering, group in groups:
            if not group:
                continue
            stop = () if answering else (END_THINK,)
            ask = replace(sampling, max_new_tokens=max(a[3] for a in group), stop=stop)
            if step == 0:  # every sample of every prompt, none answering yet
                out = self.inner.generate([s.prompt for i, j, s, _ in group if j == 0], n, ask, ids)
                pieces = [c for g in out for c in g]
            else:
                seed = None if sampling.seed is None else request_seed(sampling.seed, step)
                continued = [s.prompt + s.text for _, _, s, _ in group]
                out = self.inner.generate(
                    continued, 1, replace(ask, seed=seed), [ids[i] * n + j for i, j, _, _ in group]
                )
                pieces = [g[0] for g in out]
            for (_, _, s, size), piece in zip(group, pieces, strict=True):
                text = piece.text[len(_think_prefix(s.prompt + s.text)) :]
                self.take(s, text, piece.finish_reason, size, sampling.max_new_tokens)

    def take(self, s: _Sample, piece: str, finish: str, size: int, max_new_tokens: int) -> None:
        """A round's text for `s`, of which at most `size` tokens count (the rest is cut)."""
        ended = not s.answering and END_THINK in piece
        if ended:
            piece = piece[: piece.index(END_THINK)]
        if self.count(piece) > size:
            piece, ended, finish = self.cut(piece, size), False, "length"
        s.text += piece
        if s.answering or (finish != "length" and not ended):  # the answer, or an end inside
            s.done, s.finish, s.eos = True, finish, finish == "stop"  # the thinking
        elif ended:
            low = self.budget.min_think_tokens or 0
            high = self.budget.max_think_tokens
            waited = s.text + self.budget.wait_text
            fits = high is None or self.thinking_tokens(replace(s, text=waited)) <= high
            if self.thinking_tokens(s) < low and s.waits < self.budget.max_waits and fits:
                s.waits += 1
                s.text += self.budget.wait_text  # in place of its `</think>`: think on
            else:
                self.end_thinking(s)
        else:  # cut at its tokens: the thinking budget reached, or max_new_tokens, or neither
            total, think = self.left(s, max_new_tokens)  # (a `<think>` it wrote is no thinking)
            if think is not None and think <= 0:
                self.end_thinking(s)
            elif total <= 0:
                s.done, s.finish = True, "length"

    def end_thinking(self, s: _Sample) -> None:
        """`</think>` after the thinking, as a word of its own (a thinking cut at its budget can
        end inside a word, and `6</think>` is not how the model ever closed one), the thinking
        with that space held to its budget (pieces counted apart can count another token once
        joined)."""
        high = self.budget.max_think_tokens
        head, thought = opening(s.text)
        closed, keep = spaced(thought), high
        while high is not None and self.count(closed) > high:  # ends by keep 0: ""
            closed = spaced(self.cut(thought, keep))
            keep -= 1
        s.text = head + closed + END_THINK
        s.answering = True
