"""Building optimizers from configs: by type name, with regex parameter groups.

Templates usually write the optimizer as a partial that the trainer calls
with the model's parameters:

    optimizer_factory: !partial:fgtui.engine.optim:AdamW { lr: 3.0e-4, weight_decay: 0.1 }

`grouped(...)` wraps such a factory so it receives regex parameter groups.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch

from fgtui.engine.errors import FgError
from fgtui.engine.optim.param_groups import NO_DECAY_PATTERNS, make_param_groups


def _all_on_cuda(params: list[Any]) -> bool:
    tensors = [t for item in params for t in (item["params"] if isinstance(item, dict) else [item])]
    return bool(tensors) and all(isinstance(t, torch.Tensor) and t.is_cuda for t in tensors)


class AdamW(torch.optim.AdamW):
    """`torch.optim.AdamW` that uses the fused kernel whenever every parameter is on CUDA.

    `fused=None` decides automatically; True or False forces it.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
        fused: bool | None = None,
        **kwargs: Any,
    ) -> None:
        params = list(params)
        if fused is None:
            fused = _all_on_cuda(params)
        super().__init__(
            params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, fused=fused or None, **kwargs
        )


def resolve_optimizer_class(name: str | type) -> type:
    """An optimizer class from "AdamW", "torch.optim.SGD", "fgtui.engine.optim:Adafactor" or a class."""
    if isinstance(name, type):
        return name
    from fgtui.engine import optim as ours

    if ":" in name or "." in name:
        module_name, _, attr = name.replace(":", ".").rpartition(".")
        try:
            found = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError):
            raise FgError(
                f"optimizer type {name!r} not found", hint="write module.Class, e.g. torch.optim.SGD"
            ) from None
    elif hasattr(ours, name):
        found = getattr(ours, name)
    elif hasattr(torch.optim, name):
        found = getattr(torch.optim, name)
    else:
        raise FgError(
            f"unknown optimizer {name!r}", hint="fgtui has AdamW, Adafactor, Muon; any torch.optim class works by name"
        )
    if not (isinstance(found, type) and issubclass(found, torch.optim.Optimizer)):
        raise FgError(f"{name!r} is not a torch optimizer class")
    return found


def create_optimizer(type_name: str | type, params: Iterable[Any], **kwargs: Any) -> torch.optim.Optimizer:
    """Instantiate an optimizer named in a config (`type: SGD`, `lr: ...`)."""
    cls = resolve_optimizer_class(type_name)
    try:
        return cls(params, **kwargs)
    except TypeError as exc:
        raise FgError(f"optimizer {cls.__name__}: {exc}") from None


def grouped(
    optimizer_factory: Callable[..., torch.optim.Optimizer],
    named_parameters: Iterable[tuple[str, torch.Tensor]],
    weight_decay: float = 0.0,
    no_decay_patterns: Sequence[str] = NO_DECAY_PATTERNS,
    overrides: Sequence[tuple[str, dict[str, Any]]] = (),
) -> torch.optim.Optimizer:
    """Call `optimizer_factory` with regex parameter groups (see `make_param_groups`)."""
    return optimizer_factory(make_param_groups(named_parameters, weight_decay, no_decay_patterns, overrides))
