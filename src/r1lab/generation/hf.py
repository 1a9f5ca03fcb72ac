"""The `hf` backend: transformers `generate`, the one that runs wherever r1lab installs."""

from __future__ import annotations

from typing import Any

from r1lab.generation.base import (
    Completion,
    Sampling,
    render_prompt,
    request_seed,
    think_prefix,
)


class TransformersGenerator:
    """transformers `generate`, batched: `batch_size` sequences (prompts x n) per call."""

    def __init__(
        self, model: str, batch_size: int = 64, dtype: str = "auto", revision: str | None = None
    ) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model, revision=revision)
        self.tokenizer.padding_side = "left"
        import torch

        self.model = AutoModelForCausalLM.from_pretrained(model, dtype=dtype, revision=revision)
        self.model.to(
            "cuda" if torch.cuda.is_available() else "cpu"
        ).eval()  # a GPU when there is one
        self.batch_size = batch_size
        eos = self.model.generation_config.eos_token_id
        eos = eos if isinstance(eos, list) else [eos]
        self.eos_ids = {i for i in [*eos, self.tokenizer.eos_token_id] if i is not None}

    def generate(
        self, prompts: list[Any], n: int, sampling: Sampling, ids: list[int] | None = None
    ) -> list[list[Completion]]:
        import torch
        from tqdm.auto import tqdm

        if sampling.seed is not None:  # one seed per call: the first prompt's
            torch.manual_seed(request_seed(sampling.seed, ids[0] if ids else 0))
        texts = [render_prompt(self.tokenizer, p) for p in prompts]
        step = max(1, self.batch_size // n)
        out: list[list[Completion]] = []
        desc = "greedy" if sampling.greedy else "sampling"
        # a stop string ends a sequence once its text ends with it (kept in the text)
        stop = {"stop_strings": list(sampling.stop), "tokenizer": self.tokenizer}
        stop = stop if sampling.stop else {}
        for start in tqdm(range(0, len(texts), step), desc=desc, leave=False):
            batch = self.tokenizer(
                texts[start : start + step],
                return_tensors="pt",
                padding=True,
                add_special_tokens=False,
            ).to(self.model.device)
            with torch.no_grad():
                ids = self.model.generate(
                    **batch,
                    do_sample=not sampling.greedy,
                    temperature=None if sampling.greedy else sampling.temperature,
                    top_p=None if sampling.greedy else sampling.top_p,
                    top_k=None if sampling.greedy else 0,
                    num_return_sequences=n,
                    max_new_tokens=sampling.max_new_tokens,
                    pad_token_id=self.tokenizer.pad_token_id,
                    **stop,
                )
            prompt_lengths = batch["attention_mask"].sum(dim=1).tolist()
            new = ids[:, batch["input_ids"].shape[1] :]
            texts_out = self.tokenizer.batch_decode(new, skip_special_tokens=True)
            for i in range(0, len(texts_out), n):
                prefix = think_prefix(texts[start + i // n])
                out.append(
                    [
                        self._completion(
                            prefix + texts_out[j], new[j].tolist(), prompt_lengths[j // n]
                        )
                        for j in range(i, i + n)
                    ]
                )
        return out

    def _completion(self, text: str, ids: list[int], prompt_tokens: int) -> Completion:
        end = next((i for i, t in enumerate(ids) if t in self.eos_ids), None)
        if end is None:
            return Completion(text, "length", prompt_tokens, len(ids))
        return Completion(text, "stop", prompt_tokens, end + 1)
