"""The `sft` kind: TRL's SFTTrainer, for cold-start and distillation stages and the tiny base model.

Run: `r1lab sft <recipe> [key=value ...]` or `accelerate launch ... -m r1lab.sft <recipe> ...`.
"""

from __future__ import annotations

import sys

from r1lab import check, lora, run_dir
from r1lab.errors import exit_on_error
from r1lab.kind import Kind
from r1lab.train import Run, trainer_kwargs
from r1lab.train import run as run_trainer


def build_trainer(run: Run):
    from trl import SFTTrainer

    return SFTTrainer(**trainer_kwargs(run))


def _config_class() -> type:
    from trl import SFTConfig

    return SFTConfig


def main(argv: list[str]) -> int:
    return run_trainer(KIND, build_trainer, argv)


KIND = Kind(
    name="sft",
    help="run an SFT recipe in this process",
    module="r1lab.sft",
    run=main,
    config_class=_config_class,
    finished=run_dir.finished_training,
    sections={"lora": lora.parse_section},
    checks=(check.check_max_length_fits_context,),
    trains_on_completions=True,
)


if __name__ == "__main__":
    exit_on_error(lambda: main(sys.argv[1:]))
