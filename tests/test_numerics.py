"""CPU kernel pins: set where unset, a user's value kept, x86-64 only, inherited by stages."""

from __future__ import annotations

import os
import subprocess
import sys

from r1lab import numerics
from r1lab.numerics import CPU_PINS, pin_cpu_kernels


def test_pins_fill_what_is_unset_and_keep_what_the_user_set(monkeypatch):
    monkeypatch.setattr(numerics.platform, "machine", lambda: "x86_64")
    env = {"MKL_CBWR": "COMPATIBLE"}
    in_force = pin_cpu_kernels(env)
    assert env["MKL_CBWR"] == "COMPATIBLE" and in_force["MKL_CBWR"] == "COMPATIBLE"
    assert env["ATEN_CPU_CAPABILITY"] == "avx2" and env["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert set(in_force) == set(CPU_PINS)


def test_no_pins_off_x86(monkeypatch):
    monkeypatch.setattr(numerics.platform, "machine", lambda: "aarch64")
    env: dict[str, str] = {}
    assert pin_cpu_kernels(env) == {} and env == {}


def test_importing_r1lab_pins_before_torch_loads_and_r1lab_pin_cpu_0_opts_out():
    """A fresh interpreter: torch imported after r1lab runs the pinned kernels (AVX2 here)."""
    probe = "import r1lab, os, torch; print(os.environ.get('ATEN_CPU_CAPABILITY'))"
    env = {k: v for k, v in os.environ.items() if k not in CPU_PINS}
    pinned = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    expected = "avx2" if numerics.platform.machine().lower() in ("x86_64", "amd64") else "None"
    assert pinned.stdout.split()[-1] == expected
    off = subprocess.run(
        [sys.executable, "-c", probe],
        env=env | {"R1LAB_PIN_CPU": "0"},
        capture_output=True,
        text=True,
    )
    assert off.stdout.split()[-1] == "None"
