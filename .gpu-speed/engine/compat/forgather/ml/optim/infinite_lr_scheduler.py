"""`forgather.ml.optim.infinite_lr_scheduler`: warm-up, cosine cool-down, then a constant rate
(the "infinite" schedule of Ibrahim et al., 2024), with an optional final annealing.

    steps [0, warmup)                      linear from 0 to the optimizer's lr
    [warmup, warmup + cooldown)            cosine from lr down to constant_lr
    afterwards                             constant_lr (lr when there is no cool-down)
    from checkpoint_step on (if >= 0)      exponential decay from constant_lr to min_lr, time constant tau
"""

from __future__ import annotations

import math

from torch.optim.lr_scheduler import LRScheduler

from fgtui.engine.errors import FgError


class InfiniteLRScheduler(LRScheduler):
    def __init__(
        self,
        optimizer,
        warmup_steps: int = 0,
        cooldown_steps: int = 0,
        constant_lr: float = 3.75e-5,
        min_lr: float = 1e-8,
        tau: float = 1e4,
        checkpoint_step: int = -1,
        last_epoch: int = -1,
    ) -> None:
        if warmup_steps < 0 or cooldown_steps < 0:
            raise FgError("InfiniteLRScheduler: warmup_steps and cooldown_steps must be >= 0")
        if 0 <= checkpoint_step < warmup_steps + cooldown_steps:
            raise FgError(
                "InfiniteLRScheduler: checkpoint_step must come after warm-up and cool-down",
                hint="set checkpoint_step >= warmup_steps + cooldown_steps, or -1 for none",
            )
        if tau <= 0 or min_lr < 0 or constant_lr <= 0:
            raise FgError("InfiniteLRScheduler: tau and constant_lr must be > 0 and min_lr >= 0")
        self.warmup_steps, self.cooldown_steps = warmup_steps, cooldown_steps
        self.constant_lr, self.min_lr, self.tau = constant_lr, min_lr, tau
        self.checkpoint_step = checkpoint_step
        super().__init__(optimizer, last_epoch)

    def _rate(self, base_lr: float, step: int) -> float:
        if step < self.warmup_steps:
            return base_lr * step / self.warmup_steps
        if step < self.warmup_steps + self.cooldown_steps:
            progress = (step - self.warmup_steps) / self.cooldown_steps
            return self.constant_lr + (base_lr - self.constant_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))
        if 0 <= self.checkpoint_step <= step:
            decay = math.exp(-(step - self.checkpoint_step) / self.tau)
            return self.min_lr + (self.constant_lr - self.min_lr) * decay
        return self.constant_lr if self.cooldown_steps > 0 else base_lr

    def get_lr(self) -> list[float]:
        return [self._rate(base_lr, self.last_epoch) for base_lr in self.base_lrs]
