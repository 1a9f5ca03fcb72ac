"""Run a recipe on Slurm: validate it, then `sbatch slurm/train.slurm <kind> <recipe> [k=v ...]`.

`make sft|grpo RECIPE=... ARGS=... [NODES=n]` reaches `submit()` through `r1lab launch` when
`sbatch` is on PATH and LOCAL is not 1. Everything that can be known before the job starts is
checked here, so bad input fails in seconds and nothing is submitted: an unknown recipe, a recipe
`r1lab check` rejects, vLLM server mode with fewer than 2 nodes, an unknown `slurm:` key.

Inside the job, `slurm/train.slurm` reads the recipe through `python -m r1lab.slurm plan ...`,
which prints the values it needs as shell assignments (no grep/awk on YAML).

Cluster settings come from the recipe's `slurm:` section, overridden by environment variables
(`R1LAB_SLURM_PARTITION=gpu make grpo ...`); none is hard-coded. See docs/slurm.md.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1lab import vllm_server
from r1lab.errors import RecipeError, exit_on_error, unknown_key
from r1lab.kind import KINDS, get_kind, require_kind
from r1lab.paths import REPO_ROOT
from r1lab.recipe import Recipe, compose
from r1lab.run_facts import RunFacts

SLURM_DIR = REPO_ROOT / "slurm"
TRAIN_SCRIPT = SLURM_DIR / "train.slurm"

# The `slurm:` section of a recipe: key -> default. Every scalar key can also be set with the
# environment variable R1LAB_SLURM_<KEY> (upper case), which wins over the recipe.
SLURM_DEFAULTS: dict[str, Any] = {
    "partition": None,  # --partition
    "account": None,  # --account
    "qos": None,  # --qos
    "constraint": None,  # --constraint
    "time": None,  # --time ("HH:MM:SS", "D-HH:MM:SS" or minutes)
    "nodes": 1,  # --nodes (NODES=n / nodes= argument wins); server mode: the last one serves vLLM
    "gpus_per_node": 0,  # --gpus-per-node, and processes per training node for GPU accelerate configs
    "cpus_per_task": None,  # --cpus-per-task (one task per node)
    "mem": None,  # --mem (per node, e.g. 400G)
    "exclusive": False,  # --exclusive
    "signal_seconds": 300,  # --signal=B:USR1@<s>: checkpoint + requeue this long before the time limit
    "max_restarts": 20,  # stop requeueing after this many restarts
    "log_dir": None,  # default <output_dir>/slurm
    "gpu": None,  # the GPU model `r1lab check`'s memory plan assumes (h100-80gb, ...); not sbatch's
    "sbatch_args": [],  # any other sbatch options, e.g. ["--reservation=x"]
    "vllm": {},  # server mode: see VLLM_DEFAULTS
}
VLLM_DEFAULTS: dict[str, Any] = {
    "tensor_parallel_size": 1,  # the server's --tensor-parallel-size (r1lab.vllm_server)
    "data_parallel_size": 1,  # its --data-parallel-size (keep 1 for dense models)
    "timeout": 900,  # seconds to wait for GET /health before the job fails
    "args": [],  # extra `vllm serve` arguments, e.g. ["--max-model-len", "4096"]
}
ENV_PREFIX = "R1LAB_SLURM_"


class SlurmError(RecipeError):
    """Bad Slurm settings or a failed submission; the CLI prints the message and exits 2."""


@dataclass
class Plan:
    """What one Slurm run of a recipe looks like: nodes and their roles, launcher, sbatch options."""

    kind: str
    module: str  # the kind's entry point, what each training node launches
    launcher: str  # "accelerate" or "python" (Kind.launcher)
    recipe: Recipe
    overrides: list[str]
    nodes: int
    settings: dict[str, Any]
    vllm: dict[str, Any]
    server: bool  # trainer.use_vllm with vllm_mode=server: the last node serves generations
    accelerate_config: Path
    distributed_type: str
    procs_per_node: int
    output_dir: Path
    facts: RunFacts  # the run's kind and accelerate file, found once
    sbatch_extra: list[str] = field(default_factory=list)

    @property
    def train_nodes(self) -> int:
        return self.nodes - (1 if self.server else 0)

    @property
    def num_processes(self) -> int:
        return self.train_nodes * self.procs_per_node

    @property
    def log_dir(self) -> Path:
        return Path(self.settings["log_dir"] or self.output_dir / "slurm").resolve()

    @property
    def job_name(self) -> str:
        return "r1lab-" + self.kind + "-" + re.sub(r"[^\w.-]+", "-", self.recipe.name)

    def log_path(self, job_id: int | str = "%j") -> Path:
        return self.log_dir / f"{self.kind}-{job_id}.out"


def _env_value(key: str) -> str | None:
    value = os.environ.get(ENV_PREFIX + key.upper())
    return value if value not in (None, "") else None


def slurm_settings(recipe: Recipe, nodes: int | None = None) -> dict[str, Any]:
    """The recipe's `slurm:` section over the defaults, then R1LAB_SLURM_* env, then `nodes`."""
    section = dict(recipe.slurm or {})
    for key in section:
        if key not in SLURM_DEFAULTS:
            raise SlurmError(str(unknown_key(f"slurm.{key}", key, SLURM_DEFAULTS)))
    settings = {**SLURM_DEFAULTS, **{k: v for k, v in section.items() if v is not None}}
    for key, default in SLURM_DEFAULTS.items():
        if isinstance(default, (list, dict)):
            continue
        value = _env_value(key)
        if value is not None:
            settings[key] = value
    if nodes is not None:
        settings["nodes"] = nodes
    for key in ("nodes", "gpus_per_node", "signal_seconds", "max_restarts"):
        try:
            settings[key] = int(settings[key])
        except (TypeError, ValueError):
            raise SlurmError(f"slurm.{key} must be an integer, got {settings[key]!r}") from None
    if settings["nodes"] < 1:
        raise SlurmError(f"slurm.nodes must be at least 1, got {settings['nodes']}")
    if settings["gpus_per_node"] < 0:
        raise SlurmError(f"slurm.gpus_per_node must be >= 0, got {settings['gpus_per_node']}")
    if isinstance(settings["exclusive"], str):
        settings["exclusive"] = settings["exclusive"].lower() in ("1", "true", "yes")
    extra = settings["sbatch_args"]
    if isinstance(extra, str):
        extra = shlex.split(extra)
    settings["sbatch_args"] = [str(a) for a in extra] + shlex.split(
        os.environ.get("R1LAB_SBATCH_ARGS", "")
    )
    return settings


def vllm_settings(settings: dict[str, Any]) -> dict[str, Any]:
    section = dict(settings.get("vllm") or {})
    for key in section:
        if key not in VLLM_DEFAULTS:
            raise SlurmError(str(unknown_key(f"slurm.vllm.{key}", key, VLLM_DEFAULTS)))
    vllm = {**VLLM_DEFAULTS, **{k: v for k, v in section.items() if v is not None}}
    if os.environ.get("R1LAB_VLLM_TIMEOUT"):
        vllm["timeout"] = os.environ["R1LAB_VLLM_TIMEOUT"]
    for key in ("tensor_parallel_size", "data_parallel_size", "timeout"):
        try:
            vllm[key] = int(vllm[key])
        except (TypeError, ValueError):
            raise SlurmError(f"slurm.vllm.{key} must be an integer, got {vllm[key]!r}") from None
    args = vllm["args"]
    vllm["args"] = shlex.split(args) if isinstance(args, str) else [str(a) for a in args]
    return vllm


def nodes_from_env(name: str = "NODES") -> int | None:
    """`NODES=n` (make) or Slurm's node count inside a job; None when unset."""
    value = os.environ.get(name)
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise SlurmError(f"{name}={value!r} must be a whole number of nodes") from None


def make_plan(recipe: Recipe, nodes: int | None = None, gpus_on_node: int | None = None) -> Plan:
    """Decide the run's shape for a composed recipe; SlurmError/RecipeError on bad input.

    `gpus_on_node` (inside a job: $SLURM_GPUS_ON_NODE) wins over slurm.gpus_per_node.
    """
    return plan_run(RunFacts.of(recipe), nodes, gpus_on_node)


def plan_run(facts: RunFacts, nodes: int | None = None, gpus_on_node: int | None = None) -> Plan:
    """`make_plan` for a run whose facts its launcher has found."""
    recipe, kind = facts.recipe, facts.kind
    settings = slurm_settings(recipe, nodes)
    vllm = vllm_settings(settings)
    trainer = recipe.trainer
    server = kind.vllm_server(recipe)
    n = settings["nodes"]
    if server:
        if n < 2:
            raise SlurmError(
                f"recipe '{recipe.name}' uses vLLM in server mode (trainer.use_vllm=true, "
                f"trainer.vllm_mode=server), which needs at least 2 nodes: the last one runs the vLLM "
                f"server and the others train. Got {n} node(s): set NODES=2 (or slurm.nodes), or "
                "use trainer.vllm_mode=colocate"
            )
        if trainer.get("vllm_server_base_url"):
            pointed = [o.split("=", 1)[0] for o in kind.vllm_server_overrides("h", 1)]
            raise SlurmError(
                "trainer.vllm_server_base_url is set, but slurm/train.slurm starts the vLLM server on "
                f"the last node and points training at it ({', '.join(pointed)}); unset it"
            )
        gpus, tp, dp = (
            settings["gpus_per_node"],
            vllm["tensor_parallel_size"],
            vllm["data_parallel_size"],
        )
        if gpus and tp * dp > gpus:
            raise SlurmError(
                f"slurm.vllm: tensor_parallel_size x data_parallel_size = {tp} x {dp} = {tp * dp} GPUs, "
                f"but a node has slurm.gpus_per_node={gpus}"
            )
    accel = facts.accelerate
    distributed = accel.distributed_type
    gpus = gpus_on_node or settings["gpus_per_node"]
    if kind.launcher == "python":  # one process per node, each node on its own share (generate)
        procs = 1
    elif distributed == "NO":
        procs = 1
        train_nodes = n - (1 if server else 0)
        if train_nodes > 1:
            raise SlurmError(
                f"accelerate: '{recipe.accelerate}' runs a single process, so it cannot train on "
                f"{train_nodes} nodes; multi-node runs need `accelerate: ddp`, `zero2` or `zero3` in the recipe"
            )
    else:
        procs = gpus or accel.num_processes
    return Plan(
        kind=kind.name,
        module=kind.module,
        launcher=kind.launcher,
        recipe=recipe,
        overrides=list(recipe.overrides),
        nodes=n,
        settings=settings,
        vllm=vllm,
        server=server,
        accelerate_config=accel.path,
        distributed_type=distributed,
        procs_per_node=procs,
        output_dir=Path(recipe.output_dir).resolve(),
        facts=facts,
    )


def sbatch_command(
    plan: Plan, job_name: str | None = None, wrap: list[str] | None = None
) -> list[str]:
    """The full `sbatch` command line for `plan` (options first, then script and its arguments;
    `wrap`: a one-process command run instead of slurm/train.slurm, e.g. a held-out evaluation)."""
    s = plan.settings
    cmd = [
        "sbatch",
        "--parsable",
        f"--job-name={job_name or plan.job_name}",
        f"--nodes={plan.nodes}",
        "--ntasks-per-node=1",
        f"--output={plan.log_path()}",
        "--open-mode=append",
        "--requeue",
        f"--signal=B:USR1@{s['signal_seconds']}",
        f"--chdir={os.getcwd()}",
        "--export=ALL",
    ]
    for key, flag in (
        ("partition", "--partition"),
        ("account", "--account"),
        ("qos", "--qos"),
        ("constraint", "--constraint"),
        ("time", "--time"),
        ("cpus_per_task", "--cpus-per-task"),
        ("mem", "--mem"),
    ):
        if s.get(key) not in (None, ""):
            cmd.append(f"{flag}={s[key]}")
    if s["gpus_per_node"]:
        cmd.append(f"--gpus-per-node={s['gpus_per_node']}")
    if s["exclusive"]:
        cmd.append("--exclusive")
    cmd += s["sbatch_args"] + plan.sbatch_extra
    if wrap is not None:
        return [*cmd, "--wrap=" + shlex.join(wrap)]
    cmd += [str(TRAIN_SCRIPT), plan.kind, plan.recipe.name, *plan.overrides]
    return cmd


def job_environment() -> dict[str, str]:
    """The submitter's environment plus what the job needs to find this r1lab installation."""
    env = dict(os.environ)
    env["R1LAB_PYTHON"] = sys.executable
    env["R1LAB_SLURM_DIR"] = str(SLURM_DIR)
    env.setdefault("PYTHONUNBUFFERED", "1")
    for key in ("R1LAB_CACHE", "R1LAB_RECIPES"):
        if env.get(key):
            env[key] = str(Path(env[key]).expanduser().resolve())
    return env


def validate(plan: Plan) -> None:
    """`r1lab check` for the run's real process count; RecipeError listing every problem."""
    from r1lab.checks.run import check_run

    check_run(plan.facts, num_processes=plan.num_processes).raise_if_failed()


def submit(
    facts: RunFacts,
    nodes: int | None,
    extra: list[str] | None = None,
    env: dict[str, str] | None = None,
    job_name: str | None = None,
    wrap: list[str] | None = None,
    validated: bool = False,
    wrap_kind: str = "evaluate",
    log_dir: Path | None = None,
) -> int:
    """Validate, then sbatch `slurm/train.slurm`; print the job id and log path; return the id.

    A pipeline passes `extra` sbatch options (its dependency on the stage before), `env` for the
    job (which stage it is), and `validated` (it checked every stage up front, when an earlier
    stage's output was not there yet)."""
    if not shutil.which("sbatch"):
        raise SlurmError(
            "sbatch is not on PATH: run on a Slurm login node, or set LOCAL=1 to run here"
        )
    plan = plan_run(facts, nodes)
    plan.sbatch_extra = list(extra or [])
    if wrap is not None:  # a one-process command (a held-out evaluation) and its own log dir
        plan.kind = wrap_kind
        plan.settings = {**plan.settings, "log_dir": str(log_dir) if log_dir else None}
    if not validated:
        validate(plan)
    plan.log_dir.mkdir(
        parents=True, exist_ok=True
    )  # Slurm does not create it: the job would die silently
    cmd = sbatch_command(plan, job_name, wrap)
    print("[r1lab] " + shlex.join(cmd), flush=True)
    proc = subprocess.run(
        cmd, env={**job_environment(), **(env or {})}, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SlurmError(
            f"sbatch failed (exit {proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}."
            " To run on this machine instead, set LOCAL=1 (make ... LOCAL=1)"
        )
    match = re.match(r"\s*(\d+)", proc.stdout)
    if not match:
        raise SlurmError(f"sbatch printed no job id: {proc.stdout!r}")
    job_id = int(match.group(1))
    roles = f"{plan.train_nodes} training node(s)" + (
        " + 1 vLLM server node (the last)" if plan.server else ""
    )
    print(f"Submitted batch job {job_id}")
    print(f"[r1lab] {plan.kind} {plan.recipe.name} on {roles}; output {plan.output_dir}")
    print(f"[r1lab] log: {plan.log_path(job_id)}", flush=True)
    return job_id


SERVER_HOST = "%HOST%"  # in VLLM_OVERRIDES: train.slurm puts the server node's name there


def shell_plan(plan: Plan) -> str:
    """The plan as bash assignments for `eval` in slurm/train.slurm."""
    q = shlex.quote
    values = {
        "R1LAB_KIND": plan.kind,
        "R1LAB_MODULE": plan.module,
        "R1LAB_LAUNCHER": plan.launcher,
        "R1LAB_RECIPE": plan.recipe.name,
        "ACCELERATE_CONFIG": str(plan.accelerate_config),
        "DISTRIBUTED_TYPE": plan.distributed_type,
        "PROCS_PER_NODE": str(plan.procs_per_node),
        "USE_VLLM_SERVER": "1" if plan.server else "0",
        "OUTPUT_DIR": str(plan.output_dir),
        "MAX_RESTARTS": str(plan.settings["max_restarts"]),
        "VLLM_MODEL": str(plan.recipe.model.get("model_name_or_path", "")),
        "VLLM_PORT": str(plan.recipe.trainer.get("vllm_server_port") or 8000),
        "VLLM_TP": str(plan.vllm["tensor_parallel_size"]),
        "VLLM_DP": str(plan.vllm["data_parallel_size"]),
        "VLLM_TIMEOUT": str(plan.vllm["timeout"]),
    }
    lines = [f"{k}={q(v)}" for k, v in values.items()]
    lines.append("VLLM_ARGS=(" + " ".join(q(a) for a in plan.vllm["args"]) + ")")
    server = vllm_server.command(
        values["VLLM_MODEL"],
        int(values["VLLM_PORT"]),
        plan.vllm["tensor_parallel_size"],
        plan.vllm["data_parallel_size"],
        plan.vllm["args"],
    )
    env = [f"-u{k}" for k in vllm_server.unset_for_server()]
    env += [f"{k}={v}" for k, v in vllm_server.SERVER_ENV.items()]
    lines.append("VLLM_SERVER=(env " + " ".join(q(a) for a in [*env, *server]) + ")")
    # the trainer's overrides that name the server, its node left as %HOST% for train.slurm
    pointing = plan.facts.kind.vllm_server_overrides(SERVER_HOST, values["VLLM_PORT"])
    lines.append("VLLM_OVERRIDES=(" + " ".join(q(a) for a in pointing) + ")")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    """`python -m r1lab.slurm plan|submit|sbatch-command <kind> <recipe> [k=v ...]`."""
    actions = ("plan", "submit", "sbatch-command")
    if len(argv) < 3 or argv[0] not in actions:
        raise RecipeError(
            f"usage: python -m r1lab.slurm {'|'.join(actions)} {'|'.join(KINDS)} <recipe> "
            "[key=value ...]"
        )
    action, kind, recipe = argv[0], argv[1], compose(argv[2], argv[3:])
    require_kind(recipe.name, recipe.kind, get_kind(kind).name)
    if action == "plan":  # inside the job: the allocation decides the node count
        nodes = nodes_from_env("SLURM_JOB_NUM_NODES") or nodes_from_env("SLURM_NNODES")
        gpus = int(os.environ.get("SLURM_GPUS_ON_NODE") or 0) or None
        print(shell_plan(make_plan(recipe, nodes, gpus_on_node=gpus)), end="")
    elif action == "sbatch-command":
        print(shlex.join(sbatch_command(make_plan(recipe, nodes_from_env()))))
    else:
        submit(RunFacts.of(recipe), nodes_from_env())
    return 0


if __name__ == "__main__":
    exit_on_error(lambda: main(sys.argv[1:]))
