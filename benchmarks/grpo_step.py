"""GRPO step throughput through the real `r1lab grpo` path: steps/s, completion tokens/s, and
where a step's time goes (r1lab.step_time: generation, weight sync, rewards, log-probs, update).

    python benchmarks/grpo_step.py                      # tiny model, CPU (~1M parameters)
    python benchmarks/grpo_step.py --shape qwen2.5-0.5b # random-init Qwen2.5-0.5B shape (GPU)
    python benchmarks/grpo_step.py trainer.use_vllm=true trainer.vllm_gpu_memory_utilization=0.1
                                                        # generation on vLLM colocated (CPU too)

The model is random-init with the tiny tokenizer (nothing is downloaded); the recipe is
`r1_zero/tiny` with the model swapped, so the numbers cover generation, rewards and the update.
The first `--warmup` steps are excluded.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=["tiny", "qwen2.5-0.5b"], default="tiny")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--completion-length", type=int, default=32)
    parser.add_argument("overrides", nargs="*", help="extra recipe overrides")
    args = parser.parse_args()

    from r1lab import tiny

    with tempfile.TemporaryDirectory() as tmp:
        model = tiny.build(Path(tmp) / "model", **tiny.SHAPES[args.shape])
        out = Path(tmp) / "run"
        on_gpu = args.shape != "tiny"
        cmd = [
            sys.executable,
            "-m",
            "r1lab.kinds.grpo",
            "r1_zero/tiny",
            f"model.model_name_or_path={model}",
            f"trainer.output_dir={out}",
            f"trainer.max_steps={args.steps}",
            "trainer.logging_steps=1",
            "trainer.save_strategy=no",
            f"trainer.max_completion_length={args.completion_length}",
        ]
        if on_gpu:
            cmd += [
                "trainer.use_cpu=false",
                "trainer.bf16=true",
                "accelerate=ddp",
                "model.dtype=bfloat16",
            ]
        cmd += args.overrides
        subprocess.run(cmd, check=True)
        history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    from r1lab import step_time
    from r1lab.recipe import compose

    batch = compose("r1_zero/tiny", args.overrides).trainer["per_device_train_batch_size"]
    steps = [h for h in history if "step_time" in h][args.warmup :]
    seconds = sum(h["step_time"] for h in steps)
    tokens = sum(h["completions/mean_length"] * batch for h in steps)
    print(
        f"{args.shape}: {len(steps)} steps, {len(steps) / seconds:.2f} steps/s, "
        f"{seconds / len(steps):.3f} s/step, {tokens / seconds:.0f} completion tokens/s"
    )
    timed = [h for h in history if "step" in h and "step_time" in h][args.warmup :]
    print("\n".join(step_time.table(timed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
