"""The `distill_online` kind: on-policy distillation with TRL's DistillationTrainer.

The student samples a completion for each of the recipe's prompts, and is trained on every token of
it toward the teacher's next-token distribution there (On-Policy Distillation of Language Models,
Agarwal et al. 2024): the divergence is TRL's generalized JSD, `trainer.beta` 0 forward KL, 0.5
JSD, 1 reverse KL (TRL's default). The teacher is TRL's own `trainer.teacher_model_name_or_path`
(with `teacher_model_revision` and `teacher_model_init_kwargs`); it must share the student's
vocabulary, which `check_teacher` makes sure of before any model loads.

TRL's DistillationTrainer rather than `trl.experimental.gkd.GKDTrainer`: it is TRL's stable API,
generates on vLLM as well as transformers, and its loss is chunked (neither model's full logits
are ever materialized, which a 152k vocabulary needs at scale). GKD's extra is `lmbda`, a share
of off-policy steps on the dataset's own completions (and `seq_kd`, the teacher's): that is what
r1lab's `generate` + `sft` kinds already do as separate stages (distill/tiny, distill/math), and
TRL itself points `lmbda=1` GKD users to DistillationTrainer.

Run: `r1lab distill_online <recipe> [key=value ...]` or
`accelerate launch ... -m r1lab.kinds.distill_online <recipe> ...`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from r1lab import lora, model_shape, run_dir
from r1lab.checks.context import Context, local_model_folder
from r1lab.checks.findings import Findings, ok, skipped
from r1lab.checks.lengths import completion_fits
from r1lab.checks.memory import check_memory_plan
from r1lab.checks.trainer import unknown_trainer_keys
from r1lab.errors import RecipeError, exit_on_error
from r1lab.kind import Kind
from r1lab.kinds.grpo import uses_vllm_server
from r1lab.recipe import Recipe
from r1lab.train import Run, trainer_kwargs
from r1lab.train import run as run_trainer

TEACHER = "trainer.teacher_model_name_or_path"
# what to do instead when the teacher cannot share the student's vocabulary
OFF_POLICY = (
    "or distill off-policy, which needs no shared vocabulary: sample the teacher with a `kind: "
    "generate` recipe and SFT the student on its verified traces (distill/tiny and "
    "distill/tiny_student; distill/math at scale)"
)


def build_trainer(run: Run):
    from trl import DistillationTrainer

    args = run.args
    # The teacher loads as the student does (dtype, attention), as TRL's own distillation script
    # loads it; left unset, TRL would load it in float32. trainer.teacher_model_init_kwargs wins.
    student = {
        key: value
        for key in ("dtype", "attn_implementation")
        if (value := (args.model_init_kwargs or {}).get(key)) is not None
    }
    args.teacher_model_init_kwargs = {**student, **(args.teacher_model_init_kwargs or {})}
    # an adapter-only LoRA output of an earlier stage: its merged copy, as for the student
    teacher = lora.resolve(str(args.teacher_model_name_or_path))
    return DistillationTrainer(teacher_model=teacher, **trainer_kwargs(run))


def _config_class() -> type:
    from trl import DistillationConfig

    return DistillationConfig


def main(argv: list[str]) -> int:
    return run_trainer(KIND, build_trainer, argv)


# ---- checks ------------------------------------------------------------------------------------


def _config_path(ref: str, folder: Path | None) -> Path | None:
    """Where a model's config.json is: its folder (local or the Hub cache), else the repo's shipped
    copy; None when neither has one."""
    path = folder / "config.json" if folder else model_shape.shipped_config(ref)
    return path if path is not None and path.is_file() else None


def _config(ref: str, folder: Path | None) -> dict[str, Any] | None:
    """A model's config.json (`_config_path`), its text side merged in."""
    path = _config_path(ref, folder)
    if path is None:
        return None
    raw = json.loads(path.read_text())
    return {**raw, **(raw.get("text_config") or {})}  # a multimodal model's text side


def _tokenizer_folder(ref: str, folder: Path | None) -> Path | None:
    """Where the model's tokenizer files are: the model's own folder (a LoRA adapter's too), or
    the folder of its config; None when neither holds one (a Hub id not cached here)."""
    for where in (Path(ref).expanduser(), folder):
        if where and any(
            (where / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json")
        ):
            return where
    return None


def _vocabulary(folder: Path) -> dict[int, str]:
    """id -> token of the tokenizer saved in `folder` (added and special tokens included)."""
    from transformers import AutoTokenizer

    vocab = AutoTokenizer.from_pretrained(str(folder)).get_vocab()
    return {index: token for token, index in vocab.items()}


def vocabulary_differences(student: dict[int, str], teacher: dict[int, str]) -> list[str]:
    """`id N: 'a' (student) vs 'b' (teacher)` for every id the two tokenizers map differently."""
    return [
        f"id {i}: {student.get(i, '(none)')!r} (student) vs {teacher.get(i, '(none)')!r} (teacher)"
        for i in sorted(set(student) | set(teacher))
        if student.get(i) != teacher.get(i)
    ]


def check_teacher(ctx: Context) -> Findings:
    """The teacher is named, is there, and shares the student's vocabulary, before either loads.

    TRL's DistillationTrainer refuses a teacher whose vocab_size differs from the student's only
    once both models are loaded, and never compares tokenizers: it tokenizes the prompts and the
    student's completions with the student's tokenizer and hands the same ids to the teacher. So a
    teacher with a tokenizer of its own would score other tokens than the student wrote."""
    ref = ctx.recipe.trainer.get("teacher_model_name_or_path")
    if not ref:
        raise RecipeError(
            f"{TEACHER} is required: the teacher's Hub id or local folder (the tiny world's: "
            "runs/r1_zero/tiny)"
        )
    teacher, student = str(ref), str(ctx.recipe.model["model_name_or_path"])
    if ctx.made_by_earlier_stage(teacher) or ctx.model_pending:
        yield skipped(
            f"teacher: '{teacher}' or the student is made by an earlier stage; its vocabulary is "
            "checked when that stage has run"
        )
        return
    teacher_folder = local_model_folder(teacher, TEACHER)
    student_folder = ctx.model_folder
    sizes = (
        (_config(student, student_folder) or {}).get("vocab_size"),
        (_config(teacher, teacher_folder) or {}).get("vocab_size"),
    )
    if None not in sizes and sizes[0] != sizes[1]:
        raise RecipeError(
            f"{TEACHER}: the teacher {teacher} has vocab_size {sizes[1]:,} and the student "
            f"{student} {sizes[0]:,}. Distillation compares the two models' next-token "
            "distributions id by id, and TRL's DistillationTrainer refuses models whose "
            "vocab_size differs, even by padding rows alone (it would do so only after loading "
            "both). Choose a teacher of the student's family with its vocab_size, "
            f"{OFF_POLICY}"
        )
    folders = _tokenizer_folder(student, student_folder), _tokenizer_folder(teacher, teacher_folder)
    if None in folders:
        missing = " and ".join(
            name for name, folder in zip((student, teacher), folders, strict=True) if not folder
        )
        known = f"vocab_size {sizes[0]:,} on both sides; " if None not in sizes else ""
        yield skipped(
            f"teacher tokenizer: {known}no tokenizer files for {missing} here (a Hub id not in "
            "the cache), so the vocabularies are not compared, and TRL compares none. To have them "
            "compared, fetch them first: `hf download <id> config.json tokenizer.json "
            "tokenizer_config.json` for each"
        )
        return
    student_vocab, teacher_vocab = _vocabulary(folders[0]), _vocabulary(folders[1])
    differ = vocabulary_differences(student_vocab, teacher_vocab)
    if differ:
        raise RecipeError(
            f"{TEACHER}: the teacher's tokenizer ({folders[1]}) is not the student's "
            f"({folders[0]}): {len(differ):,} of {max(len(student_vocab), len(teacher_vocab)):,} "
            f"token ids differ ({'; '.join(differ[:3])}). TRL tokenizes the prompts and the "
            "student's completions with the student's tokenizer and gives the teacher the same "
            "ids, so the teacher would read other tokens than the student wrote. Choose a teacher "
            f"trained with the student's tokenizer (its own family), {OFF_POLICY}"
        )
    yield ok(f"teacher {teacher}: the student's tokenizer ({len(student_vocab):,} tokens)")


def check_lengths(ctx: Context) -> Findings:
    """The longest prompt plus `max_completion_length` within the student's context and the
    teacher's (the teacher reads the same sequences)."""
    if not ctx.lengths_checkable or unknown_trainer_keys(ctx):
        return
    teacher = str(ctx.recipe.trainer.get("teacher_model_name_or_path") or "")
    limit = None
    if teacher and not ctx.made_by_earlier_stage(teacher):
        folder = local_model_folder(teacher, TEACHER)
        limit = (_config(teacher, folder) or {}).get("max_position_embeddings")
    tokens = ctx.trl_config.max_completion_length
    if tokens is None:  # TRL generates up to the model's own limit
        return
    yield completion_fits(ctx, "trainer.max_completion_length", int(tokens), limit)


# ---- the memory plan and lineage ---------------------------------------------------------------


def teacher_models(recipe: Recipe) -> dict[str, tuple[str, str | None]]:
    """The teacher as a model the run reads besides its own (lineage records it as an input)."""
    ref = recipe.trainer.get("teacher_model_name_or_path")
    revision = recipe.trainer.get("teacher_model_revision")
    return {"teacher": (str(ref), str(revision) if revision else None)} if ref else {}


def teacher_for_plan(recipe: Recipe, config: Any) -> Any:
    """The teacher as the memory plan counts it: its shape from its config.json, found as
    `check_teacher` finds it, and its dtype as `build_trainer` loads it
    (trainer.teacher_model_init_kwargs, else the student's model.dtype; "auto": its config's)."""
    from r1lab import memory_plan

    ref = str(recipe.trainer.get("teacher_model_name_or_path") or "")
    shape, missing = None, ""
    try:
        path = _config_path(ref, local_model_folder(ref, TEACHER))
    except RecipeError:  # check_teacher says what is missing; an earlier stage's output, not yet
        path, missing = None, f"no model at '{ref}' yet (an earlier stage's output?)"
    if path is not None:
        try:
            shape = model_shape.load(path.parent, ref)
        except (ValueError, KeyError, OSError, ImportError) as err:
            missing = f"transformers cannot build '{ref}' from its config ({err})"
    elif not missing:
        missing = (
            f"no config.json for '{ref}' here; copy the Hub's to "
            f"{model_shape.configs_dir()}/{ref}/config.json to plan it offline"
        )
    kwargs = config.teacher_model_init_kwargs or {}
    dtype = str(kwargs.get("dtype") or recipe.model.get("dtype") or "auto")
    own = shape.dtype if shape else "bfloat16"
    weight = model_shape.DTYPE_BYTES.get(own if dtype == "auto" else dtype, 4)
    return memory_plan.Teacher(ref, shape, weight, missing)


def workload(recipe: Recipe, config: Any, compute_bytes: int, prompt_tokens: int | None) -> Any:
    """One DistillationTrainer step for the memory plan (r1lab.memory_plan), as TRL 1.16 runs it:
    - each rank generates once per optimizer step, for per_device_train_batch_size x
      gradient_accumulation_steps prompts (`_prepare_inputs`), on colocated vLLM (its share of the
      GPU) or on transformers (before the forward; its KV cache is not counted);
    - each micro-batch runs the student's backbone with grad and the teacher's without, both on
      prompt + completion tokens, keeping the last hidden states of the completion tokens only
      (`_get_last_hidden_state`, logits_to_keep);
    - the loss is chunked (`ChunkedDivergenceFunction`): both lm_heads project tiles of at most
      TOKEN_CHUNK_SIZE tokens x VOCAB_CHUNK_SIZE vocabulary into one float32 buffer each, reused
      tile after tile, forward and backward. So the logits never exist as batch x tokens x vocab:
      their memory is two float32 tiles (the student's here, the teacher's in its own term), the
      student tile's gradient copy in its dtype, and backward's float32 accumulators for the
      student's lm_head gradient and hidden states. Liger's kernels are not used by this trainer.
    """
    from trl.kernels.chunked_divergence import TOKEN_CHUNK_SIZE, VOCAB_CHUNK_SIZE

    from r1lab import memory_plan

    teacher = teacher_for_plan(recipe, config)
    prompt = prompt_tokens or memory_plan.DEFAULT_PROMPT_TOKENS
    assumed = []
    if config.max_completion_length is None:  # TRL generates up to the model's own limit
        context = (teacher.shape.context if teacher.shape else None) or 4096
        completion = max(int(context) - prompt, 1)
        assumed.append(f"max_completion_length unset: planned as {completion} (the context left)")
    else:
        completion = int(config.max_completion_length)
    accumulation = int(config.gradient_accumulation_steps)
    colocate = bool(config.use_vllm) and config.vllm_mode == "colocate"
    measured = "the longest of the first 256 rows" if prompt_tokens else "assumed, data not here"
    return memory_plan.Workload(
        micro_batch=int(config.per_device_train_batch_size),
        accumulation=accumulation,
        sequence_tokens=prompt + completion,
        logit_tokens=completion,
        logit_bytes=4 + compute_bytes,  # the student's float32 tile and its gradient's copy
        gradient_checkpointing=bool(config.gradient_checkpointing),
        generated_tokens=completion,
        vllm_colocate_share=float(config.vllm_gpu_memory_utilization) if colocate else None,
        vllm_sleeps=bool(config.vllm_enable_sleep_mode),
        generation_sequences=int(config.per_device_train_batch_size) * accumulation,
        logit_tile=(TOKEN_CHUNK_SIZE, VOCAB_CHUNK_SIZE),
        teacher=teacher,
        max_steps=int(config.max_steps) if config.max_steps > 0 else None,
        assumptions=(
            f"every completion at max_completion_length {completion} (an upper bound)",
            f"prompts of {prompt} tokens ({measured})",
            "the teacher's forward counted beside the student's activations (an upper bound)",
            *assumed,
        ),
    )


KIND = Kind(
    name="distill_online",
    help="run an on-policy distillation recipe (the student samples, the teacher grades every "
    "token) in this process",
    module="r1lab.kinds.distill_online",
    run=main,
    config_class=_config_class,
    finished=run_dir.finished_training,
    sections={"lora": lora.parse_section},
    checks=(check_teacher, check_lengths, check_memory_plan),
    vllm_server=uses_vllm_server,
    workload=workload,
    input_models=teacher_models,
)


if __name__ == "__main__":
    exit_on_error(lambda: main(sys.argv[1:]))
