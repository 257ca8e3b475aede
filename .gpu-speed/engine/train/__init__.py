"""The training engine: `Trainer`, its arguments, callbacks, checkpoints and the log-stream writer.

    from fgtui.engine.train import Trainer, TrainingArguments
    Trainer(model, TrainingArguments(output_dir=...), train_dataset, data_collator=...,
            optimizer_factory=..., lr_scheduler_factory=...).train()   # -> exit code

Importing this package imports no torch; the modules do, inside their functions.
"""

from fgtui.engine.train.args import TrainingArguments
from fgtui.engine.train.budget import StepBudget, scale_lr, steps_from_tokens, tokens_per_step
from fgtui.engine.train.callbacks import DivergenceError, DivergenceGuard, ProfilerCallback, TrainerCallback
from fgtui.engine.train.runtime import RunContext
from fgtui.engine.train.textgen import TextgenCallback
from fgtui.engine.train.trainer import Trainer

__all__ = [
    "DivergenceError",
    "DivergenceGuard",
    "ProfilerCallback",
    "RunContext",
    "StepBudget",
    "TextgenCallback",
    "Trainer",
    "TrainerCallback",
    "TrainingArguments",
    "scale_lr",
    "steps_from_tokens",
    "tokens_per_step",
]
