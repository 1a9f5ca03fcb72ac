"""SFT through TRL's SFTTrainer: the cold-start and distillation stages, and the tiny base model.

Run: `r1lab sft <recipe> [key=value ...]` or `accelerate launch ... -m r1lab.sft <recipe> ...`.
"""

from __future__ import annotations

from r1lab.train import Run, callbacks, main


def build_trainer(run: Run):
    from trl import SFTTrainer, get_peft_config, get_quantization_config

    return SFTTrainer(
        model=run.model_args.model_name_or_path,
        args=run.args,
        train_dataset=run.train_dataset,
        peft_config=get_peft_config(run.model_args),
        quantization_config=get_quantization_config(run.model_args),
        callbacks=callbacks(),
    )


if __name__ == "__main__":
    main("sft", build_trainer)
