"""The `pipeline` kind: stages, each an existing recipe with overrides, run in order as one chain.

    kind: pipeline
    stages:
      traces:                         # a stage: a recipe (sft, grpo, generate, evaluate) ...
        recipe: distill/tiny
        overrides: {model.model_name_or_path: runs/r1_zero/tiny}
      cold_start:
        recipe: distill/tiny_student  # ... whose inputs may be an earlier stage's output
        overrides: {data.source: "${stages.traces.output}/selected.parquet"}
      eval_cold_start:
        evaluate: cold_start          # that stage's model on its recipe's held-out split

Each stage writes into its `output` (default: <pipeline output dir>/<stage>, the pipeline's
output dir being runs/<pipeline recipe>), which later stages name as `${stages.<name>.output}`.

    r1lab pipeline <recipe> [k=v ...] [--fresh]    here: stage after stage
    make pipeline RECIPE=<recipe> [LOCAL=1]        on Slurm: one job per stage, chained afterok

`r1lab check <pipeline>` checks every stage before anything runs; an input that an earlier stage
makes is not there yet and is checked when that stage has run. Here, a stage whose output is
complete is skipped, one that was cut off resumes (each kind resumes its own output), a finished
stage that reads a stage being made anew is made anew too (its old output set aside as
`<output>.stale-<time>`), so is a stage whose own recipe or overrides were edited since its output
was made, and the first failure stops the chain with the stage's name and log.
On Slurm, a failed stage cancels the jobs after it (`--kill-on-invalid-dep=yes`); a preempted
one requeues and the chain waits.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import sys
import time
from pathlib import Path

from r1lab import lineage, run_dir, run_start
from r1lab.checks.context import Context
from r1lab.checks.findings import Findings, error, ok, warning
from r1lab.checks.run import check
from r1lab.errors import RecipeError, exit_on_error
from r1lab.kind import Kind
from r1lab.logged_run import run_logged, tail
from r1lab.paths import recipes_dir
from r1lab.recipe import Recipe, compose
from r1lab.run_facts import RunFacts
from r1lab.stages import Stage, complete, parse_stages

HELDOUT = "heldout.json"  # an `evaluate: <stage>` stage's metrics, in its output


def stages_of(recipe: Recipe) -> list[Stage]:
    return recipe.parsed["stages"]


def stage_recipe(stage: Stage, stages: list[Stage]) -> Recipe:
    """The composed recipe a stage runs (for a held-out evaluation: its own `recipe:` with its
    overrides, which set the evaluation protocol, else its target stage's)."""
    if stage.evaluate and not stage.recipe:
        return stage_recipe(next(s for s in stages if s.name == stage.evaluate), stages)
    try:
        return _compose(str(recipes_dir()), str(stage.recipe), (*stage.overrides, stage.output))
    except RecipeError as err:
        raise RecipeError(f"stage '{stage.name}': {err}") from None


@functools.lru_cache(maxsize=256)
def _compose(recipes: str, name: str, overrides_and_output: tuple[str, ...]) -> Recipe:
    """Each stage's recipe composed once per process (a pipeline asks for it when checking,
    deciding whether it finished and building its command); `recipes`: the tree it came from."""
    *overrides, output = overrides_and_output
    return compose(name, [*overrides, f"trainer.output_dir={output}"])


def finished(stage: Stage, stages: list[Stage]) -> bool:
    """The stage's output is complete for this very recipe: a rerun would do nothing."""
    if stage.evaluate:  # the evaluate kind's table is written last, after every benchmark's JSON
        return all((Path(stage.output) / f).exists() for f in (HELDOUT, "results.md"))
    from r1lab.kind import get_kind

    recipe = stage_recipe(stage, stages)
    return get_kind(recipe.kind).finished(recipe)


def sources(stage: Stage, stages: list[Stage]) -> list[Stage]:
    """The earlier stages whose output this stage reads: the model it starts from, samples or
    evaluates, the data it trains on, and any other model it reads (a teacher)."""
    if stage.evaluate:
        return [s for s in stages if s.name == stage.evaluate]
    return [s for s, _ in reading(stage_recipe(stage, stages), stages[: stages.index(stage)])]


def reading(recipe: Recipe, candidates: list[Stage]) -> list[tuple[Stage, str]]:
    """Each of `candidates` whose output holds the recipe's model, data source or another model
    its kind reads (`Kind.input_models`: distill_online's teacher), with that reference."""
    from r1lab.kind import get_kind

    refs = [str(recipe.model.get("model_name_or_path") or ""), str(recipe.data.get("source") or "")]
    refs += [ref for ref, _ in get_kind(recipe.kind).input_models(recipe).values()]
    found = []
    for stage in candidates:
        out = Path(stage.output).resolve()
        ref = next((r for r in refs if r and Path(r).resolve().is_relative_to(out)), None)
        if ref:
            found.append((stage, ref))
    return found


def to_make(stages: list[Stage]) -> dict[str, list[str]]:
    """The stages a run (re)makes: each unfinished one (-> []) and each finished stage that reads
    one of them, directly or through others (-> the names of those it reads): its output came
    from what is about to be made anew, so keeping it would pair a new model with numbers of the
    old one."""
    making: dict[str, list[str]] = {}
    for stage in stages:
        if not finished(stage, stages):
            making[stage.name] = []
        elif read := [s.name for s in sources(stage, stages) if s.name in making]:
            making[stage.name] = read
    return making


def edited(stage: Stage, stages: list[Stage]) -> list[str]:
    """How the run in a stage's output differs from the stage's recipe (`key: there -> here`),
    when its recipe or overrides were edited since: that run is set aside and the stage made
    anew, where the kind alone would refuse to mix the two. [] for an evaluation (remade with
    the model it evaluates) and for a difference the kind continues across (generate's select:)."""
    if stage.evaluate:
        return []
    from r1lab.kind import get_kind

    recipe = stage_recipe(stage, stages)
    return run_dir.other_run(recipe, get_kind(recipe.kind).rerun_may_change)


def set_aside(stage: Stage) -> Path:
    """Move a finished stage's output that is to be made anew to `<output>.stale-<time>` (kept,
    not deleted: it is the user's, and what it was made from is in its lineage.json)."""
    out = Path(stage.output)
    aside = out.with_name(f"{out.name}.stale-{time.strftime('%Y%m%d-%H%M%S')}")
    shutil.move(out, aside)
    return aside


def command(stage: Stage, stages: list[Stage]) -> list[str]:
    """The command that runs the stage here, as `make <kind> LOCAL=1` would (under accelerate when
    the recipe asks for several processes), or `r1lab evaluate` for a held-out evaluation."""
    from r1lab import accelerate_config
    from r1lab.kind import get_kind
    from r1lab.launch import local_command

    recipe = stage_recipe(stage, stages)
    if stage.evaluate:
        target = next(s for s in stages if s.name == stage.evaluate)
        out = str(Path(stage.output) / HELDOUT)
        return [
            *(sys.executable, "-m", "r1lab.cli", "evaluate", recipe.name, *recipe.overrides),
            *("--model", target.output, "--out", out),
        ]
    processes = accelerate_config.load(recipe.accelerate).num_processes
    return local_command(get_kind(recipe.kind), recipe, processes)


# ---- checks -------------------------------------------------------------------------------------


def check_stages(ctx: Context) -> Findings:
    """Every stage's own checks, in order, with what earlier stages make counted as there."""
    from r1lab.tiny import CACHED, cached_dir

    stages = stages_of(ctx.recipe)
    outputs: dict[str, str] = {}  # every earlier stage's output, to catch two stages sharing one
    # what the earlier stages will make (the tiny models are built first when missing); a
    # finished stage's output is there and is checked as any input is
    tiny_dirs = [cached_dir(shape) for shape in CACHED]
    pending = [str(d) for d in tiny_dirs if not (d / "config.json").exists()]
    for stage in stages:
        clash = next(
            (n for n, o in outputs.items() if Path(o).resolve() == Path(stage.output).resolve()),
            None,
        )
        if clash:
            yield error(
                f"stage '{stage.name}': output {stage.output} is also stage '{clash}''s; give "
                f"stages.{stage.name}.output another folder"
            )
        if stage.evaluate:
            outputs[stage.name] = stage.output
            pending.append(stage.output)
            yield ok(f"stage '{stage.name}': {stage.what}")
            continue
        try:
            recipe = stage_recipe(stage, stages)
            later = later_input(stage, recipe, stages)
            if later:
                yield error(later)
            report = check(recipe, made_earlier=tuple(pending))
            done = finished(stage, stages)
        except RecipeError as err:
            yield error(str(err))
            outputs[stage.name] = stage.output
            pending.append(stage.output)
            continue
        outputs[stage.name] = stage.output
        if not done:
            pending.append(stage.output)
        for message in report.errors:
            yield error(f"stage '{stage.name}' ({recipe.kind} {recipe.name}): {message}")
        for message in report.warnings:
            yield warning(f"stage '{stage.name}' ({recipe.kind} {recipe.name}): {message}")
        if not report.errors:
            yield ok(
                f"stage '{stage.name}': {recipe.kind} {recipe.name} ({len(report.passed)} checks "
                f"passed, {len(report.skipped)} skipped) -> {stage.output}"
            )


def later_input(stage: Stage, recipe: Recipe, stages: list[Stage]) -> str | None:
    """A message when the stage reads what a stage after it makes (the order is wrong)."""
    found = reading(recipe, stages[stages.index(stage) + 1 :])
    if not found:
        return None
    after, ref = found[0]
    return (
        f"stage '{stage.name}' reads {ref}, which stage '{after.name}' makes after it: "
        f"move '{after.name}' before '{stage.name}' in stages:"
    )


# ---- running ------------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[r1lab pipeline] {message}", flush=True)


def stage_env(recipe: Recipe, stage: Stage) -> dict[str, str]:
    return {
        **os.environ,
        lineage.PIPELINE_ENV: recipe.name,
        lineage.STAGE_ENV: stage.name,
        "LOCAL": "1",
    }


def build_tiny_model(stages: list[Stage]) -> None:
    """The tiny models (of each cached shape) that stages start from and that are not built yet
    (seconds, on a CPU)."""
    from r1lab import tiny

    for stage in stages:
        if stage.evaluate:
            continue
        model = str(stage_recipe(stage, stages).model.get("model_name_or_path", ""))
        shape = tiny.shape_at(model) if model else None
        if shape is not None and not (Path(model).expanduser() / "config.json").exists():
            built = tiny.ensure(shape=shape)
            log(f"building the {shape} model that stage '{stage.name}' starts from: {built}")


def run_here(recipe: Recipe) -> int:
    """Every stage in order, skipping finished ones; the first failure stops the chain."""
    stages = stages_of(recipe)
    build_tiny_model(stages)
    logs = Path(recipe.output_dir) / "logs"
    start = time.perf_counter()
    log(f"{recipe.name}: {len(stages)} stages: {' -> '.join(s.name for s in stages)}")
    making = to_make(stages)
    for i, stage in enumerate(stages, 1):
        title = f"[{i}/{len(stages)}] {stage.name} ({stage.what})"
        if stage.name not in making:
            log(f"{title}: finished earlier in {stage.output}; skipped")
            continue
        remake(stage, making[stage.name], stages)
        cmd = command(stage, stages)
        log(f"{title} -> {stage.output}\n$ {shlex.join(cmd)}")
        began = time.perf_counter()
        code = run_logged(cmd, logs / f"{stage.name}.log", stage_env(recipe, stage))
        if code != 0:
            rest = [s.name for s in stages[i:]]
            raise RecipeError(
                f"pipeline {recipe.name}: stage '{stage.name}' ({stage.what}) failed with exit "
                f"code {code}; log: {logs / f'{stage.name}.log'}\n--- its last lines:\n"
                f"{tail(logs / f'{stage.name}.log')}\n---\nNot run: {', '.join(rest) or 'nothing'}."
                " Fix the cause and rerun the same command: finished stages are skipped and this "
                "one resumes from its last checkpoint or shard"
            )
        log(f"{title}: done in {time.perf_counter() - began:.0f} s")
    log(f"{recipe.name}: all {len(stages)} stages done in {time.perf_counter() - start:.0f} s")
    trained = [s for s in stages if not s.evaluate]
    if trained:
        log(f"lineage of the last model: r1lab show {trained[-1].output}")
    return 0


def remake(stage: Stage, read: list[str], stages: list[Stage]) -> None:
    """A stage about to run: its earlier output set aside when it reads the stages `read`, which
    are being made anew, or when its own recipe was edited since; so the stage starts over
    instead of finding itself done or refusing the other run."""
    if read:
        aside = set_aside(stage)
        names = ", ".join(f"'{name}'" for name in read)
        log(f"{stage.name}: made from {names}, which is made anew; its output moved to {aside}")
    elif changed := edited(stage, stages):
        aside = set_aside(stage)
        log(
            f"{stage.name}: its recipe changed since its output was made "
            f"({run_dir.listed(changed, 3)}); that output moved to {aside}"
        )


def submit_chain(recipe: Recipe) -> list[tuple[str, int]]:
    """One Slurm job per unfinished stage, each after the one before (afterok): a failed stage
    cancels those after it, a requeued one holds them until it completes."""
    from r1lab import slurm

    stages = stages_of(recipe)
    build_tiny_model(stages)
    jobs: list[tuple[str, int]] = []
    making = to_make(stages)
    for stage in stages:
        if stage.name not in making:
            log(f"{stage.name}: finished earlier in {stage.output}; not submitted")
            continue
        remake(stage, making[stage.name], stages)
        after = (
            ["--dependency=afterok:" + str(jobs[-1][1]), "--kill-on-invalid-dep=yes"]
            if jobs
            else []
        )
        env = {lineage.PIPELINE_ENV: recipe.name, lineage.STAGE_ENV: stage.name}
        job_name = f"r1lab-{recipe.name.replace('/', '-')}-{stage.name}"
        stage_cmd = command(stage, stages) if stage.evaluate else None
        job = slurm.submit(
            RunFacts.of(stage_recipe(stage, stages)),
            None,
            extra=after,
            env=env,
            job_name=job_name,
            wrap=stage_cmd,
            validated=True,
            log_dir=Path(stage.output).resolve() / "slurm",
        )
        jobs.append((stage.name, job))
    if jobs:
        log("chain: " + " -> ".join(f"{name} (job {job})" for name, job in jobs))
        log(f"watch: squeue -j {','.join(str(j) for _, j in jobs)}")
    else:
        log("every stage finished earlier: nothing submitted")
    return jobs


def clear(recipe: Recipe) -> None:
    """--fresh: delete every stage's earlier output (r1lab outputs only), and the logs."""

    for stage in stages_of(recipe):
        out = Path(stage.output)
        if stage.evaluate and (out / HELDOUT).exists():
            shutil.rmtree(out)
        elif not stage.evaluate:
            run_dir.clear(out)
    shutil.rmtree(Path(recipe.output_dir) / "logs", ignore_errors=True)


def launch(recipe: Recipe, on_slurm: bool, fresh: bool = False) -> int:
    """`make pipeline RECIPE=...`: check every stage, then (`fresh`: clear their earlier outputs)
    submit the chain or run it here."""
    check(recipe).raise_if_failed()
    if fresh:
        clear(recipe)
    if on_slurm:
        submit_chain(recipe)
        return 0
    return run_here(recipe)


def main(argv: list[str]) -> int:
    """`r1lab pipeline <recipe> [k=v ...] [--fresh]`: the stages here, in order."""
    parsed = run_start.parse(KIND, argv)
    if parsed is None:
        return 0
    facts, fresh = parsed
    return launch(facts.recipe, on_slurm=False, fresh=fresh)


KIND = Kind(
    name="pipeline",
    help="run a pipeline's stages in order (sft, grpo, generate, evaluate recipes), with lineage",
    module="r1lab.kinds.pipeline",
    run=main,
    config_class=None,
    sections={"stages": parse_stages},
    checks=(check_stages,),
    launcher="python",
    loads_model=lambda recipe: False,
    reads_data=False,
    common_sections=False,
    complete=complete,
    launch=launch,
)

if __name__ == "__main__":
    exit_on_error(lambda: main(sys.argv[1:]))
