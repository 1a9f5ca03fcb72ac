"""r1lab: recipes for training reasoning models the DeepSeek-R1 way, as thin layers over TRL."""

__version__ = "0.1.0"

# Before anything imports torch: every r1lab process (and each stage it starts) pins the CPU
# kernels, so a CPU run's numbers do not depend on which x86 CPU the host has (r1lab.numerics).
# R1LAB_PIN_CPU=0 leaves the host's fastest kernels in place.
import os as _os

if _os.environ.get("R1LAB_PIN_CPU", "1") != "0":
    from r1lab.numerics import pin_cpu_kernels as _pin

    _pin()
