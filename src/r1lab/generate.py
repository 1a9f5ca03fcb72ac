"""The `generate` kind: a teacher writes n samples per prompt; verified selection keeps the good ones.

Run: `r1lab generate <recipe> [k=v ...]`, `make generate RECIPE=... [NODES=n]`; `r1lab select
<recipe> [select.k=v ...]` reruns only the selection, on the saved samples.

Prompts come from the recipe's `data:` (same sources and templates as training; a chat template
for instruct teachers), in a fixed order, cut into shards of `generate.shard_size` prompts. The
run's output dir (runs/<recipe> unless trainer.output_dir says otherwise) gets:

    samples/shard-00000.parquet ...  one row per sample: prompt_id, sample, the source columns,
                                     prompt, completion, finish_reason, token counts, provenance
                                     (a folder `datasets` loads, and a `data.source` for SFT)
    stats/shard-00000.json ...       each shard's generation time and tokens
    generation.json                  once every shard is there: totals, throughput, provenance
    selected.parquet prompts.parquet selection.json pass_rate.png   (see r1lab.selection)

A shard file is written atomically once all its samples exist, so after a kill (kill -9, a node
failure, a Slurm requeue) the same command generates only the missing shards: every sample is
there exactly once. Prompt i's samples are seeded with `generate.seed + i` (transformers: each
shard with its first prompt's), whichever node or rerun produced them. On N Slurm nodes (slurm/train-node.sh sets R1LAB_NODE_RANK and
R1LAB_NUM_NODES), node r takes shards r, r+N, ..., each with its own engine over its node's GPUs;
node 0 then waits for every shard and runs the selection.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from r1lab import check, lineage, run_dir
from r1lab.atomic import atomic_write
from r1lab.errors import RecipeError, exit_on_error, section_dataclass
from r1lab.generation import Completion, Generator, Sampling, check_backend
from r1lab.kind import Kind
from r1lab.recipe import Recipe, from_argv
from r1lab.selection import SelectConfig, check_select, check_select_columns

SAMPLES, STATS, MANIFEST = "samples", "stats", "generation.json"
# What changes which samples are kept (selection reruns on saved samples) or how fast they are
# made, not what they are: a rerun with other values here resumes the same samples.
NOT_GENERATION = ("select",) + tuple(
    f"generate.{key}"
    for key in (
        "tensor_parallel_size",
        "gpu_memory_utilization",
        "batch_size",
        "base_url",
        "api_key_env",
        "concurrency",
        "timeout",
        "max_retries",
    )
)


@dataclass
class GenerateConfig:
    """The recipe's `generate:` section (defaults: DeepSeek-R1's sampling, T 0.6, top_p 0.95)."""

    backend: str = "vllm"  # vllm | openai | hf (r1lab.generation.BACKENDS)
    num_samples: int = 4  # samples per prompt
    temperature: float = 0.6
    top_p: float = 0.95
    max_new_tokens: int = 32768
    seed: int = 0
    shard_size: int = 256  # prompts per shard: the unit of resume and of work between nodes
    tensor_parallel_size: int = 1  # vllm: GPUs one engine spans
    max_model_len: int | None = None  # vllm: None = the model's context
    # vllm: share of GPU memory the engine takes (None: vLLM's 0.9); on a CPU, the share of RAM
    gpu_memory_utilization: float | None = None
    batch_size: int = 64  # hf: sequences per generate call
    base_url: str | list[str] | None = None  # openai: one endpoint, or one per node
    api_key_env: str = "OPENAI_API_KEY"  # openai: the variable holding the key (local: none)
    concurrency: int = 64  # openai: requests in flight per node
    timeout: float = 600.0  # openai: seconds per request
    max_retries: int = 5  # openai: retries per request, with exponential backoff
    vllm_args: dict[str, Any] = field(default_factory=dict)  # vllm: more `vllm.LLM(...)` arguments

    @classmethod
    def from_recipe(cls, section: Any, recipe: dict[str, Any] | None = None) -> GenerateConfig:
        cfg = section_dataclass(cls, "generate", dict(section or {}))
        check_backend(cfg.backend)
        wrong = [
            f"generate.{name}={getattr(cfg, name)!r} must be {kind.__name__ if kind is int else 'a number'}"
            for name, kind in _TYPES.items()
            if isinstance(getattr(cfg, name), bool) or not isinstance(getattr(cfg, name), kind)
        ]
        if wrong:
            raise RecipeError("; ".join(wrong))
        problems = [
            f"generate.{name}={getattr(cfg, name)} must be {rule}"
            for name, bad, rule in (
                ("num_samples", cfg.num_samples < 1, ">= 1"),
                ("shard_size", cfg.shard_size < 1, ">= 1"),
                ("max_new_tokens", cfg.max_new_tokens < 1, ">= 1"),
                ("temperature", cfg.temperature < 0, ">= 0"),
                ("top_p", not 0 < cfg.top_p <= 1, "in (0, 1]"),
                ("concurrency", cfg.concurrency < 1, ">= 1"),
                (
                    "num_samples",
                    cfg.temperature == 0 and cfg.num_samples > 1,
                    "1 at temperature 0 (greedy samples are all the same)",
                ),
            )
            if bad
        ]
        if problems:
            raise RecipeError("; ".join(problems))
        return cfg

    def sampling(self, seed: int) -> Sampling:
        return Sampling(
            temperature=self.temperature,
            top_p=self.top_p,
            max_new_tokens=self.max_new_tokens,
            greedy=self.temperature == 0,
            seed=seed,
        )

    def backend_options(self, model: dict[str, Any], node: int = 0) -> dict[str, Any]:
        """Keyword arguments for the chosen backend's generator."""
        revision = {"revision": r} if (r := model.get("model_revision")) else {}
        if self.backend == "vllm":
            options = {
                **revision,
                "tensor_parallel_size": self.tensor_parallel_size,
                "dtype": model.get("dtype") or "auto",
                "max_model_len": self.max_model_len,
                **({"gpu_memory_utilization": u} if (u := self.gpu_memory_utilization) else {}),
                "seed": self.seed,
                **self.vllm_args,
            }
        elif self.backend == "openai":
            urls = self.base_url if isinstance(self.base_url, list) else [self.base_url]
            options = {
                "base_url": urls[node % len(urls)],
                "api_key_env": self.api_key_env,
                "concurrency": self.concurrency,
                "timeout": self.timeout,
                "max_retries": self.max_retries,
            }
        else:
            options = {"batch_size": self.batch_size, **revision}
        return options

    def provenance(self) -> str:
        keys = ("num_samples", "temperature", "top_p", "max_new_tokens", "seed")
        return json.dumps({k: getattr(self, k) for k in keys})


_NUMBER = (int, float)
_TYPES: dict[str, Any] = {
    "num_samples": int,
    "shard_size": int,
    "max_new_tokens": int,
    "seed": int,
    "tensor_parallel_size": int,
    "batch_size": int,
    "concurrency": int,
    "max_retries": int,
    "temperature": _NUMBER,
    "top_p": _NUMBER,
    "timeout": _NUMBER,
}


def config(recipe: Recipe) -> GenerateConfig:
    return recipe.parsed["generate"]


# ---- checks ------------------------------------------------------------------------------------


def check_generate(ctx: check.Context) -> check.Findings:
    """The backend can run here, the settings fit the model, nothing goes to a trainer."""
    cfg = config(ctx.recipe)
    extra = [k for k in ctx.recipe.trainer if k != "output_dir"]
    if extra:
        raise RecipeError(
            f"trainer: a generate recipe trains nothing, so trainer.{extra[0]} has no effect; "
            "only trainer.output_dir (where the samples go) is read. Generation settings go in "
            "generate: (e.g. generate.temperature)"
        )
    if cfg.backend == "openai" and not cfg.base_url:
        raise RecipeError(
            "generate.base_url: the openai backend needs the server's URL, e.g. "
            "generate.base_url=http://localhost:8000/v1 (a list gives one per Slurm node)"
        )
    if cfg.backend == "vllm":
        try:
            import vllm  # noqa: F401
        except ImportError:
            from r1lab.generation.vllm_engine import vllm_missing_message

            if ctx.running:
                raise RecipeError(f"generate.backend=vllm: {vllm_missing_message()}") from None
            yield check.warning(f"generate.backend=vllm: {vllm_missing_message()}")
    if cfg.backend == "vllm":
        yield from check.engine_plan(
            ctx, cfg.tensor_parallel_size, cfg.gpu_memory_utilization, cfg.max_model_len
        )
    if cfg.backend != "openai" and ctx.lengths_checkable:
        yield check.completion_fits(
            ctx, "generate.max_new_tokens", cfg.max_new_tokens, cfg.max_model_len
        )
    per_prompt = f"{cfg.num_samples} samples per prompt" if ctx.kind.reads_data else "samples"
    yield check.ok(f"generate: {per_prompt} on {cfg.backend}, shards of {cfg.shard_size} prompts")


# ---- prompts and shards ------------------------------------------------------------------------


def prompt_rows(recipe: Recipe) -> tuple[list[dict[str, Any]], Any]:
    """The recipe's prompts in their fixed order, each row with its `prompt_id` and source columns,
    and the shards' arrow schema (the source's types, so every shard has the same columns)."""
    from r1lab.data import DataConfig, format_dataset

    data = DataConfig.from_recipe(recipe.data)
    raw = check.load_checked(recipe, data)
    prompts = format_dataset(raw, data, completions=False)
    rows = [{"prompt_id": i, **row} for i, row in enumerate(prompts.to_list())]
    return rows, samples_schema(prompts.features.arrow_schema)


def samples_schema(source: Any) -> Any:
    """prompt_id, the source's columns with their types, then the sample's own columns."""
    import pyarrow as pa

    text, count = pa.string(), pa.int64()
    own = [("sample", count), ("completion", text), ("finish_reason", text)]
    own += [("prompt_tokens", count), ("completion_tokens", count)]
    own += [(name, text) for name in ("teacher", "backend", "sampling", "recipe")]
    return pa.schema([("prompt_id", count), *((f.name, f.type) for f in source), *own])


def shard_path(out: Path, shard: int) -> Path:
    return out / SAMPLES / f"shard-{shard:05d}.parquet"


def num_shards(num_prompts: int, shard_size: int) -> int:
    return -(-num_prompts // shard_size)


def missing_shards(out: Path, total: int) -> list[int]:
    return [k for k in range(total) if not shard_path(out, k).exists()]


def node_position() -> tuple[int, int]:
    """(this node's rank, number of nodes): set by slurm/train-node.sh; (0, 1) on one machine."""
    return int(os.environ.get("R1LAB_NODE_RANK", 0)), int(os.environ.get("R1LAB_NUM_NODES", 1))


def provenance(recipe: Recipe, cfg: GenerateConfig) -> dict[str, str]:
    """What every sample carries about how it was made."""
    return {
        "teacher": str(recipe.model["model_name_or_path"]),
        "backend": cfg.backend,
        "sampling": cfg.provenance(),
        "recipe": recipe.name,
    }


def sample_rows(
    rows: list[dict[str, Any]], completions: list[list[Completion]], made_by: dict[str, str]
) -> list[dict[str, Any]]:
    """One row per sample: ids, the source columns, the sample and its provenance."""
    out = []
    for row, group in zip(rows, completions, strict=True):
        for j, c in enumerate(group):
            out.append(
                {
                    **row,
                    "sample": j,
                    "completion": c.text,
                    "finish_reason": c.finish_reason,
                    "prompt_tokens": c.prompt_tokens,
                    "completion_tokens": c.completion_tokens,
                    **made_by,
                }
            )
    return out


def write_shard(
    out: Path, shard: int, samples: list[dict[str, Any]], seconds: float, schema: Any
) -> None:
    """The shard's stats, then its samples: the parquet file appears last, complete."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    stats = {
        "shard": shard,
        "samples": len(samples),
        "seconds": seconds,
        "prompt_tokens": sum(s["prompt_tokens"] for s in samples),
        "completion_tokens": sum(s["completion_tokens"] for s in samples),
    }
    for folder in (SAMPLES, STATS):
        (out / folder).mkdir(parents=True, exist_ok=True)
    stats_path = out / STATS / f"shard-{shard:05d}.json"
    atomic_write(stats_path, lambda tmp: Path(tmp).write_text(json.dumps(stats)))
    table = pa.Table.from_pylist(samples, schema=schema)
    atomic_write(shard_path(out, shard), lambda tmp: pq.write_table(table, tmp))


def load_samples(out: Path) -> list[dict[str, Any]]:
    """Every saved sample, in shard order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted((out / SAMPLES).glob("shard-*.parquet"))
    if not files:
        raise RecipeError(
            f"{out / SAMPLES} holds no samples: run the generation first (make generate "
            "RECIPE=<recipe>)"
        )
    tables = []
    for f in files:
        try:
            tables.append(pq.read_table(f))
        except (OSError, pa.ArrowInvalid) as err:
            raise RecipeError(
                f"{f} cannot be read ({err}); delete it and rerun the same command, which "
                "generates that shard again"
            ) from None
    try:
        return pa.concat_tables(tables).to_pylist()
    except pa.ArrowInvalid as err:
        raise RecipeError(
            f"the shards in {out / SAMPLES} disagree on their columns: {err}"
        ) from None


# ---- the run -----------------------------------------------------------------------------------


def log(message: str) -> None:
    rank, nodes = node_position()
    where = f" node {rank}/{nodes}" if nodes > 1 else ""
    print(f"[r1lab generate{where}] {message}", flush=True)


def generate(recipe: Recipe) -> Path:
    """Generate this node's missing shards; on node 0, wait for all of them and select."""
    from r1lab.generation import load_generator

    cfg, out = config(recipe), Path(recipe.output_dir)
    rank, _ = node_position()
    rows, schema = prompt_rows(recipe)
    model = str(recipe.model["model_name_or_path"])
    options = cfg.backend_options(recipe.model, rank)
    made = generate_shards(
        rows,
        schema,
        out,
        cfg,
        lambda: load_generator(cfg.backend, model, **options),
        provenance(recipe, cfg),
    )
    if not made or rank != 0 or not wait_for_shards(out, num_shards(len(rows), cfg.shard_size)):
        return out
    write_manifest(recipe, out, num_shards(len(rows), cfg.shard_size))
    select_saved(recipe)
    return out


def generate_shards(
    rows: list[dict[str, Any]],
    schema: Any,
    out: Path,
    cfg: GenerateConfig,
    make_generator: Callable[[], Generator],
    made_by: dict[str, str],
) -> bool:
    """This node's missing shards of `rows` (cfg.num_samples each) in out/samples/; the generator
    is made only if there is work. False when a preemption stopped it between shards."""
    from r1lab import preempt

    rank, nodes = node_position()
    total = num_shards(len(rows), cfg.shard_size)
    missing = missing_shards(out, total)
    mine = [k for k in missing if k % nodes == rank]
    log(
        f"{out}: {len(rows)} prompts x {cfg.num_samples} samples in {total} shard(s); "
        f"{total - len(missing)} already done, {len(mine)} to do here"
    )
    generator = make_generator() if mine else None
    for k in mine:
        if preempt.requested():
            log("preemption requested: stopping between shards; a rerun resumes here")
            return False
        if shard_path(out, k).exists():  # written meanwhile by another run of this recipe
            continue
        chunk = rows[k * cfg.shard_size : (k + 1) * cfg.shard_size]
        start = time.perf_counter()
        completions = generator.generate(
            [r["prompt"] for r in chunk],
            cfg.num_samples,
            cfg.sampling(cfg.seed),
            ids=[r["prompt_id"] for r in chunk],
        )
        seconds = time.perf_counter() - start
        samples = sample_rows(chunk, completions, made_by)
        write_shard(out, k, samples, seconds, schema)
        tokens = sum(s["completion_tokens"] for s in samples)
        log(
            f"shard {k + 1}/{total}: {len(samples)} samples, {tokens} tokens in "
            f"{seconds:.1f} s ({tokens / max(seconds, 1e-9):.0f} tokens/s)"
        )
    return True


def wait_for_shards(out: Path, total: int, poll: float = 5.0) -> bool:
    """Node 0: the other nodes' shards (Slurm ends the job if a node fails); False when a
    preemption is requested meanwhile (the job is requeued and resumes)."""
    from r1lab import preempt

    last = None
    while missing := missing_shards(out, total):
        if preempt.requested():
            log("preemption requested while waiting for the other nodes; a rerun resumes")
            return False
        if len(missing) != last:
            log(f"waiting for {len(missing)} shard(s) from the other nodes")
            last = len(missing)
        time.sleep(poll)
    return True


def shard_totals(out: Path) -> dict[str, Any]:
    """Samples, tokens and generation time summed over every shard's stats (and nodes)."""
    stats = [json.loads(p.read_text()) for p in sorted((out / STATS).glob("shard-*.json"))]
    seconds = sum(s["seconds"] for s in stats)
    completion_tokens = sum(s["completion_tokens"] for s in stats)
    samples = sum(s["samples"] for s in stats)
    return {
        "samples": samples,
        "prompt_tokens": sum(s["prompt_tokens"] for s in stats),
        "completion_tokens": completion_tokens,
        "generation_seconds": seconds,  # summed over shards (and nodes)
        "completion_tokens_per_second": completion_tokens / seconds if seconds else None,
        "samples_per_second": samples / seconds if seconds else None,
    }


def write_manifest(recipe: Recipe, out: Path, total: int) -> dict[str, Any]:
    """generation.json: totals over every shard, throughput, provenance."""
    cfg = config(recipe)
    manifest = {
        "recipe": recipe.name,
        "teacher": str(recipe.model["model_name_or_path"]),
        "backend": cfg.backend,
        "settings": asdict(cfg),
        "shards": total,
        **shard_totals(out),
    }
    atomic_write(out / MANIFEST, lambda tmp: Path(tmp).write_text(json.dumps(manifest, indent=2)))
    return manifest


def select_saved(recipe: Recipe) -> dict[str, Any]:
    """Selection on the saved samples (no generation): writes selected.parquet and its report."""
    from r1lab.data import DataConfig
    from r1lab.selection import select, summary_text, write_selection

    out = Path(recipe.output_dir)
    data = DataConfig.from_recipe(recipe.data)
    result = select(load_samples(out), recipe.parsed["select"], data.question_column)
    manifest = out / MANIFEST
    if manifest.exists():
        generation = json.loads(manifest.read_text())
        result.report["generation"] = {
            k: generation[k]
            for k in ("samples", "completion_tokens", "generation_seconds")
            if k in generation
        }
        result.report["generation"]["tokens_per_second"] = generation.get(
            "completion_tokens_per_second"
        )
    write_selection(out, result.kept, result.prompts, result.report)
    write_recipe(recipe, out)
    lineage.record(recipe, out, kept=len(result.kept))
    print(summary_text(result.report), flush=True)
    if not result.kept:
        keep = [o for o in recipe.overrides if not o.lstrip("+").startswith("select.")]
        raise RecipeError(
            f"the selection kept no sample of {result.report['samples']} (report: "
            f"{out / 'selection.json'}); loosen the select: filters that dropped them, or check "
            "the teacher's samples in samples/. Rerun only the selection with `r1lab select "
            f"{' '.join([recipe.name, *keep])} select.<key>=<value>`"
        )
    print(f"[r1lab generate] SFT data: {out / 'selected.parquet'}", flush=True)
    return result.report


def start(argv: list[str], command: str) -> Recipe | None:
    """Parse `<recipe> [k=v ...] [--fresh]`, compose, check; None after --help."""
    parsed = from_argv(command, KIND.help, argv)
    if parsed is None:
        return None
    recipe, fresh = parsed
    from r1lab.kinds import require_kind

    require_kind(recipe.name, recipe.kind, KIND.name)
    out = Path(recipe.output_dir)
    if fresh and command == "generate" and node_position()[0] == 0:
        run_dir.clear(out)
    check.check(recipe, running=command == "generate").raise_if_failed()
    run_dir.admit(recipe, ignore=NOT_GENERATION)
    if node_position()[0] == 0:
        write_recipe(recipe, out)
    return recipe


def write_recipe(recipe: Recipe, out: Path) -> None:
    """recipe.yaml, atomically: other nodes read it (`run_dir.admit`) while this one writes."""
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "recipe.yaml", lambda tmp: Path(tmp).write_text(recipe.to_yaml()))


def main(argv: list[str]) -> int:
    recipe = start(argv, "generate")
    if recipe is not None:
        generate(recipe)
    return 0


def select_main(argv: list[str]) -> int:
    """`r1lab select <recipe> [select.k=v ...]`: selection again, on the saved samples."""
    recipe = start(argv, "select")
    if recipe is not None:
        select_saved(recipe)
    return 0


def finished(recipe: Recipe) -> bool:
    """Every shard generated and the selection made, by this very recipe (select: included)."""
    out = Path(recipe.output_dir)
    done = (out / MANIFEST).exists() and (out / "selected.parquet").exists()
    return done and run_dir.same_recipe(recipe)


KIND = Kind(
    name="generate",
    help="sample a teacher on the recipe's prompts (vllm|openai|hf), then select verified samples",
    module="r1lab.generate",
    run=main,
    config_class=None,
    sections={"generate": GenerateConfig.from_recipe, "select": SelectConfig.from_recipe},
    checks=(check_generate, check_select, check_select_columns),
    column_checks=(check_select_columns,),
    launcher="python",
    loads_model=lambda recipe: config(recipe).backend != "openai",
    finished=finished,
)

if __name__ == "__main__":
    exit_on_error(lambda: main(sys.argv[1:]))
