"""The vLLM server of GRPO's server mode, for real on the tiny model: the command line
r1lab.vllm_server builds (what slurm/train.slurm starts on the server node) is the one TRL 1.16
runs for `trl vllm-serve`, and TRL's own client talks to it: health, the dev-mode routes, and
generation. The one part that cannot run here is the weight transfer (NCCL only): TRL's client
refuses it on a CPU, and the test checks that refusal instead of standing in for it.
"""

from __future__ import annotations

import os

import pytest

from r1lab import vllm_server

from conftest import free_port, running_server

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("vllm_installed")]


def test_r1labs_server_flags_are_trls():
    from trl.scripts.vllm_serve import ScriptArguments, build_command

    trl = build_command(ScriptArguments(model="some/model", port=8001))
    assert tuple(trl[trl.index("--enable-scale-out") :]) == vllm_server.TRL_SERVER_FLAGS
    ours = vllm_server.command("some/model", 8001, extra=["--max-model-len", "4096"])
    assert ours[ours.index("--model") + 1] == "some/model" and ours[-2:] == [
        "--max-model-len",
        "4096",
    ]


def test_trls_client_generates_through_the_server_r1lab_starts(tiny_model, tmp_path):
    from trl.generation.vllm_client import VLLMClient

    port = free_port()
    cmd = vllm_server.command(
        str(tiny_model),
        port,
        extra=["--max-model-len", "256", "--gpu-memory-utilization", "0.1", "--enforce-eager"],
        host="127.0.0.1",
    )
    env = {k: v for k, v in os.environ.items() if k not in vllm_server.unset_for_server()}
    env.update(vllm_server.SERVER_ENV, VLLM_CPU_KVCACHE_SPACE="1")
    with running_server(cmd, port, tmp_path / "server.log", env, inherit=False) as url:
        client = VLLMClient(base_url=url, connection_timeout=60)
        assert client.get_world_size() == 1  # a dev-mode route: VLLM_SERVER_DEV_MODE took effect
        out = client.generate(prompts=["Compute 1 + 2"], n=2, max_tokens=8, temperature=1.0)
        assert len(out["completion_ids"]) == 2 and all(out["completion_ids"])
        assert (
            len(out["logprobs"]) == 2
        )  # processed log-probs, which GRPO's sampling correction uses
        import torch

        with pytest.raises(NotImplementedError, match="NCCL"):
            client.init_communicator(device=torch.device("cpu"))
