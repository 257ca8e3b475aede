"""Parameter groups chosen by regular expressions over parameter names."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import torch

from fgtui.engine.errors import FgError

NO_DECAY_PATTERNS = (r"norm", r"bias")


def make_param_groups(
    named_parameters: Iterable[tuple[str, torch.Tensor]],
    weight_decay: float = 0.0,
    no_decay_patterns: Sequence[str] = NO_DECAY_PATTERNS,
    overrides: Sequence[tuple[str, dict[str, Any]]] = (),
) -> list[dict[str, Any]]:
    """Split parameters into optimizer groups.

    A parameter whose name matches any `no_decay_patterns` (re.search) gets
    weight_decay 0 (norm gains and biases should not shrink toward 0). Then
    the first `(regex, options)` in `overrides` that matches adds its options
    (e.g. `lr`). Parameters with equal options share one group, in first-seen
    order; each group lists `param_names` for logs and checkpoints. Frozen
    parameters (requires_grad False) are left out.
    """
    try:
        no_decay = [re.compile(p) for p in no_decay_patterns]
        compiled = [(re.compile(pattern), dict(options)) for pattern, options in overrides]
    except re.error as exc:
        raise FgError(f"parameter group pattern {exc.pattern!r}: {exc.msg}") from None
    groups: dict[tuple, dict[str, Any]] = {}
    seen: set[int] = set()
    for name, param in named_parameters:
        if not param.requires_grad or id(param) in seen:
            continue  # tied weights appear once
        seen.add(id(param))
        options: dict[str, Any] = {"weight_decay": 0.0 if any(p.search(name) for p in no_decay) else weight_decay}
        for pattern, extra in compiled:
            if pattern.search(name):
                options.update(extra)
                break
        key = tuple(sorted((k, repr(v)) for k, v in options.items()))
        group = groups.setdefault(key, {"params": [], "param_names": [], **options})
        group["params"].append(param)
        group["param_names"].append(name)
    if not groups:
        raise FgError("no trainable parameters to optimize")
    return list(groups.values())
