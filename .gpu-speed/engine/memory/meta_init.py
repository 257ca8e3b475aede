"""Build a model with its parameters on the meta device, then materialise them in place.

A 7B model built normally first exists as 27 GB of fp32 on the host, then is
cast and copied to the GPU. Building under `init_on_meta()` allocates no
parameter memory at all; `materialize` then creates each parameter directly
on the target device in the target dtype and initialises it there.

Only parameters go to meta. Buffers stay real because many are computed in
`__init__` and are not persistent in checkpoints (RoPE's inv_freq): on meta
they would be lost, and `to_empty` would leave them uninitialised.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn


@contextlib.contextmanager
def init_on_meta() -> Iterator[None]:
    """Inside this context, every registered nn.Parameter is moved to the meta device.

    Modules create their parameters with `torch.empty` first; those host
    allocations are untouched pages and die at once, and the initialisers a
    module runs afterwards act on meta tensors (no work).
    """
    original = nn.Module.register_parameter

    def register_parameter(module: nn.Module, name: str, param: nn.Parameter | None) -> None:
        original(module, name, param)
        if param is not None and param.device.type != "meta":
            meta = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)
            module._parameters[name] = meta

    nn.Module.register_parameter = register_parameter
    try:
        yield
    finally:
        nn.Module.register_parameter = original


def default_init(module: nn.Module, std: float = 0.02) -> None:
    """GPT-style init for modules whose parameters were never initialised.

    Linear and Embedding weights ~ N(0, std); 1-D weights (norm scales) = 1;
    biases = 0. Applied with `model.apply`.
    """
    for name, p in module.named_parameters(recurse=False):
        if name == "bias" or name.endswith("_bias"):
            nn.init.zeros_(p)
        elif p.dim() == 1:
            nn.init.ones_(p)
        else:
            nn.init.normal_(p, mean=0.0, std=std)


@torch.no_grad()
def materialize(
    model: nn.Module,
    device: torch.device | str,
    dtype: torch.dtype | None = None,
    *,
    init_fn: Callable[[nn.Module], None] | None = default_init,
) -> nn.Module:
    """Give every meta parameter of `model` real storage on `device` (in `dtype`) and initialise it.

    Tied parameters stay tied (one new tensor per original). Buffers move to
    `device`, keeping their dtype. `init_fn(module)` runs on every module that
    owned a meta parameter; pass None to leave the memory uninitialised (for
    loading a checkpoint right after).
    """
    device = torch.device(device)
    replaced: dict[int, nn.Parameter] = {}
    touched: list[nn.Module] = []
    for module in model.modules():
        owned = False
        for name, p in list(module._parameters.items()):
            if p is None or p.device.type != "meta":
                continue
            new = replaced.get(id(p))
            if new is None:
                new = nn.Parameter(
                    torch.empty(p.shape, dtype=dtype or p.dtype, device=device), requires_grad=p.requires_grad
                )
                replaced[id(p)] = new
                owned = True
            module._parameters[name] = new
        if owned:
            touched.append(module)
        for name, b in list(module._buffers.items()):
            if b is not None:
                module._buffers[name] = b.to(device)
    if init_fn is not None:
        for module in touched:
            init_fn(module)
    return model


def parameter_count(model: nn.Module) -> int:
    """Number of distinct parameters (tied ones once); works on meta models."""
    seen = {id(p): p.numel() for p in model.parameters()}
    return sum(seen.values())
