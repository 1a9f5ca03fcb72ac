"""Every check that TRL would only make after loading a model, made first, in seconds.

A check is a small function of a `Context` (the composed recipe, its kind, the process count, the
data's columns) that returns its findings: ok, skipped (and why), or an error that says what to
change; raising `RecipeError` is the short way to return one error. `r1lab.checks.run.check()`
runs the common checks, then the kind's own (`Kind.checks`), and reports every failure at once. A
fact several checks need (the data config, the model folder) is computed once on the context;
when it cannot be computed, each check that needs it raises the same error, which the report
lists once.

The rooms, by what they check: `findings` (a finding and the report), `context` (what checks look
at), `trainer` (the `trainer:` section, its TRL config and launch), `model` (`model:` and the
model's files), `data` (`data:` and the dataset's columns), `packages` (what the run needs
installed: vLLM, PEFT, DeepSpeed, Liger), `rewards`, `lengths` (prompt and completion within the
model's context), `memory` (the GPU memory plan) and `run` (the lists and the one loop). A kind's
own checks live in its kind module.
"""
