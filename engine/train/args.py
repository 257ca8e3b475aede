"""`TrainingArguments`: the trainer's knobs, with transformers' names where they exist."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from fgtui.engine.errors import FgError

SAVE_STRATEGIES = ("no", "steps", "epoch", "end")
MIXED_PRECISION = (None, "bf16", "fp16")
DTYPES = ("float32", "bfloat16", "float16")


@dataclass
class TrainingArguments:
    """What to train for, how often to log/eval/save, and which memory/speed switches to turn.

    Length of training: `max_steps` when > 0; else `total_tokens` (input tokens over
    all ranks, floor to whole steps, see budget.py); else `num_train_epochs`.

    Precision: `dtype` is the parameters' dtype ("bfloat16" = pure bf16 training);
    `mixed_precision` autocasts the forward ("bf16", or "fp16" with a gradient scaler)
    over float32 parameters.
    """

    output_dir: str
    run_name: str | None = None
    per_device_train_batch_size: int = 8
    per_device_eval_batch_size: int | None = None
    gradient_accumulation_steps: int = 1
    max_steps: int = -1
    total_tokens: int | None = None
    num_train_epochs: float = 1.0
    learning_rate: float | None = None
    max_grad_norm: float | None = 1.0
    seed: int = 42
    dtype: str = "float32"
    mixed_precision: str | None = None
    device: str | None = None

    logging_steps: int = 10
    eval_steps: int | None = None
    max_eval_steps: int | None = None
    eval_on_start: bool = False
    save_strategy: str = "steps"
    save_steps: int = 500
    save_total_limit: int | None = 2
    keep_best_n: int = 0
    save_on_end: bool = True
    resume_from_checkpoint: str | bool | None = None

    gradient_checkpointing: bool = False
    compile_blocks: bool = False
    dataloader_num_workers: int = 0
    dataloader_drop_last: bool = True
    tensorboard: bool | None = None
    profile: bool = False
    profile_steps: tuple[int, int, int] = (2, 2, 3)

    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.save_strategy not in SAVE_STRATEGIES:
            raise FgError(f"save_strategy {self.save_strategy!r} is not one of {SAVE_STRATEGIES}")
        if self.mixed_precision not in MIXED_PRECISION:
            raise FgError(f"mixed_precision {self.mixed_precision!r} is not one of {MIXED_PRECISION}")
        if self.dtype not in DTYPES:
            raise FgError(f"dtype {self.dtype!r} is not one of {DTYPES}")
        if self.mixed_precision and self.dtype != "float32":
            raise FgError(
                f"mixed_precision {self.mixed_precision!r} needs float32 parameters, not {self.dtype}",
                hint="use dtype: bfloat16 alone for pure bf16, or mixed_precision over float32",
            )
        for name in ("per_device_train_batch_size", "gradient_accumulation_steps", "logging_steps"):
            if getattr(self, name) < 1:
                raise FgError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.max_steps <= 0 and not self.total_tokens and self.num_train_epochs <= 0:
            raise FgError("neither max_steps nor num_train_epochs is positive: nothing to train")
        self.profile_steps = tuple(self.profile_steps)

    @property
    def eval_batch_size(self) -> int:
        return self.per_device_eval_batch_size or self.per_device_train_batch_size

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
