"""On-policy distillation (`kind: distill_online`, TRL's DistillationTrainer): the student moves
toward the teacher, alone, under DeepSpeed ZeRO-2 and ZeRO-3 on 2 CPU ranks, with LoRA, and as a
pipeline stage whose teacher an earlier stage makes; a teacher that does not share the student's
vocabulary is refused before either model loads."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from r1lab.checks.run import check
from r1lab.recipe import compose

from conftest import REPO, assert_full_model, launch_two_ranks, run_r1lab


def errors(name: str, *overrides: str) -> str:
    return "\n".join(check(compose(name, list(overrides))).errors)


def held_out(n: int = 32) -> tuple[list[str], list[str]]:
    """Test-split arithmetic prompts (r1_zero template, as the recipe formats them) and their
    worked traces: text neither model trained on."""
    from r1lab.data import DataConfig, load_raw
    from r1lab.prompts import format_prompt

    recipe = compose("distill_online/tiny", [f"data.test_size={n}"])
    cfg = DataConfig.from_recipe(recipe.data)
    rows = load_raw(cfg, "test")
    return [format_prompt(q, cfg.template) for q in rows["question"]], list(rows["reasoning"])


def kl_to_teacher(student: Path, teacher: Path) -> tuple[float, float]:
    """Mean per-token KL(student || teacher) (reverse, what beta=1 trains) and KL(teacher ||
    student), over the trace tokens of held-out prompt + trace sequences, from both models' logits."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(teacher)
    s = AutoModelForCausalLM.from_pretrained(student).eval()
    t = AutoModelForCausalLM.from_pretrained(teacher).eval()
    reverse = forward = tokens = 0.0
    with torch.no_grad():
        for prompt, trace in zip(*held_out(), strict=True):
            p = tok(prompt, add_special_tokens=False)["input_ids"]
            c = tok(" " + trace, add_special_tokens=False)["input_ids"]
            ids = torch.tensor([p + c])
            # the logits at positions len(p)-1 .. end-1 predict the trace's tokens
            ls = torch.log_softmax(s(ids).logits[0, len(p) - 1 : -1].float(), -1)
            lt = torch.log_softmax(t(ids).logits[0, len(p) - 1 : -1].float(), -1)
            reverse += (ls.exp() * (ls - lt)).sum().item()
            forward += (lt.exp() * (lt - ls)).sum().item()
            tokens += len(c)
    return reverse / tokens, forward / tokens


@pytest.mark.slow
def test_the_student_moves_toward_the_teacher(tiny_model, base_model, tmp_path):
    """Student: the random-init tiny model; teacher: the tiny base (the same model after a short
    SFT, so the same tokenizer). Eight on-policy steps through `r1lab distill_online` bring the
    student's distribution on held-out problems toward the teacher's."""
    out = tmp_path / "student"
    proc = run_r1lab(
        "distill_online",
        "distill_online/tiny",
        f"model.model_name_or_path={tiny_model}",
        f"trainer.teacher_model_name_or_path={base_model}",
        f"trainer.output_dir={out}",
        "trainer.max_steps=8",
        "trainer.per_device_train_batch_size=16",
        "trainer.learning_rate=1e-3",
        "trainer.warmup_steps=0",
        "trainer.save_strategy=no",
        "data.train_size=200",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((out / "run_info.json").read_text())["global_step"] == 8
    before = kl_to_teacher(tiny_model, base_model)
    after = kl_to_teacher(out, base_model)
    # measured: reverse KL 2.16 -> 1.47 nats/token, forward 3.24 -> 1.72
    assert after[0] < 0.8 * before[0], (before, after)
    assert after[1] < before[1], (before, after)
    # lineage names what taught the student: the teacher, an r1lab output, with its own lineage
    made = json.loads((out / "lineage.json").read_text())
    teacher = made["inputs"]["teacher"]
    assert teacher["ref"] == str(base_model) and teacher["path"] == str(base_model.resolve())
    assert teacher["lineage"]["kind"] == "sft" and teacher["lineage"]["recipe"] == "base/tiny"
    shown = run_r1lab("show", str(out))
    assert shown.returncode == 0, shown.stderr[-3000:]
    assert f"  teacher: {base_model}, made by" in shown.stdout
    assert "made by: sft base/tiny" in shown.stdout


def renamed_token_teacher(source: Path, target: Path, old: str, new: str) -> Path:
    """A copy of `source` whose tokenizer calls one token differently (same size, same ids
    otherwise) and whose weights are not a model at all: loading it would fail loudly."""
    shutil.copytree(source, target)
    path = target / "tokenizer.json"
    data = json.loads(path.read_text())
    for token in data["added_tokens"]:
        if token["content"] == old:
            token["content"] = new
    assert new in json.dumps(data["added_tokens"]), f"{old} is not an added token of {source}"
    path.write_text(json.dumps(data))
    (target / "model.safetensors").write_bytes(b"not weights")
    return target


def test_a_teacher_with_another_tokenizer_is_refused_before_any_model_loads(tiny_model, tmp_path):
    """The run stops at its checks: exit 2, the ids that differ and what to do, and no output dir.
    Neither model's weights can load (both are garbage), so nothing was loaded before it."""
    teacher = renamed_token_teacher(tiny_model, tmp_path / "teacher", "<answer>", "<reply>")
    student = tmp_path / "student"
    shutil.copytree(tiny_model, student)
    (student / "model.safetensors").write_bytes(b"not weights")
    out = tmp_path / "out"
    proc = run_r1lab(
        "distill_online",
        "distill_online/tiny",
        f"model.model_name_or_path={student}",
        f"trainer.teacher_model_name_or_path={teacher}",
        f"trainer.output_dir={out}",
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "trainer.teacher_model_name_or_path: the teacher's tokenizer" in proc.stderr
    assert "1 of " in proc.stderr and "'<answer>' (student) vs '<reply>' (teacher)" in proc.stderr
    assert "its own family" in proc.stderr and "kind: generate" in proc.stderr
    assert not out.exists()


def test_a_teacher_with_the_students_tokenizer_passes(tiny_model, r1lab_cache):
    """The tiny-wide model: twice the student's width, its tokenizer; and the tiny model itself."""
    from r1lab import tiny

    wide = tiny.ensure(shape="tiny-wide")
    for teacher in (wide, tiny_model):
        report = check(
            compose(
                "distill_online/tiny",
                [
                    f"model.model_name_or_path={tiny_model}",
                    f"trainer.teacher_model_name_or_path={teacher}",
                ],
            )
        )
        assert report.errors == []
        assert any(f"teacher {teacher}: the student's tokenizer" in m for m in report.passed)


def test_a_teacher_of_another_vocab_size_is_refused_offline():
    """DeepSeek-R1-Distill-Qwen-7B into Qwen2.5-Math-1.5B: 152,064 against 151,936 ids, read from
    the shipped config.json files, where TRL would refuse it after loading both models."""
    msg = errors(
        "distill_online/qwen2.5-math-1.5b",
        "trainer.teacher_model_name_or_path=deepseek-ai/DeepSeek-R1-Distill-Qwen-7B",
    )
    assert "has vocab_size 152,064 and the student Qwen/Qwen2.5-Math-1.5B 151,936" in msg
    assert "distill off-policy" in msg


def test_a_recipe_without_a_teacher_is_refused():
    assert "trainer.teacher_model_name_or_path is required" in errors(
        "distill_online/tiny", "trainer.teacher_model_name_or_path=null"
    )


def test_the_tiny_recipe_passes_check(tiny_model, r1lab_cache):
    from r1lab import tiny

    ok = run_r1lab(
        "check",
        "distill_online/tiny",
        f"model.model_name_or_path={tiny_model}",
        f"trainer.teacher_model_name_or_path={tiny.ensure(shape='tiny-wide')}",
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "teacher " in ok.stdout and "lengths fit the model's context" in ok.stdout
    missing = errors(
        "distill_online/tiny",
        f"model.model_name_or_path={tiny_model}",
        "trainer.teacher_model_name_or_path=runs/nowhere/teacher",
    )
    assert "trainer.teacher_model_name_or_path: no model at 'runs/nowhere/teacher'" in missing


def test_the_full_scale_recipe_passes_check_offline():
    ok = run_r1lab("check", "distill_online/qwen2.5-math-1.5b")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "trainer: TRL accepts the configuration" in ok.stdout
    assert "teacher" in ok.stdout  # compared, or skipped with why (the tokenizers not here)


# ---- at scale: ZeRO-2/3 on 2 CPU ranks, LoRA, a pipeline stage ----------------------------------


@pytest.fixture(scope="module")
def student(tiny_model, tmp_path_factory) -> Path:
    """A student that is an SFT output, as in the tiny world, but far from the teacher (the
    `base_model` fixture, 30 SFT steps): the tiny model after 4 SFT steps."""
    out = tmp_path_factory.mktemp("student") / "model"
    proc = run_r1lab(
        "sft",
        "base/tiny",
        "trainer.max_steps=4",
        "trainer.save_strategy=no",
        "data.train_size=100",
        f"trainer.output_dir={out}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


# a few on-policy steps: 8 completions of at most 24 tokens per rank and step
SHORT = (
    "trainer.per_device_train_batch_size=8",
    "trainer.max_completion_length=24",
    "trainer.learning_rate=1e-3",
    "trainer.warmup_steps=0",
    "data.train_size=64",
)


def assert_teacher_in_lineage(out: Path, student: Path, teacher: Path) -> dict:
    made = json.loads((out / "lineage.json").read_text())
    assert made["kind"] == "distill_online"
    assert made["inputs"]["model"]["ref"] == str(student)
    named = made["inputs"]["teacher"]
    assert named["ref"] == str(teacher) and named["path"] == str(teacher.resolve())
    assert named["lineage"]["kind"] == "sft"  # the teacher's own lineage, nested
    return made


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["zero2", "zero3"])
def test_distill_online_on_two_cpu_ranks(stage, deepspeed_installed, student, base_model, tmp_path):
    """`accelerate launch` with zero2/zero3: the teacher is prepared by DeepSpeed too (sharded
    under ZeRO-3), every rank's share of the student is saved as one full model, the student
    moved toward the teacher (so the teacher's real weights took part, not empty partitions), and
    lineage names the teacher."""
    out = tmp_path / "distilled"
    launch_two_ranks(
        stage,
        "distill_online",
        "distill_online/tiny",
        f"model.model_name_or_path={student}",
        f"trainer.teacher_model_name_or_path={base_model}",
        "trainer.max_steps=4",
        *SHORT,
        f"trainer.output_dir={out}",
    )
    model, start = assert_full_model(out, student, steps=4)
    moved = [k for k, v in model.state_dict().items() if not v.equal(start.state_dict()[k])]
    assert len(moved) > len(model.state_dict()) // 2  # trained, and every rank's share saved
    before, after = kl_to_teacher(student, base_model), kl_to_teacher(out, base_model)
    # measured: reverse KL 2.04 -> 1.70 nats/token, the same to 1e-7 under zero2 and zero3
    assert after[0] < 0.9 * before[0], (before, after)
    assert_teacher_in_lineage(out, student, base_model)


@pytest.mark.slow
@pytest.mark.parametrize("where", ["one-process", "zero3"])
def test_lora_distill_online_saves_the_adapter_and_a_merged_student(
    where, student, base_model, tmp_path, request
):
    """model.use_peft=true, in one process and under ZeRO-3 on 2 CPU ranks (TRL's PEFT + ZeRO-3
    path; the adapter gathered across ranks): only the adapter trains; the output is the student
    with it merged (lora.save=merged, the default) and the adapter beside it, and the merged
    model is exactly the student plus that adapter."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = tmp_path / "lora"
    overrides = (
        f"model.model_name_or_path={student}",
        f"trainer.teacher_model_name_or_path={base_model}",
        "model.use_peft=true",
        "model.lora_r=8",
        "model.lora_alpha=16",
        "model.lora_target_modules=[q_proj,v_proj]",
        "trainer.max_steps=3",
        *SHORT,
        f"trainer.output_dir={out}",
    )
    if where == "zero3":
        request.getfixturevalue("deepspeed_installed")
        launch_two_ranks("zero3", "distill_online", "distill_online/tiny", *overrides)
    else:
        proc = run_r1lab(
            "distill_online", "distill_online/tiny", "trainer.save_strategy=no", *overrides
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
    info = json.loads((out / "run_info.json").read_text())
    assert info["global_step"] == 3 and info["world_size"] == (2 if where == "zero3" else 1)
    weights = out / "adapter" / "adapter_model.safetensors"
    assert weights.stat().st_size > 10_000  # LoRA A/B, not empty ZeRO-3 partitions
    adapter = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert adapter["r"] == 8 and set(adapter["target_modules"]) == {"q_proj", "v_proj"}
    assert adapter["base_model_name_or_path"] == str(student)
    assert not (out / "adapter_config.json").exists()  # the output itself is a plain model
    start = AutoModelForCausalLM.from_pretrained(student)
    merged = AutoModelForCausalLM.from_pretrained(out)
    changed = {
        k.split(".")[-2]
        for k, v in merged.state_dict().items()
        if not v.equal(start.state_dict()[k])
    }
    assert changed == {"q_proj", "v_proj"}  # it learned, and only LoRA's targets moved
    on_start = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(student), out / "adapter"
    )
    import torch

    ids = torch.tensor([[5, 6, 7, 8, 9]])
    with torch.no_grad():
        assert merged(ids).logits.allclose(on_start(ids).logits, atol=1e-4)
    assert_teacher_in_lineage(out, student, base_model)


# Two stages: an SFT that makes the teacher, then on-policy distillation of the random-init tiny
# model from it (the teacher is the earlier stage's output, as the student usually is).
DISTILL_PIPELINE = """\
# @package _global_
kind: pipeline
stages:
  teacher:
    recipe: base/tiny
    overrides:
      model.model_name_or_path: {tiny}
      trainer.max_steps: 20
      trainer.save_strategy: "no"
      data.train_size: 300
  distill:
    recipe: distill_online/tiny
    overrides:
      model.model_name_or_path: {tiny}
      trainer.teacher_model_name_or_path: ${{stages.teacher.output}}
      trainer.max_steps: 2
      trainer.save_strategy: "no"
      trainer.per_device_train_batch_size: 8
      trainer.max_completion_length: 24
      data.train_size: 64
"""


@pytest.fixture(scope="module")
def pipeline_tree(tiny_model, tmp_path_factory) -> dict[str, str]:
    """The project's recipes plus `pipeline_test/distill` (DISTILL_PIPELINE) and
    `pipeline_test/distill_first` (its stages in the wrong order); the env that selects them."""
    tree = tmp_path_factory.mktemp("tree") / "recipes"
    shutil.copytree(REPO / "recipes", tree)
    (tree / "pipeline_test").mkdir()
    text = DISTILL_PIPELINE.format(tiny=tiny_model)
    (tree / "pipeline_test" / "distill.yaml").write_text(text)
    head, teacher_stage, distill_stage = re.split(r"(?m)^(?=  \w+:$)", text)
    (tree / "pipeline_test" / "distill_first.yaml").write_text(head + distill_stage + teacher_stage)
    return {"R1LAB_RECIPES": str(tree)}


@pytest.mark.slow
def test_a_pipeline_stage_distills_from_the_teacher_an_earlier_stage_made(
    pipeline_tree, tiny_model, tmp_path, monkeypatch
):
    """`r1lab pipeline`: the distill_online stage runs on the teacher the SFT stage made, its
    lineage names the pipeline, the stage and that teacher (with the teacher stage's lineage); a
    rerun skips both stages; and a teacher stage about to be made anew remakes the stage that
    learned from it, as a changed model stage would."""
    out = tmp_path / "p"
    args = ("pipeline", "pipeline_test/distill", f"trainer.output_dir={out}")
    first = run_r1lab(*args, env=pipeline_tree)
    assert first.returncode == 0, (first.stdout + first.stderr)[-4000:]
    distilled, teacher = out / "distill", out / "teacher"
    assert json.loads((distilled / "run_info.json").read_text())["global_step"] == 2
    made = assert_teacher_in_lineage(distilled, tiny_model, teacher)
    assert (made["pipeline"], made["stage"]) == ("pipeline_test/distill", "distill")
    assert made["inputs"]["teacher"]["lineage"]["stage"] == "teacher"
    assert made["inputs"]["teacher"]["lineage"]["pipeline"] == "pipeline_test/distill"
    weights = (distilled / "model.safetensors").stat().st_mtime_ns

    again = run_r1lab(*args, env=pipeline_tree)
    assert again.returncode == 0, (again.stdout + again.stderr)[-4000:]
    assert re.search(
        r"\[2/2\] distill \(distill_online/tiny\): finished earlier in .*; skipped", again.stdout
    ), again.stdout
    assert again.stdout.count("; skipped") == 2
    assert (distilled / "model.safetensors").stat().st_mtime_ns == weights

    # the teacher stage changed: it is made anew, and so is the student it taught
    from r1lab.kinds.pipeline import stages_of, to_make

    monkeypatch.setenv("R1LAB_RECIPES", pipeline_tree["R1LAB_RECIPES"])
    changed = compose(
        "pipeline_test/distill",
        [f"trainer.output_dir={out}", "stages.teacher.overrides.trainer.max_steps=21"],
    )
    assert to_make(stages_of(changed)) == {"teacher": [], "distill": ["teacher"]}


def test_a_stage_whose_teacher_a_later_stage_makes_is_refused(pipeline_tree, tmp_path):
    """The teacher stage after the stage that reads it: `r1lab check` names both and the fix."""
    proc = run_r1lab(
        "check", "pipeline_test/distill_first", f"trainer.output_dir={tmp_path}", env=pipeline_tree
    )
    text = proc.stdout + proc.stderr
    assert proc.returncode == 2, text
    assert f"stage 'distill' reads {tmp_path}/teacher, which stage 'teacher' makes after it" in text
    assert "move 'teacher' before 'distill'" in text
