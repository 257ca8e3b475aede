"""`forgather.ml.trainer.accelerate`: Forgather's Accelerate trainer. fgtui's Trainer does
the device placement and DDP that Accelerate does for Forgather, so the accelerator
is kept for reference only and the training is fgtui's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fgtui.engine.compat.forgather.ml.distributed import DistributedEnvironment
from fgtui.engine.compat.forgather.ml.trainer.trainer import Trainer, TrainingArguments


@dataclass(kw_only=True)
class AccelTrainingArguments(TrainingArguments):
    pass


class AccelDistEnv(DistributedEnvironment):
    def __init__(self, accelerator: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.accelerator = accelerator


class AccelTrainer(Trainer):
    arguments_class = AccelTrainingArguments

    def __init__(self, *, args: Any, accelerator: Any = None, **kwargs: Any) -> None:
        super().__init__(args=args, **kwargs)
        self.accelerator = accelerator
