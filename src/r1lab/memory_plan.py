"""GPU memory per rank and time per step of a training run, from arithmetic alone, before it queues.

The terms are the ones every "CUDA out of memory" answer for GRPO and SFT adds up:
- model states: weights, gradients and Adam's states, split as DeepSpeed's own estimators split
  them (`estimate_zero2/3_model_states_mem_needs`: 2 + 18/N bytes per parameter for ZeRO-2,
  4 x largest layer + 18/N for ZeRO-3) and as accelerate's `estimate-memory` counts plain data
  parallel (weights, gradients and two Adam states in the weights' dtype);
- activations kept for backward: per token and layer, what autograd saves in a Llama/Qwen2 decoder
  layer with SDPA (`activation_bytes_per_token`, measured on the CPU in tests); with gradient
  checkpointing, each layer's input plus one layer recomputed;
- logits: vocabulary x the tokens whose logits the loss needs, times the bytes per element of the
  kind's loss (the kind module says which); zero with Liger's fused kernels;
- GRPO's reference model (beta > 0) and, in vLLM colocate mode, the engine's share of the GPU;
- a teacher (on-policy distillation): a frozen model of its own shape and dtype, its weights and
  its no-grad forward (`Teacher`, `teacher_terms`);
- a fixed allowance for the CUDA context, NCCL and allocator slack.
Everything else is an estimate with its assumptions printed next to it. What a kind trains on in a
step (`Workload`) comes from the kind's module, which reads its TRL config.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from r1lab.errors import RecipeError
from r1lab.model_shape import ModelShape

GiB = 1024**3
OVERHEAD_BYTES = 2 * GiB  # CUDA context, NCCL buffers, allocator slack (assumed)
WARN_FRACTION = 0.9
DEFAULT_MFU = 0.3
DEFAULT_PROMPT_TOKENS = 512  # GRPO prompts when the data is not here to measure


@dataclass(frozen=True)
class GPU:
    name: str
    memory_gib: float  # as torch.cuda.get_device_properties reports it
    bf16_tflops: float | None  # dense peak; None: unknown (no time estimate)


GPUS: dict[str, GPU] = {
    g.name: g
    for g in (
        GPU("h100-80gb", 79.1, 989.0),
        GPU("h200", 139.8, 989.0),
        GPU("b200", 178.4, 2250.0),
        GPU("a100-80gb", 79.2, 312.0),
        GPU("a100-40gb", 39.4, 312.0),
        GPU("l40s", 44.4, 362.0),
        GPU("a10g", 22.0, 125.0),
    )
}
DEFAULT_GPU = "h100-80gb"


def gpu_named(name: str) -> GPU:
    """A GPU of the table, or `<N>gb` for another size (then no time estimate)."""
    key = name.strip().lower()
    if key in GPUS:
        return GPUS[key]
    if match := re.fullmatch(r"(\d+(?:\.\d+)?)gb", key):
        return GPU(key, float(match.group(1)), None)
    raise RecipeError(
        f"gpu '{name}' is not one r1lab knows: choose one of {', '.join(GPUS)}, or give the memory "
        "as <N>gb (e.g. --gpu 96gb)"
    )


@dataclass(frozen=True)
class Parallel:
    """How the trainer holds model states on each rank (from the accelerate file)."""

    processes: int
    zero_stage: int = 0  # 0: each rank holds everything (DDP, one process); 2 or 3: DeepSpeed
    # FSDP's sharding, planned as the ZeRO stage that shards the same states: "FSDP2" or None
    fsdp: str | None = None
    offload_optimizer: bool = False
    offload_params: bool = False
    weight_bytes: int = 2  # bytes per weight as loaded (plain data parallel)
    compute_bytes: int = 2  # bytes per activation (2 under bf16/fp16)

    @property
    def label(self) -> str:
        what = f"ZeRO-{self.zero_stage}" if self.zero_stage else "data parallel"
        if self.fsdp:
            what = f"{self.fsdp} (planned as {what})"
        offload = " + optimizer offload" if self.offload_optimizer else ""
        return f"{what}{offload}, {self.processes} rank(s)"


@dataclass(frozen=True)
class Teacher:
    """A frozen second model whose forward the loss reads (on-policy distillation's teacher). Its
    shape is its own (only the vocabulary must match the student's); `shape` None: its config.json
    is not here, and the plan says it left the teacher out (`missing` says why)."""

    ref: str
    shape: ModelShape | None
    weight_bytes: int  # bytes per weight as loaded (DeepSpeed casts it to 16-bit under bf16/fp16)
    missing: str = ""


@dataclass(frozen=True)
class Workload:
    """One optimizer step of a trainer, as its kind's TRL config sets it."""

    micro_batch: int  # sequences per rank per forward/backward
    accumulation: int  # gradient_accumulation_steps
    sequence_tokens: int  # tokens of one sequence (GRPO: prompt + completion)
    logit_tokens: int  # tokens per sequence whose logits the loss materializes
    logit_bytes: float  # bytes per logit element in the kind's loss (value, copies, gradient)
    gradient_checkpointing: bool
    fused_logits: bool = False  # Liger's fused kernels: logits never materialized
    generated_tokens: int = 0  # per sequence, generated before training (GRPO)
    reference_model: bool = False  # a frozen copy of the weights (GRPO, beta > 0, no LoRA)
    extra_forwards: int = 0  # forward passes without grad per trained token (reference, old logps)
    vllm_colocate_share: float | None = None  # vllm_gpu_memory_utilization when colocated
    vllm_sleeps: bool = False  # vllm_enable_sleep_mode: the share is freed while training
    generation_sequences: int = 0  # sequences one rank's colocated engine generates at once
    # a chunked loss (TRL's distillation): logits exist only as tiles of at most (tokens, vocab)
    logit_tile: tuple[int, int] | None = None
    teacher: Teacher | None = None
    max_steps: int | None = None
    assumptions: tuple[str, ...] = ()

    def sequences_per_step(self, processes: int) -> int:
        return self.micro_batch * self.accumulation * processes


@dataclass(frozen=True)
class Term:
    name: str
    bytes: float
    note: str = ""


@dataclass(frozen=True)
class Plan:
    gpu: GPU
    parallel: Parallel
    terms: tuple[Term, ...]
    notes: tuple[str, ...] = ()

    @property
    def total(self) -> float:
        return sum(t.bytes for t in self.terms)

    @property
    def capacity(self) -> float:
        return self.gpu.memory_gib * GiB

    @property
    def fits(self) -> bool:
        return self.total <= self.capacity

    @property
    def fraction(self) -> float:
        return self.total / self.capacity

    @property
    def biggest(self) -> Term:
        return max(self.terms, key=lambda t: t.bytes)

    def table(self) -> list[str]:
        width = max(len(t.name) for t in self.terms)
        rows = [f"{t.name:<{width}}  {gib(t.bytes):>9}  {t.note}".rstrip() for t in self.terms]
        total = f"{'total':<{width}}  {gib(self.total):>9}  of {self.gpu.memory_gib:.1f} GiB"
        return [*rows, f"{total} ({self.fraction:.0%})", *self.notes]


def gib(n: float) -> str:
    return f"{n / GiB:.1f} GiB"


# ---- the terms ---------------------------------------------------------------------------------


def model_states(shape: ModelShape, par: Parallel) -> list[Term]:
    """Weights, gradients, optimizer states per rank. Under DeepSpeed the split is its estimators'
    (16-bit weights and gradients, fp32 master weights, gradients and two Adam moments: 18 bytes
    per trained parameter, partitioned); otherwise accelerate's: four copies in the weights' dtype."""
    p, t, n = shape.params, shape.trainable_params, par.processes
    if par.zero_stage == 0:
        b = par.weight_bytes
        return [
            Term("weights", p * b, f"{p / 1e9:.2f}B params x {b} B"),
            Term("gradients", t * b, f"{t / 1e9:.3g}B trained x {b} B"),
            Term("optimizer (Adam)", 2 * t * b, f"2 moments x {b} B"),
        ]
    layer = 4 * shape.largest_layer_params  # DeepSpeed: the largest layer, gathered, + its grads
    if par.zero_stage == 2:
        weights = Term("weights", 2 * p, "16-bit, whole on every rank")
        grads = 0 if par.offload_optimizer else 6 * t / n  # 16-bit + fp32 partitions
    else:
        shard = 0 if par.offload_params else 2 * p / n
        weights = Term("weights", shard + layer, f"16-bit / {n} ranks + largest layer gathered")
        grads = 0 if par.offload_optimizer else 4 * t / n
    opt = 0 if par.offload_optimizer else 12 * t / n
    where = "on the CPU (offload)" if par.offload_optimizer else f"/ {n} ranks"
    return [
        weights,
        Term("gradients", grads, f"{'16-bit + ' if par.zero_stage == 2 else ''}fp32 {where}"),
        Term("optimizer (Adam)", opt, f"fp32 master + 2 moments {where}"),
    ]


def activation_bytes_per_token(shape: ModelShape, compute_bytes: int) -> int:
    """What autograd keeps for one token of one decoder layer (RMSNorm's fp32 copies, the
    normalized inputs, q, k, v, SDPA's output and log-sum-exp, the MLP's gate, up, activation and
    product)."""
    h, b = shape.hidden, compute_bytes
    return 8 * h + b * (6 * h + 2 * shape.kv_dim + 4 * shape.intermediate) + 4 * shape.heads + 8


def activations(shape: ModelShape, work: Workload, compute_bytes: int) -> Term:
    """What the forward keeps for backward: every layer's saved tensors, or with gradient
    checkpointing only each layer's input (the layers are recomputed in backward: `recompute`)."""
    tokens = work.micro_batch * work.sequence_tokens
    final = (4 + 2 * compute_bytes) * shape.hidden * tokens  # the last norm and lm_head's input
    what = f"{work.micro_batch} x {work.sequence_tokens} tokens"
    if work.gradient_checkpointing:
        inputs = shape.layers * compute_bytes * shape.hidden * tokens
        return Term("activations", inputs + final, f"{what}, checkpointed layer inputs")
    layer = activation_bytes_per_token(shape, compute_bytes) * tokens
    return Term("activations", shape.layers * layer + final, f"{what}, {shape.layers} layers")


def recompute(shape: ModelShape, work: Workload, compute_bytes: int) -> float:
    """Gradient checkpointing's one layer, recomputed in backward (0 without checkpointing)."""
    if not work.gradient_checkpointing:
        return 0
    tokens = work.micro_batch * work.sequence_tokens
    return activation_bytes_per_token(shape, compute_bytes) * tokens


def tile(shape: ModelShape, work: Workload) -> tuple[int, int]:
    """(tokens, vocab) of one logits tile of a chunked loss: one micro-batch's logit tokens and the
    vocabulary, each capped at the loss's chunk size."""
    rows, cols = work.logit_tile or (work.micro_batch * work.logit_tokens, shape.vocab)
    return min(work.micro_batch * work.logit_tokens, rows), min(shape.vocab, cols)


def logits(shape: ModelShape, work: Workload) -> Term:
    if work.fused_logits:
        return Term("logits", 0, "fused kernel: never materialized")
    if work.logit_tile:  # backward also accumulates lm_head's and the hidden states' grads in fp32
        rows, cols = tile(shape, work)
        grads = 4 * shape.hidden * (shape.vocab + work.micro_batch * work.logit_tokens)
        note = f"chunked: {rows} x {cols} tiles x {work.logit_bytes:g} B + fp32 head/hidden grads"
        return Term("logits", rows * cols * work.logit_bytes + grads, note)
    elements = work.micro_batch * work.logit_tokens * shape.vocab
    note = f"{work.micro_batch} x {work.logit_tokens} tokens x {shape.vocab} vocab"
    return Term("logits", elements * work.logit_bytes, f"{note} x {work.logit_bytes:g} B")


def vllm_colocated(shape: ModelShape, work: Workload, gpu: GPU) -> tuple[list[Term], list[str]]:
    """The engine's share of the GPU, and whether its KV cache holds one rank's generations."""
    share = work.vllm_colocate_share
    if share is None:
        return [], []
    engine = share * gpu.memory_gib * GiB
    kv_room = engine - 2 * shape.params
    per_seq = shape.kv_cache_bytes_per_token() * work.sequence_tokens
    sequences = int(kv_room // per_seq) if kv_room > 0 else 0
    note = f"{share:g} x {gpu.memory_gib:.0f} GiB; KV cache holds {sequences} sequence(s)"
    notes = []
    if sequences < max(work.generation_sequences, 1):
        notes.append(
            f"note: vLLM's share leaves KV cache for {sequences} of the "
            f"{work.generation_sequences} sequences a rank generates at once"
        )
    if work.vllm_sleeps:
        return [Term("vLLM (asleep)", 0, note + ", freed while training")], notes
    return [Term("vLLM colocate", engine, note)], notes


def plan_training(shape: ModelShape, par: Parallel, work: Workload, gpu: GPU) -> Plan:
    terms = model_states(shape, par)
    terms.append(activations(shape, work, par.compute_bytes))
    head = logits(shape, work)
    terms.append(head)
    layer = recompute(shape, work, par.compute_bytes)
    if layer:  # backward frees the logits before it recomputes the layers: the larger counts
        beyond = max(layer - head.bytes, 0)
        terms.append(Term("1 layer recomputed", beyond, f"{gib(layer)}, less the logits freed"))
    if work.reference_model:
        n = par.processes if par.zero_stage == 3 else 1
        terms.append(Term("reference model", 2 * shape.params / n, "16-bit, beta > 0"))
    if work.teacher is not None:
        terms += teacher_terms(work.teacher, shape, par, work)
    engine, notes = vllm_colocated(shape, work, gpu)
    terms += engine
    terms.append(Term("CUDA context etc.", OVERHEAD_BYTES, "assumed"))
    return Plan(gpu, par, tuple(t for t in terms if t.bytes or t.note), tuple(notes))


def teacher_terms(
    teacher: Teacher, student: ModelShape, par: Parallel, work: Workload
) -> list[Term]:
    """The teacher's weights and its forward, per rank. TRL prepares it with `prepare_deepspeed`
    under DeepSpeed (ZeRO-3 shards it like the student, ZeRO-2 runs it as stage 0: whole; both cast
    it to 16-bit under bf16/fp16) and else with `prepare_model(evaluation_mode=True)`, which wraps
    nothing: FSDP and DDP hold it whole, as loaded. No gradients, no optimizer states."""
    s = teacher.shape
    if s is None:
        return [Term("teacher model", 0, f"not planned: {teacher.missing}")]
    p, n = s.params, par.processes
    deepspeed = bool(par.zero_stage) and not par.fsdp
    b = par.compute_bytes if deepspeed and par.compute_bytes < 4 else teacher.weight_bytes
    if deepspeed and par.zero_stage == 3:
        shard = 0 if par.offload_params else b * p / n
        note = f"{p / 1e9:.2f}B params x {b} B / {n} ranks (ZeRO-3) + largest layer gathered"
        weights = Term("teacher model", shard + b * s.largest_layer_params, note)
    else:
        weights = Term("teacher model", b * p, f"{p / 1e9:.2f}B params x {b} B, frozen, whole")
    # no grad: one layer's tensors at a time (freed as the next runs), then its last hidden states,
    # kept for the loss's backward, and its fp32 logits tile in the chunked loss
    tokens = work.micro_batch * work.sequence_tokens
    layer = activation_bytes_per_token(s, par.compute_bytes) * tokens
    hidden = work.micro_batch * work.logit_tokens * s.hidden * par.compute_bytes
    rows, cols = tile(student, work)
    head = rows * cols * 4 if work.logit_tile else rows * cols * par.compute_bytes
    note = f"no grad: 1 layer {gib(layer)}, last hidden states {gib(hidden)}, logits {gib(head)}"
    return [weights, Term("teacher forward", layer + hidden + head, note)]


def teacher_share(plan: Plan) -> float:
    """What the teacher's terms add to the plan (0 without a teacher)."""
    return sum(t.bytes for t in plan.terms if t.name.startswith("teacher"))


# ---- what would make it fit --------------------------------------------------------------------


@dataclass(frozen=True)
class Remedy:
    setting: str  # the overrides, as a user types them
    plan: Plan
    changes: int = 1


def remedies(
    shape: ModelShape,
    par: Parallel,
    work: Workload,
    gpu: GPU,
    lora_shape: Callable[[], ModelShape] | None = None,
) -> list[Remedy]:
    """The changes of settings (one, or two together) after which the plan fits, those that leave
    10% free first, single changes before pairs, the least memory first."""
    steps: list[tuple[str, Callable[[ModelShape, Parallel, Workload], tuple]]] = []
    if par.zero_stage < 3 and par.processes > 1:
        steps.append(("accelerate=zero3", lambda s, p, w: (s, replace(p, zero_stage=3), w)))
    if not work.gradient_checkpointing:
        steps.append(
            (
                "trainer.gradient_checkpointing=true",
                lambda s, p, w: (s, p, replace(w, gradient_checkpointing=True)),
            )
        )
    if not work.fused_logits and work.logit_tile is None:  # a chunked loss is Liger's already
        steps.append(
            ("trainer.use_liger_kernel=true", lambda s, p, w: (s, p, replace(w, fused_logits=True)))
        )
    smaller = work.micro_batch // 2
    while smaller >= 1 and work.micro_batch % smaller:
        smaller -= 1
    if smaller >= 1:
        more = work.accumulation * work.micro_batch // smaller
        steps.append(
            (
                f"trainer.per_device_train_batch_size={smaller} "
                f"trainer.gradient_accumulation_steps={more}",
                lambda s, p, w: (s, p, replace(w, micro_batch=smaller, accumulation=more)),
            )
        )
    if work.vllm_colocate_share is not None:
        steps.append(
            (
                "trainer.vllm_mode=server (a vLLM node of its own; slurm.nodes=2)",
                lambda s, p, w: (s, p, replace(w, vllm_colocate_share=None)),
            )
        )
    if lora_shape is not None and shape.trainable_params == shape.params:
        steps.append(
            (
                "model.use_peft=true (LoRA)",
                lambda s, p, w: (lora_shape(), p, replace(w, reference_model=False)),
            )
        )
    tried = []
    for size in (1, 2):
        for combo in itertools.combinations(steps, size):
            state = (shape, par, work)
            for _, change in combo:
                state = change(*state)
            names = " ".join(name for name, _ in combo)
            tried.append(Remedy(names, plan_training(*state, gpu), size))
    fitting = [r for r in tried if r.plan.fits]
    roomy = [r for r in fitting if r.plan.fraction <= WARN_FRACTION]
    # single changes before pairs; among those, the least memory first
    return sorted(roomy or fitting, key=lambda r: (r.changes, r.plan.total))


# ---- time per step -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StepEstimate:
    trained_tokens: int
    generated_tokens: int
    flops: float
    seconds: float | None
    gpu_hours: float | None  # for max_steps on the training GPUs
    assumptions: tuple[str, ...] = field(default=())

    def lines(self, steps: int | None) -> list[str]:
        gen = f", {self.generated_tokens / 1e6:.2f}M generated" if self.generated_tokens else ""
        out = [
            f"step: {self.trained_tokens / 1e6:.2f}M trained tokens{gen}; "
            f"{self.flops:.2e} FLOP (6 x params x trained + 2 x params x generated, + recompute "
            "and no-grad forwards)"
        ]
        if self.seconds is not None:
            total = (
                f"; {steps:,} steps: {self.seconds * steps / 3600:,.1f} h, "
                f"{self.gpu_hours:,.0f} GPU-hours"
                if steps and self.gpu_hours is not None
                else ""
            )
            out.append(f"time: ~{self.seconds:,.1f} s/step{total}")
        out += [f"assumed: {a}" for a in self.assumptions]
        return out


def step_estimate(
    shape: ModelShape, par: Parallel, work: Workload, gpu: GPU, mfu: float = DEFAULT_MFU
) -> StepEstimate:
    """FLOPs of one optimizer step, and its time at `mfu` of the GPUs' dense bf16 peak."""
    sequences = work.sequences_per_step(par.processes)
    trained = sequences * work.sequence_tokens
    generated = sequences * work.generated_tokens
    forwards = work.extra_forwards + (1 if work.gradient_checkpointing else 0)
    p = shape.params
    flops = 6.0 * p * trained + 2.0 * p * generated + 2.0 * p * trained * forwards
    if work.teacher is not None and work.teacher.shape is not None:  # its forward on every token
        flops += 2.0 * work.teacher.shape.params * trained
    assumed = [
        f"{mfu:.0%} model FLOPs utilization on every GPU, generation included "
        "(decoding is often slower); attention FLOPs left out",
        *work.assumptions,
    ]
    if gpu.bf16_tflops is None:
        return StepEstimate(trained, generated, flops, None, None, tuple(assumed))
    seconds = flops / (par.processes * gpu.bf16_tflops * 1e12 * mfu)
    hours = seconds * (work.max_steps or 0) * par.processes / 3600 if work.max_steps else None
    return StepEstimate(trained, generated, flops, seconds, hours, tuple(assumed))


# ---- an inference engine (generate, evaluate on vLLM) -------------------------------------------


def plan_engine(
    shape: ModelShape,
    gpu: GPU,
    tensor_parallel: int,
    utilization: float,
    max_model_len: int,
) -> tuple[Plan, int]:
    """One vLLM engine's memory per GPU, and how many max_model_len sequences its KV cache holds
    (vLLM refuses to start below one)."""
    engine = utilization * gpu.memory_gib * GiB
    weights = 2 * shape.params / tensor_parallel
    reserve = 1 * GiB  # vLLM's profiled activation peak and CUDA graphs (assumed)
    kv_room = max(engine - weights - reserve, 0)
    per_token = shape.kv_cache_bytes_per_token() / tensor_parallel
    tokens = int(kv_room // per_token)
    sequences = tokens // max_model_len
    terms = (
        Term("weights", weights, f"16-bit / tensor_parallel_size {tensor_parallel}"),
        Term("activations, graphs", reserve, "assumed"),
        Term(
            "KV cache", kv_room, f"{tokens:,} tokens = {sequences} x max_model_len {max_model_len}"
        ),
    )
    note = f"vLLM takes gpu_memory_utilization {utilization:g} of each GPU"
    return Plan(gpu, Parallel(tensor_parallel), terms, (note,)), sequences
