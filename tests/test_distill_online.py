"""On-policy distillation (`kind: distill_online`, TRL's DistillationTrainer): the student moves
toward the teacher, and a teacher that does not share the student's vocabulary is refused before
either model loads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from r1lab.checks.run import check
from r1lab.recipe import compose

from conftest import run_r1lab


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
