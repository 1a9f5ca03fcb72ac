"""The kinds of work a recipe names (`kind:`), one module each: sft, grpo, grpo_async, generate,
evaluate, pipeline. Each declares `KIND = Kind(...)` (r1lab.kind); `r1lab.kind.MODULES` names
them, and imports one only when its kind is asked for."""
