"""Global gradient-norm clipping folded into a fused optimizer's own kernel.

`clip_grad_norm_` multiplies every gradient by the clip coefficient after measuring
the norm: one more read and write of all gradients each step (8.8 GB at 1.1B
parameters in float32). torch's fused Adam, AdamW and SGD divide each gradient by
`optimizer.grad_scale` inside their single kernel (that is how GradScaler unscales
fp16 gradients), so setting it to the coefficient's reciprocal clips in the pass the
optimizer makes anyway. The gradients end up clipped in place, as with
`clip_grad_norm_`; the values agree to rounding (a division by the reciprocal
instead of a multiplication by the coefficient).
"""

from __future__ import annotations

from typing import Any

_SCALED_STEP = ("Adam", "AdamW", "SGD")


def folds_clip(optimizer: Any) -> bool:
    """Whether `optimizer` clips through `grad_scale`: its step() is torch's Adam, AdamW or
    SGD step (those classes, or subclasses that leave step alone, as fgtui's AdamW does;
    one that overrides it may never read grad_scale) with `fused=True` in every
    parameter group (only the fused kernels read it)."""
    import inspect

    import torch

    # Unwrapped: torch wraps a class's step in a profiling hook the first time an instance
    # of that class is made, so a subclass's inherited step is another wrapper object.
    steps = {inspect.unwrap(getattr(torch.optim, name).step) for name in _SCALED_STEP}
    groups = getattr(optimizer, "param_groups", None)
    torch_step = inspect.unwrap(type(optimizer).step) in steps
    return torch_step and bool(groups) and all(group.get("fused") for group in groups)


def clip_divisor(total_norm: Any, max_norm: float) -> Any:
    """What to divide the gradients by to clip them to `max_norm`: the reciprocal of
    `clip_grad_norm_`'s coefficient min(max_norm / (norm + 1e-6), 1), as a float32
    device tensor (the fused kernels read it on the device, no host sync)."""
    import torch

    return torch.clamp((total_norm.float() + 1e-6) / max_norm, min=1.0)


def step_with_clip(optimizer: Any, total_norm: Any, max_norm: float) -> None:
    """One step of a `folds_clip` optimizer with its gradients clipped to `max_norm`
    (their global norm is `total_norm`) inside the step."""
    optimizer.grad_scale = clip_divisor(total_norm, max_norm)
    try:
        optimizer.step()
    finally:
        # Left set, it would rescale the next step's gradients, clipped or not.
        optimizer.grad_scale = None
