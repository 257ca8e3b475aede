"""`forgather.ml.trainer.ddp`: Forgather's DDP trainer. fgtui's Trainer wraps the model in
DDP itself whenever torchrun starts several ranks (engine/train/parallel_setup.py), so
this is the same adapter with DDP's arguments accepted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fgtui.engine.compat.forgather.ml.trainer.trainer import Trainer, TrainingArguments
from fgtui.engine.errors import FgError


@dataclass(kw_only=True)
class DDPTrainingArguments(TrainingArguments):
    dispatch_batches: bool = True
    ddp: dict = field(default_factory=dict)  # DDP constructor options (bucket_cap_mb, static_graph ...)
    post_local_sgd: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.post_local_sgd or {}).get("enabled"):
            raise FgError(
                "post-local SGD (post_local_sgd.enabled) is not provided by fgtui",
                hint="turn it off; fgtui's DDP all-reduces every step",
            )


class DDPTrainer(Trainer):
    arguments_class = DDPTrainingArguments

    def __init__(self, *, args: Any, **kwargs: Any) -> None:
        super().__init__(args=args, **kwargs)
