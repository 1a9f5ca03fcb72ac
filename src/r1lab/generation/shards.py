"""The resumable shard store that generation and evaluation share.

A run's prompts are cut into shards of `generate.shard_size`; a shard's samples are written to
samples/shard-NNNNN.parquet (its stats to stats/) atomically, once all of them exist, so after a
kill the same command makes only the missing shards and every sample is there exactly once. On N
nodes (R1LAB_NODE_RANK, R1LAB_NUM_NODES from slurm/train-node.sh) node r makes shards r, r+N, ...
and node 0 waits for the others. The evaluate kind keeps each benchmark's samples as a
`SampleSet`: one folder, admitted against the settings its samples were made with
(settings.json), generated, waited for.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1lab.atomic import atomic_write
from r1lab.errors import RecipeError
from r1lab.generation import Completion, Generator
from r1lab.generation.settings import GenerateConfig

SAMPLES, STATS, MANIFEST, SETTINGS = "samples", "stats", "generation.json", "settings.json"


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


def log(message: str) -> None:
    rank, nodes = node_position()
    where = f" node {rank}/{nodes}" if nodes > 1 else ""
    print(f"[r1lab generate{where}] {message}", flush=True)


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


@dataclass
class SampleSet:
    """One folder of samples made one way (an evaluated benchmark's k samples per problem, or its
    greedy one): admitted against the settings of the samples already there, generated shard by
    shard on every node, waited for on node 0 (`load_samples` reads them)."""

    out: Path
    cfg: GenerateConfig
    settings: dict[str, Any]  # what its samples depend on, kept as settings.json
    compared: tuple[str, ...]  # the settings a rerun must share with the samples already made
    made_by: dict[str, str]  # what every sample carries about how it was made (`provenance`)

    def admit_settings(self, write: bool) -> None:
        """The folder holds samples of these settings, or none yet (every node checks; node 0
        writes them)."""
        saved = self.out / SETTINGS
        if saved.exists():
            before = json.loads(saved.read_text())
            changed = [
                f"{key}: {before.get(key)!r} -> {self.settings[key]!r}"
                for key in self.compared
                if before.get(key) != self.settings[key]
            ]
            if changed:
                raise RecipeError(
                    f"{self.out} holds samples made otherwise ({'; '.join(changed)}); mixing them "
                    f"would change the numbers silently. Use another trainer.output_dir, or delete "
                    f"{self.out}"
                )
        if write:
            self.out.mkdir(parents=True, exist_ok=True)
            text = json.dumps(self.settings, indent=2)
            atomic_write(saved, lambda tmp: Path(tmp).write_text(text))

    def generate(
        self,
        rows: list[dict[str, Any]],
        schema: Any,
        make_generator: Callable[[], Generator],
    ) -> bool:
        """This node's missing shards (`generate_shards`)."""
        return generate_shards(rows, schema, self.out, self.cfg, make_generator, self.made_by)

    def wait(self, num_prompts: int) -> bool:
        """Node 0: every shard there (`wait_for_shards`)."""
        return wait_for_shards(self.out, num_shards(num_prompts, self.cfg.shard_size))
