"""Learning-rate schedules as `torch.optim.lr_scheduler.LRScheduler` subclasses.

Each computes the LR of step `n` (= `last_epoch`, the number of scheduler
steps taken) in closed form as `base_lr * factor(n)` for every parameter
group, so a resumed run lands on exactly the same value; all state lives in
attributes that `LRScheduler.state_dict()` saves.

Warmup is linear from `1/warmup_steps` at step 0 to 1 at step
`warmup_steps - 1`, so no optimizer step is wasted at LR 0.
"""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from fgtui.engine.errors import FgError

DECAY_SHAPES = ("linear", "cosine", "sqrt")


def _warmup(step: int, warmup_steps: int) -> float:
    return min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0


def _decay_shape(progress: float, shape: str) -> float:
    """1 -> 0 as progress goes 0 -> 1."""
    progress = min(max(progress, 0.0), 1.0)
    if shape == "linear":
        return 1.0 - progress
    if shape == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0 - math.sqrt(progress)


def _check_nonnegative(**values: int) -> None:
    for name, value in values.items():
        if value is not None and value < 0:
            raise FgError(f"LR schedule: {name} must be >= 0, got {value}")


class _FactorSchedule(LRScheduler):
    def factor(self, step: int) -> float:
        raise NotImplementedError

    def get_lr(self) -> list[float]:
        f = self.factor(self.last_epoch)
        return [base * f for base in self.base_lrs]

    _get_closed_form_lr = get_lr


class ConstantWithWarmup(_FactorSchedule):
    """Linear warmup, then the base LR for ever."""

    def __init__(self, optimizer: Optimizer, warmup_steps: int = 0, last_epoch: int = -1) -> None:
        _check_nonnegative(warmup_steps=warmup_steps)
        self.warmup_steps = warmup_steps
        super().__init__(optimizer, last_epoch)

    def factor(self, step: int) -> float:
        return _warmup(step, self.warmup_steps)


class _DecayToEnd(_FactorSchedule):
    shape = "linear"

    def __init__(
        self, optimizer: Optimizer, warmup_steps: int, total_steps: int, min_lr_ratio: float = 0.0, last_epoch: int = -1
    ) -> None:
        _check_nonnegative(warmup_steps=warmup_steps, total_steps=total_steps)
        if total_steps <= warmup_steps:
            raise FgError(f"LR schedule: total_steps {total_steps} must exceed warmup_steps {warmup_steps}")
        self.warmup_steps, self.total_steps, self.min_lr_ratio = warmup_steps, total_steps, min_lr_ratio
        super().__init__(optimizer, last_epoch)

    def factor(self, step: int) -> float:
        if step < self.warmup_steps:
            return _warmup(step, self.warmup_steps)
        progress = (step - self.warmup_steps) / (self.total_steps - self.warmup_steps)
        return self.min_lr_ratio + (1.0 - self.min_lr_ratio) * _decay_shape(progress, self.shape)


class LinearWithWarmup(_DecayToEnd):
    """Warmup, then linear decay to `min_lr_ratio * base_lr` at `total_steps`, flat after."""

    shape = "linear"


class CosineWithWarmup(_DecayToEnd):
    """Warmup, then half-cosine decay to `min_lr_ratio * base_lr` at `total_steps`, flat after."""

    shape = "cosine"


class WSDScheduler(_FactorSchedule):
    """Warmup-stable-decay: warmup, a constant plateau, then a decay over `decay_steps`.

    The decay starts at `decay_start_step`, or, when that is None, whenever
    `start_decay()` is called (e.g. by a user command during a run, or a
    callback that sees the loss plateau). The floor is `min_lr_ratio * base_lr`
    (or the absolute `min_lr` for every group, when given).
    """

    def __init__(
        self,
        optimizer: Optimizer,
        warmup_steps: int,
        decay_steps: int,
        decay_start_step: int | None = None,
        min_lr: float | None = None,
        min_lr_ratio: float = 0.0,
        decay_shape: str = "linear",
        last_epoch: int = -1,
    ) -> None:
        _check_nonnegative(warmup_steps=warmup_steps, decay_steps=decay_steps, decay_start_step=decay_start_step)
        if decay_shape not in DECAY_SHAPES:
            raise FgError(f"WSD: unknown decay_shape {decay_shape!r}", hint="use " + ", ".join(DECAY_SHAPES))
        if decay_start_step is not None and decay_start_step < warmup_steps:
            raise FgError(f"WSD: decay_start_step {decay_start_step} falls inside warmup ({warmup_steps} steps)")
        if min_lr is not None and min_lr_ratio:
            raise FgError("WSD: give min_lr or min_lr_ratio, not both")
        self.warmup_steps, self.decay_steps = warmup_steps, decay_steps
        self.decay_start_step = decay_start_step
        self.min_lr, self.min_lr_ratio, self.decay_shape = min_lr, min_lr_ratio, decay_shape
        super().__init__(optimizer, last_epoch)

    def start_decay(self, step: int | None = None) -> int:
        """Begin the decay at `step` (default: now, the next step's LR is the plateau's). Returns the step."""
        start = self.last_epoch if step is None else step
        if start < self.warmup_steps:
            raise FgError(f"WSD: cannot start the decay at step {start}, inside warmup ({self.warmup_steps} steps)")
        self.decay_start_step = start
        return start

    def decaying(self) -> bool:
        return self.decay_start_step is not None and self.last_epoch >= self.decay_start_step

    def factor(self, step: int) -> float:
        if step < self.warmup_steps:
            return _warmup(step, self.warmup_steps)
        if self.decay_start_step is None or step < self.decay_start_step:
            return 1.0
        progress = (step - self.decay_start_step) / self.decay_steps if self.decay_steps else 1.0
        return _decay_shape(progress, self.decay_shape)

    def get_lr(self) -> list[float]:
        f = self.factor(self.last_epoch)
        lrs = []
        for base in self.base_lrs:
            floor = self.min_lr if self.min_lr is not None else base * self.min_lr_ratio
            plateau_or_warmup = self.decay_start_step is None or self.last_epoch < self.decay_start_step
            lrs.append(base * f if plateau_or_warmup else floor + (base - floor) * f)
        return lrs

    _get_closed_form_lr = get_lr
