"""Show that a colocated vLLM-CPU engine under TRL's GRPOTrainer follows the policy's weights, for
tests/test_vllm_colocate.py. Run in its own process (`python tests/vllm_sync_probe.py <model>
<out dir>`): vLLM starts its engine in this process, and oneDNN's pin is lifted before it does.

It builds TRL's own GRPOTrainer with `use_vllm=true, vllm_mode=colocate` on the CPU, then:
1. TRL's own sync fails (what r1lab.vllm_sync exists for; when TRL or vLLM fixes it, this says so);
2. the engine's log-probs of the prompts' tokens equal the policy's (transformers) at the start;
3. the policy's weights are moved; before a sync the engine's log-probs are the old policy's;
4. after r1lab's sync they equal the moved policy's again.
Prints one JSON line with what it saw: the largest log-prob gap to the policy at each point.
"""

from __future__ import annotations

import json
import sys


def main(model: str, out: str) -> None:
    import torch
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer
    from vllm import SamplingParams

    from r1lab import vllm_sync

    vllm_sync.release_onednn_pin()
    args = GRPOConfig(
        output_dir=out,
        use_vllm=True,
        vllm_mode="colocate",
        vllm_gpu_memory_utilization=0.1,
        per_device_train_batch_size=8,
        num_generations=8,
        max_completion_length=8,
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        report_to=[],
    )
    prompts = ["Compute 3 + 4.", "What is 12 - 5?", "2 * 8 =", "Compute 9 - 1."]
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=lambda completions, **kw: [0.0] * len(completions),
        args=args,
        train_dataset=Dataset.from_dict({"prompt": prompts * 2}),
    )
    generation = trainer.vllm_generation
    policy, tok = trainer.model, trainer.processing_class
    ids = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]

    def engine() -> list[list[float]]:
        """vLLM's log-prob of every prompt token after the first (prompt_logprobs)."""
        params = SamplingParams(temperature=0.0, max_tokens=1, prompt_logprobs=0)
        outs = generation.llm.generate(
            [{"prompt_token_ids": i} for i in ids], params, use_tqdm=False
        )
        return [[next(iter(step.values())).logprob for step in o.prompt_logprobs[1:]] for o in outs]

    def policy_logprobs() -> list[list[float]]:
        policy.eval()
        with torch.no_grad():
            rows = []
            for i in ids:
                logits = policy(torch.tensor([i])).logits[0, :-1].float()
                logps = logits.log_softmax(-1).gather(1, torch.tensor(i[1:])[:, None])[:, 0]
                rows.append(logps.tolist())
            return rows

    def gap(a: list[list[float]], b: list[list[float]]) -> float:
        return max(
            abs(x - y) for ra, rb in zip(a, b, strict=True) for x, y in zip(ra, rb, strict=True)
        )

    seen: dict[str, object] = {"tied_embeddings": bool(policy.config.tie_word_embeddings)}
    try:
        generation.sync_weights()  # TRL's own, per-parameter load_weights
        seen["trl_sync_error"] = None
    except Exception as err:  # noqa: BLE001 - what TRL's sync raises is the finding
        seen["trl_sync_error"] = f"{type(err).__name__}: {err}"
    vllm_sync.install(trainer)
    generation.sync_weights()  # r1lab's: a clean start from the policy as loaded
    seen["gap_at_start"] = gap(engine(), policy_logprobs())
    torch.manual_seed(1)
    with torch.no_grad():
        for param in policy.parameters():
            param.add_(torch.randn_like(param) * 0.05)
    seen["gap_before_sync"] = gap(engine(), policy_logprobs())
    generation.sync_weights()
    seen["gap_after_sync"] = gap(engine(), policy_logprobs())
    print(json.dumps(seen))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
