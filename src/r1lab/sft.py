"""SFT through TRL's SFTTrainer: the cold-start and distillation stages, and the tiny base model.

Run: `r1lab sft <recipe> [key=value ...]` or `accelerate launch ... -m r1lab.sft <recipe> ...`.
"""

from __future__ import annotations

from r1lab.train import Run, main, trainer_kwargs


def build_trainer(run: Run):
    from trl import SFTTrainer

    return SFTTrainer(**trainer_kwargs(run))


if __name__ == "__main__":
    main("sft", build_trainer)
