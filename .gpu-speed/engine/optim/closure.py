"""The closure contract of `torch.optim.Optimizer.step`, for fgtui's own optimizers."""

from __future__ import annotations

from typing import Any, Callable

import torch


def closure_loss(closure: Callable[[], Any] | None) -> Any:
    """The loss `closure` recomputes (with gradients on, as step() runs under no_grad), or None."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()
