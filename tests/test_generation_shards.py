"""The resumable shard store (r1lab.generation.shards) with a recording generator, no model: which
shards a node makes, what a shard holds, the totals, the wait for other nodes, a sample set's
settings. The same store under a real generation and kill -9 is tests/test_generate.py (slow)."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from r1lab.errors import RecipeError
from r1lab.generation import Completion, Sampling
from r1lab.generation.settings import GenerateConfig
from r1lab.generation.shards import (
    SampleSet,
    generate_shards,
    load_samples,
    log,
    missing_shards,
    node_position,
    num_shards,
    sample_rows,
    samples_schema,
    shard_path,
    shard_totals,
    wait_for_shards,
    write_shard,
)

SOURCE = pa.schema([("prompt", pa.string()), ("level", pa.int64())])
MADE_BY = {"teacher": "t", "backend": "hf", "sampling": "{}", "recipe": "distill/x"}


class Recorder:
    """A generator whose sample j of prompt p reads `p/j`, with token counts from p's id."""

    def __init__(self) -> None:
        self.calls = []

    def generate(self, prompts, n, sampling, ids=None):
        self.calls.append((list(prompts), n, sampling, list(ids)))
        return [
            [Completion(f"{p}/{j}", "stop", 10 + i, 100 * i + j) for j in range(n)]
            for p, i in zip(prompts, ids, strict=True)
        ]


def rows(count: int) -> list[dict]:
    return [{"prompt_id": i, "prompt": f"q{i}", "level": i % 3} for i in range(count)]


@pytest.fixture
def node(monkeypatch):
    """Sets this node's rank and the number of nodes; no preemption."""
    monkeypatch.setattr("r1lab.preempt.requested", lambda: False)

    def where(rank: int, nodes: int) -> None:
        monkeypatch.setenv("R1LAB_NODE_RANK", str(rank))
        monkeypatch.setenv("R1LAB_NUM_NODES", str(nodes))

    where(0, 1)
    return where


def shards_in(out) -> list[str]:
    return sorted(p.name for p in (out / "samples").glob("*"))


# ---- pieces -------------------------------------------------------------------------------------


def test_the_schema_is_prompt_id_the_sources_columns_then_the_samples_own():
    schema = samples_schema(SOURCE)
    assert schema.names == [
        "prompt_id",
        "prompt",
        "level",
        "sample",
        "completion",
        "finish_reason",
        "prompt_tokens",
        "completion_tokens",
        "teacher",
        "backend",
        "sampling",
        "recipe",
    ]
    text, count = pa.string(), pa.int64()
    assert schema.types == [
        count,
        text,
        count,
        count,
        text,
        text,
        count,
        count,
        text,
        text,
        text,
        text,
    ]


def test_a_shards_file_is_numbered_with_five_digits(tmp_path):
    assert shard_path(tmp_path, 12) == tmp_path / "samples" / "shard-00012.parquet"


@pytest.mark.parametrize(
    ("prompts", "size", "shards"), [(10, 4, 3), (8, 4, 2), (0, 4, 0), (3, 256, 1)]
)
def test_the_number_of_shards_covers_every_prompt(prompts, size, shards):
    assert num_shards(prompts, size) == shards


def test_missing_shards_are_those_without_a_file(tmp_path):
    (tmp_path / "samples").mkdir()
    for k in (0, 2):
        shard_path(tmp_path, k).touch()
    assert missing_shards(tmp_path, 5) == [1, 3, 4]


def test_one_machine_is_node_0_of_1(monkeypatch):
    monkeypatch.delenv("R1LAB_NODE_RANK", raising=False)
    monkeypatch.delenv("R1LAB_NUM_NODES", raising=False)
    assert node_position() == (0, 1)
    monkeypatch.setenv("R1LAB_NODE_RANK", "2")
    monkeypatch.setenv("R1LAB_NUM_NODES", "3")
    assert node_position() == (2, 3)


def test_log_names_the_node_only_among_several(node, capsys):
    log("hello")
    node(1, 3)
    log("again")
    assert capsys.readouterr().out == "[r1lab generate] hello\n[r1lab generate node 1/3] again\n"


def test_sample_rows_are_one_per_sample_with_the_source_columns_and_provenance():
    out = sample_rows(
        rows(2),
        [
            [Completion("a", "stop", 5, 6), Completion("b", "length", 5, 9)],
            [Completion("c", "stop", 7, 3), Completion("d", "stop", 7, 4)],
        ],
        MADE_BY,
    )
    assert [(r["prompt_id"], r["sample"], r["completion"]) for r in out] == [
        (0, 0, "a"),
        (0, 1, "b"),
        (1, 0, "c"),
        (1, 1, "d"),
    ]
    assert out[1] == {
        "prompt_id": 0,
        "prompt": "q0",
        "level": 0,
        "sample": 1,
        "completion": "b",
        "finish_reason": "length",
        "prompt_tokens": 5,
        "completion_tokens": 9,
        **MADE_BY,
    }


def test_sample_rows_refuse_completions_for_other_prompts():
    with pytest.raises(ValueError):
        sample_rows(rows(2), [[Completion("a", "stop", 1, 1)]], MADE_BY)


def test_a_shard_holds_its_samples_and_its_stats(tmp_path):
    samples = sample_rows(
        rows(2), [[Completion("a", "stop", 5, 6)], [Completion("c", "length", 7, 30)]], MADE_BY
    )
    write_shard(tmp_path, 3, samples, 2.5, samples_schema(SOURCE))
    assert json.loads((tmp_path / "stats" / "shard-00003.json").read_text()) == {
        "shard": 3,
        "samples": 2,
        "seconds": 2.5,
        "prompt_tokens": 12,
        "completion_tokens": 36,
    }
    assert pq.read_table(shard_path(tmp_path, 3)).to_pylist() == samples
    assert shards_in(tmp_path) == ["shard-00003.parquet"]  # no temporary file left


def test_samples_load_in_shard_order(tmp_path):
    schema = samples_schema(SOURCE)
    for k in (2, 0, 1):
        chunk = rows(6)[2 * k : 2 * k + 2]
        write_shard(
            tmp_path,
            k,
            sample_rows(chunk, [[Completion("x", "stop", 1, 1)]] * 2, MADE_BY),
            1.0,
            schema,
        )
    assert [r["prompt_id"] for r in load_samples(tmp_path)] == [0, 1, 2, 3, 4, 5]


def test_no_samples_say_to_generate_first(tmp_path):
    with pytest.raises(RecipeError, match=r"samples holds no samples: run the generation first"):
        load_samples(tmp_path)


def test_an_unreadable_shard_is_named_with_what_to_do(tmp_path):
    (tmp_path / "samples").mkdir()
    shard_path(tmp_path, 0).write_text("not parquet")
    with pytest.raises(RecipeError, match=r"shard-00000.parquet cannot be read \(.*\); delete it"):
        load_samples(tmp_path)


def test_shards_with_other_columns_are_refused(tmp_path):
    (tmp_path / "samples").mkdir()
    pq.write_table(pa.table({"a": [1]}), shard_path(tmp_path, 0))
    pq.write_table(pa.table({"b": ["x"]}), shard_path(tmp_path, 1))
    with pytest.raises(RecipeError, match="disagree on their columns"):
        load_samples(tmp_path)


def test_totals_sum_every_shards_stats(tmp_path):
    (tmp_path / "stats").mkdir()
    for k, (n, secs, p, c) in enumerate([(4, 2.0, 40, 300), (2, 3.0, 20, 200)]):
        stats = {
            "shard": k,
            "samples": n,
            "seconds": secs,
            "prompt_tokens": p,
            "completion_tokens": c,
        }
        (tmp_path / "stats" / f"shard-{k:05d}.json").write_text(json.dumps(stats))
    assert shard_totals(tmp_path) == {
        "samples": 6,
        "prompt_tokens": 60,
        "completion_tokens": 500,
        "generation_seconds": 5.0,
        "completion_tokens_per_second": 100.0,
        "samples_per_second": 1.2,
    }


def test_totals_of_no_time_have_no_rate(tmp_path):
    (tmp_path / "stats").mkdir()
    (tmp_path / "stats" / "shard-00000.json").write_text(
        json.dumps(
            {"shard": 0, "samples": 3, "seconds": 0, "prompt_tokens": 1, "completion_tokens": 2}
        )
    )
    totals = shard_totals(tmp_path)
    assert totals["completion_tokens_per_second"] is None and totals["samples_per_second"] is None


# ---- generating shards --------------------------------------------------------------------------


def test_a_node_makes_its_missing_shards_with_the_prompts_ids_and_seed(tmp_path, node, capsys):
    gen = Recorder()
    cfg = GenerateConfig(
        num_samples=2, shard_size=3, seed=8, temperature=0.5, top_p=0.9, max_new_tokens=77
    )
    assert generate_shards(rows(7), samples_schema(SOURCE), tmp_path, cfg, lambda: gen, MADE_BY)
    sampling = Sampling(0.5, 0.9, 77, greedy=False, seed=8)
    assert gen.calls == [
        (["q0", "q1", "q2"], 2, sampling, [0, 1, 2]),
        (["q3", "q4", "q5"], 2, sampling, [3, 4, 5]),
        (["q6"], 2, sampling, [6]),
    ]
    saved = load_samples(tmp_path)
    assert [(r["prompt_id"], r["sample"], r["completion"]) for r in saved][-3:] == [
        (5, 1, "q5/1"),
        (6, 0, "q6/0"),
        (6, 1, "q6/1"),
    ]
    assert saved[0]["teacher"] == "t" and saved[0]["level"] == 0
    out = capsys.readouterr().out
    assert "7 prompts x 2 samples in 3 shard(s); 0 already done, 3 to do here" in out
    assert "shard 3/3: 2 samples, 1201 tokens in " in out  # 600 + 601 for prompt 6


def test_a_rerun_makes_only_the_missing_shards(tmp_path, node, capsys):
    cfg = GenerateConfig(num_samples=1, shard_size=2)
    generate_shards(rows(6), samples_schema(SOURCE), tmp_path, cfg, Recorder, MADE_BY)
    shard_path(tmp_path, 1).unlink()
    gen = Recorder()
    assert generate_shards(rows(6), samples_schema(SOURCE), tmp_path, cfg, lambda: gen, MADE_BY)
    assert [ids for *_, ids in gen.calls] == [[2, 3]]
    assert "2 already done, 1 to do here" in capsys.readouterr().out
    assert [r["prompt_id"] for r in load_samples(tmp_path)] == [0, 1, 2, 3, 4, 5]


def test_nothing_to_do_makes_no_generator(tmp_path, node):
    cfg = GenerateConfig(num_samples=1, shard_size=4)
    generate_shards(rows(4), samples_schema(SOURCE), tmp_path, cfg, Recorder, MADE_BY)

    def refuse():
        raise AssertionError("a generator was made with nothing to do")

    assert generate_shards(rows(4), samples_schema(SOURCE), tmp_path, cfg, refuse, MADE_BY)


def test_node_r_of_n_makes_shards_r_r_plus_n(tmp_path, node):
    node(1, 3)
    gen = Recorder()
    cfg = GenerateConfig(num_samples=1, shard_size=2)
    generate_shards(rows(15), samples_schema(SOURCE), tmp_path, cfg, lambda: gen, MADE_BY)
    assert [ids[0] for *_, ids in gen.calls] == [2, 8, 14]  # shards 1, 4, 7
    assert shards_in(tmp_path) == [
        "shard-00001.parquet",
        "shard-00004.parquet",
        "shard-00007.parquet",
    ]


def test_a_shard_written_meanwhile_is_not_made_again(tmp_path, node):
    class Racing(Recorder):
        def generate(self, prompts, n, sampling, ids=None):
            if not self.calls:  # another run writes shard 2 while this one makes shard 0
                (tmp_path / "samples").mkdir()
                shard_path(tmp_path, 2).touch()
            return super().generate(prompts, n, sampling, ids)

    gen = Racing()
    cfg = GenerateConfig(num_samples=1, shard_size=1)
    generate_shards(rows(3), samples_schema(SOURCE), tmp_path, cfg, lambda: gen, MADE_BY)
    assert [ids for *_, ids in gen.calls] == [[0], [1]]


def test_a_preemption_stops_between_shards(tmp_path, node, monkeypatch, capsys):
    gen = Recorder()
    monkeypatch.setattr("r1lab.preempt.requested", lambda: len(gen.calls) == 2)
    cfg = GenerateConfig(num_samples=1, shard_size=1)
    assert (
        generate_shards(rows(4), samples_schema(SOURCE), tmp_path, cfg, lambda: gen, MADE_BY)
        is False
    )
    assert shards_in(tmp_path) == ["shard-00000.parquet", "shard-00001.parquet"]
    assert "preemption requested: stopping between shards" in capsys.readouterr().out


# ---- waiting for other nodes --------------------------------------------------------------------


def test_node_0_waits_until_every_shard_is_there(tmp_path, node, monkeypatch, capsys):
    (tmp_path / "samples").mkdir()
    arrivals = iter([[0], [], [2], [1]])  # what the other nodes write during each poll
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        for k in next(arrivals):
            shard_path(tmp_path, k).touch()

    monkeypatch.setattr("r1lab.generation.shards.time.sleep", sleep)
    assert wait_for_shards(tmp_path, 3, poll=0.25) is True
    assert slept == [0.25] * 4
    out = capsys.readouterr().out.splitlines()
    assert out == [  # once per change in the number missing
        "[r1lab generate] waiting for 3 shard(s) from the other nodes",
        "[r1lab generate] waiting for 2 shard(s) from the other nodes",
        "[r1lab generate] waiting for 1 shard(s) from the other nodes",
    ]


def test_node_0_polls_every_5_seconds_by_default(tmp_path, node, monkeypatch):
    (tmp_path / "samples").mkdir()
    slept = []
    monkeypatch.setattr(
        "r1lab.generation.shards.time.sleep",
        lambda s: slept.append(s) or shard_path(tmp_path, 0).touch(),
    )
    assert wait_for_shards(tmp_path, 1) is True and slept == [5.0]


def test_waiting_stops_at_a_preemption(tmp_path, node, monkeypatch, capsys):
    monkeypatch.setattr("r1lab.preempt.requested", lambda: True)
    assert wait_for_shards(tmp_path, 2, poll=0) is False
    assert capsys.readouterr().out == (
        "[r1lab generate] preemption requested while waiting for the other nodes; a rerun resumes\n"
    )


def test_nothing_to_wait_for_returns_at_once(tmp_path, node, monkeypatch):
    monkeypatch.setattr("r1lab.preempt.requested", lambda: True)
    assert wait_for_shards(tmp_path, 0) is True


# ---- a sample set ---------------------------------------------------------------------------------


def sample_set(out, settings, cfg=None) -> SampleSet:
    return SampleSet(
        out,
        cfg or GenerateConfig(num_samples=1, shard_size=2),
        settings,
        ("k", "temperature"),
        MADE_BY,
    )


def test_node_0_writes_the_settings_and_a_rerun_with_them_is_admitted(tmp_path):
    out = tmp_path / "eval" / "aime"
    settings = {"k": 4, "temperature": 0.6, "model": "m"}
    sample_set(out, settings).admit_settings(write=True)
    assert (out / "settings.json").read_text() == (
        '{\n  "k": 4,\n  "temperature": 0.6,\n  "model": "m"\n}'
    )
    sample_set(out, {**settings, "model": "other"}).admit_settings(write=True)  # not compared
    assert json.loads((out / "settings.json").read_text())["model"] == "other"


def test_other_nodes_check_but_never_write(tmp_path):
    sample_set(tmp_path / "aime", {"k": 4, "temperature": 0.6}).admit_settings(write=False)
    assert not (tmp_path / "aime").exists()


def test_samples_made_otherwise_are_refused_with_every_change(tmp_path):
    out = tmp_path / "aime"
    sample_set(out, {"k": 4, "temperature": 0.6}).admit_settings(write=True)
    with pytest.raises(RecipeError) as err:
        sample_set(out, {"k": 8, "temperature": 1.0}).admit_settings(write=True)
    assert str(err.value).startswith(
        f"{out} holds samples made otherwise (k: 4 -> 8; temperature: 0.6 -> 1.0); mixing them"
    )
    assert json.loads((out / "settings.json").read_text())["k"] == 4


def test_a_sample_set_generates_its_shards_and_waits_for_them(tmp_path, node, monkeypatch):
    gen = Recorder()
    made_by = {**MADE_BY, "recipe": "evaluate/x"}
    s = SampleSet(tmp_path, GenerateConfig(num_samples=2, shard_size=2), {}, (), made_by)
    unlevelled = [{**r, "level": None} for r in rows(3)]
    assert s.generate(unlevelled, samples_schema(SOURCE), lambda: gen) is True
    assert pq.read_schema(shard_path(tmp_path, 0)).field("level").type == pa.int64()  # the source's
    assert [ids for *_, ids in gen.calls] == [[0, 1], [2]]
    assert load_samples(tmp_path)[0]["recipe"] == "evaluate/x"
    assert s.wait(3) is True
    shard_path(tmp_path, 1).unlink()  # 2 shards of 2 prompts: 1 missing; 1 shard of 3: none
    monkeypatch.setattr("r1lab.preempt.requested", lambda: True)
    assert SampleSet(tmp_path, GenerateConfig(shard_size=2), {}, (), MADE_BY).wait(3) is False
    assert SampleSet(tmp_path, GenerateConfig(shard_size=3), {}, (), MADE_BY).wait(3) is True
