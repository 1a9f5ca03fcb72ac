"""r1lab: DeepSeek-R1-style reasoning recipes as thin layers over TRL."""

from setuptools import find_packages, setup

# Bounded to a set measured to resolve and run together (CPU and CUDA). torch is installed first by
# the Makefile (`pip install torch==2.13.0`): a bare `torch` requirement would pull the CUDA wheels.
install_requires = [
    "torch>=2.13,<2.14",
    "trl>=1.16,<1.17",
    # 5.23 is what a plain install gets (measured); vllm 0.31 needs transformers<5.18, so the
    # `vllm` extra resolves to 5.17 (also measured to resolve, see README).
    "transformers>=5.17,<5.24",
    "accelerate>=1.15,<1.16",
    "datasets>=5.2,<5.3",
    "tokenizers>=0.22",
    # hydra-core pins antlr4 4.9, so math-verify must use the antlr4 4.9.3 flavour of its parser.
    "math-verify[antlr4_9_3]==0.9.0",
    "hydra-core>=1.3.8,<1.4",
    "wandb>=0.31,<0.32",
    "matplotlib>=3.8",
    "tqdm>=4.66",
    "pyyaml>=6",
    # the `openai` generation backend: any OpenAI-compatible server (vLLM, sglang, a hosted API)
    "openai>=1.50",
    # LoRA (`model.use_peft`, TRL's get_peft_config); 0.21.2 measured with trl 1.16 / torch 2.13
    "peft>=0.17,<0.22",
]

extras = {
    # mutmut: `make mutate` (mutation testing, run by hand before resolving an issue, not in CI)
    "dev": ["pytest>=8", "hypothesis>=6.100", "ruff>=0.6", "pytest-timeout>=2.3", "mutmut>=3.3,<4"],
    # TRL 1.16 supports vllm 0.22-0.31; 0.31 pins torch 2.13, matching install_requires.
    "vllm": ["vllm>=0.22,<0.32"],
    # ZeRO-2/3 (recipes/accelerate/zero2.yaml, zero3.yaml); `make install` adds it. 0.19.8 runs
    # both stages on 2 CPU ranks over gloo (tests/test_scale.py).
    "deepspeed": ["deepspeed>=0.19.8,<0.20"],
    # `trainer.use_liger_kernel`: Triton kernels, CUDA GPUs only (not installed by default)
    "liger": ["liger-kernel>=0.5,<0.9"],
    # kind grpo_async: TRL's AsyncGRPOTrainer fetches its FA3 attention with `kernels` (the range
    # transformers 5 accepts); CUDA GPUs only, not installed by default
    "async": ["kernels>=0.16,<0.17"],
}

setup(
    name="r1lab",
    version="0.1.0",
    description="Recipes for training reasoning models the DeepSeek-R1 way, on top of TRL",
    package_dir={"": "src"},
    packages=find_packages("src"),
    python_requires=">=3.10",
    install_requires=install_requires,
    extras_require=extras,
    entry_points={"console_scripts": ["r1lab = r1lab.cli:main"]},
)
