"""The `openai` backend: any OpenAI-compatible endpoint (vLLM's server, sglang, a hosted API).

String prompts go to `/v1/completions`, chat prompts to `/v1/chat/completions`. Each sample is its
own request (`n=1`): every server honours it (`transformers serve` ignores `n`), the usage it
returns counts that sample's tokens exactly, and a server with prefix caching (vLLM) shares the
prompt's work anyway. At most `concurrency` requests are in flight; each has `timeout` seconds and
is retried `max_retries` times with exponential backoff (the `openai` client's own retry, on
connection errors, 408/429 and 5xx). Sample j of prompt i is seeded with
`request_seed(seed, id_i) + j` (servers that ignore `seed` simply sample). A request the server
refuses outright (a 4xx other than 408/429, e.g. a prompt over its context) is not retried and
does not sink the shard: it becomes an empty sample with `finish_reason="error"`, which no
verifier accepts, and the count is printed. A server that splits the thinking out
(`reasoning_content`, vLLM with a reasoning parser) gets it put back inside `<think>` tags, so
verifiers and the student's SFT see the whole trace.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace
from typing import Any

from r1lab.errors import RecipeError
from r1lab.generation.base import Completion, Sampling, request_seed, think_prefix

SEED_SPACE = 1 << 63  # vLLM's server takes a signed 64-bit seed


def with_reasoning(content: str | None, reasoning: str | None) -> str:
    """The full completion text from a chat message whose thinking a server split out."""
    if not reasoning:
        return content or ""
    return f"<think>\n{reasoning.strip()}\n</think>\n\n{(content or '').lstrip()}"


class OpenAIGenerator:
    def __init__(
        self,
        model: str,
        base_url: str = "http://localhost:8000/v1",
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 64,
        timeout: float = 600.0,
        max_retries: int = 5,
    ) -> None:
        import openai

        self.model, self.base_url, self.concurrency = model, base_url.rstrip("/"), concurrency
        self.timeout, self.max_retries = timeout, max_retries
        self.api_key = os.environ.get(api_key_env) or "EMPTY"  # local servers accept any key
        self._openai = openai
        self._check_server()

    def _client(self) -> Any:
        """A client for one event loop (an AsyncOpenAI is bound to the loop it first runs in)."""
        return self._openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=self.api_key,
            timeout=self.timeout,
            max_retries=self.max_retries,
        )

    def _check_server(self) -> None:
        """Fail in seconds, with what to do, when nothing answers at `base_url`."""
        client = self._openai.OpenAI(
            base_url=self.base_url, api_key=self.api_key, timeout=10.0, max_retries=1
        )
        try:
            served = [m.id for m in client.models.list()]
        except self._openai.APIConnectionError as err:
            raise RecipeError(
                f"no OpenAI-compatible server answers at {self.base_url} ({err.__cause__ or err}). "
                f"Start one, e.g. `python -m vllm.entrypoints.openai.api_server --model "
                f"{self.model}` (or `vllm serve {self.model}`), or set generate.base_url"
            ) from None
        except self._openai.APIStatusError as err:
            raise RecipeError(
                f"the server at {self.base_url} refused to list its models: HTTP "
                f"{err.status_code} {err.message}; check generate.api_key_env and the URL"
            ) from None
        if served and self.model not in served:
            raise RecipeError(
                f"the server at {self.base_url} serves {served}, not '{self.model}'; set "
                "model.model_name_or_path to the served name"
            )

    def generate(
        self, prompts: list[Any], n: int, sampling: Sampling, ids: list[int] | None = None
    ) -> list[list[Completion]]:
        ids = list(range(len(prompts))) if ids is None else ids
        out = asyncio.run(self._generate(prompts, n, sampling, ids))
        refused = [c for group in out for c in group if c.finish_reason == "error"]
        if refused:
            print(
                f"[r1lab] {len(refused)} of {len(prompts) * n} requests refused by "
                f"{self.base_url}, kept as empty samples (finish_reason=error); first: "
                f"{refused[0].text or '?'}",
                flush=True,
            )
        return [[c if c.finish_reason != "error" else replace(c, text="") for c in g] for g in out]

    async def _generate(
        self, prompts: list[Any], n: int, sampling: Sampling, ids: list[int]
    ) -> list[list[Completion]]:
        client, gate = self._client(), asyncio.Semaphore(self.concurrency)

        async def one(i: int, j: int) -> Completion:
            seed = None
            if sampling.seed is not None:
                seed = (request_seed(sampling.seed, ids[i]) + j) % SEED_SPACE
            async with gate:
                try:
                    return await self._request(client, prompts[i], sampling, seed)
                except self._openai.APIStatusError as err:
                    if err.status_code in (408, 429) or err.status_code >= 500:
                        raise  # the client retried it max_retries times already
                    return Completion(f"HTTP {err.status_code}: {err.message}", "error", 0, 0)

        try:
            tasks = [[one(i, j) for j in range(n)] for i in range(len(prompts))]
            flat = await asyncio.gather(*(t for group in tasks for t in group))
        except self._openai.APIStatusError as err:
            raise RecipeError(
                f"the server at {self.base_url} answered HTTP {err.status_code} after "
                f"{self.max_retries} retries: {err.message}. Samples of finished shards are kept; "
                "rerun the same command to resume"
            ) from None
        except self._openai.APIError as err:  # connection lost, timeouts
            raise RecipeError(
                f"the server at {self.base_url} stopped answering ({err}) after "
                f"{self.max_retries} retries. Samples of finished shards are kept; rerun the "
                "same command to resume"
            ) from None
        finally:
            await client.close()
        return [list(flat[i * n : (i + 1) * n]) for i in range(len(prompts))]

    async def _request(
        self, client: Any, prompt: Any, sampling: Sampling, seed: int | None
    ) -> Completion:
        common = {
            "model": self.model,
            "n": 1,
            "max_tokens": sampling.max_new_tokens,
            "temperature": 0.0 if sampling.greedy else sampling.temperature,
            "top_p": 1.0 if sampling.greedy else sampling.top_p,
            "seed": seed,
        }
        if isinstance(prompt, str):
            out = await client.completions.create(prompt=prompt, **common)
            text = think_prefix(prompt) + out.choices[0].text
        else:
            out = await client.chat.completions.create(messages=prompt, **common)
            message = out.choices[0].message
            reasoning = getattr(message, "reasoning_content", None) or getattr(
                message, "reasoning", None
            )
            text = with_reasoning(message.content, reasoning)
        usage = out.usage
        return Completion(
            text=text,
            finish_reason=str(out.choices[0].finish_reason or "stop"),
            prompt_tokens=int(usage.prompt_tokens) if usage else 0,
            completion_tokens=int(usage.completion_tokens) if usage else 0,
        )
