"""Speed and memory switches applied as functions over an unchanged model (torchtitan's shape).

Order, when several apply: activation checkpointing -> per-block compile -> data
parallel. FSDP2, pipeline and tensor parallel would be further functions here.
"""
from __future__ import annotations

import functools
from typing import Any

from fgtui.engine.errors import FgError


def transformer_blocks(model: Any) -> list[Any]:
    """The repeated blocks: the ModuleList holding the most parameters."""
    import torch

    best, best_count = None, 0
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) > 1:
            count = sum(p.numel() for p in module.parameters())
            if count > best_count:
                best, best_count = module, count
    if best is None:
        raise FgError(f"cannot find the transformer blocks of {type(model).__name__}",
                      hint="the model needs an nn.ModuleList of blocks for this switch")
    return list(best)


def apply_activation_checkpointing(model: Any) -> None:
    """Recompute each block's activations in backward instead of storing them."""
    own = getattr(model, "enable_activation_checkpointing", None)
    if callable(own):
        own()
        return
    if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        return
    if hasattr(model, "gradient_checkpointing_enable"):
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        return
    from torch.utils.checkpoint import checkpoint

    # Patching forward per block keeps parameter names (and so checkpoints) unchanged,
    # which a wrapper module would not.
    for block in transformer_blocks(model):
        original = block.forward

        @functools.wraps(original)
        def forward(*args: Any, _original=original, **kwargs: Any) -> Any:
            return checkpoint(_original, *args, use_reentrant=False, **kwargs)

        block.forward = forward


def apply_block_compile(model: Any) -> None:
    """torch.compile each block in place: compile time of one block, names unchanged."""
    for block in transformer_blocks(model):
        block.compile()


def apply_ddp(model: Any, device: Any) -> Any:
    """Wrap in DistributedDataParallel (gradients all-reduced in backward)."""
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)
