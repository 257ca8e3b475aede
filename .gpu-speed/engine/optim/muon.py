"""Muon for hidden weight matrices and AdamW for everything else, as one optimizer.

`torch.optim.Muon` only accepts 2-D parameters, yet Muon is meant for the
hidden matrices alone: embeddings, the output head, norms and biases need
AdamW. Two optimizers would mean two state dicts and two schedulers; this
class holds both kinds of group, so one LR scheduler scales them together
and one `state_dict()` resumes them. The Muon update follows
`torch.optim.Muon` (Nesterov momentum, Newton-Schulz orthogonalization in
bf16, shape-based LR adjustment) and is tested equal to it; the AdamW update
is tested equal to `torch.optim.AdamW`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch.optim import Optimizer

from fgtui.engine.errors import FgError
from fgtui.engine.optim.closure import closure_loss
from fgtui.engine.optim.param_groups import NO_DECAY_PATTERNS

NS_COEFFICIENTS = (3.4445, -4.775, 2.0315)
MUON_EXCLUDE = (r"embed", r"lm_head")


def orthogonalize(
    matrix: torch.Tensor, steps: int = 5, coefficients: tuple[float, float, float] = NS_COEFFICIENTS, eps: float = 1e-7
) -> torch.Tensor:
    """Approximate U V^T of `matrix = U S V^T` by a quintic Newton-Schulz iteration in bf16."""
    a, b, c = coefficients
    x = matrix.bfloat16()
    tall = matrix.size(0) > matrix.size(1)
    if tall:
        x = x.T
    x = x / x.norm().clamp(min=eps)  # spectral norm <= Frobenius norm <= 1: inside the iteration's basin
    for _ in range(steps):
        gram = x @ x.T
        poly = torch.addmm(gram, gram, gram, beta=b, alpha=c)
        x = torch.addmm(x, poly, x, beta=a)
    return x.T if tall else x


def adjusted_lr(lr: float, shape: torch.Size, rule: str | None) -> float:
    """Muon's per-shape LR: "original" sqrt(max(1, rows/cols)); "match_rms_adamw" 0.2 sqrt(max(rows, cols))."""
    rows, cols = shape[:2]
    if rule in (None, "original"):
        return lr * math.sqrt(max(1.0, rows / cols))
    if rule == "match_rms_adamw":
        return lr * 0.2 * math.sqrt(max(rows, cols))
    raise FgError(f"Muon: unknown adjust_lr_fn {rule!r}", hint="use original or match_rms_adamw")


def split_for_muon(
    named_parameters: Iterable[tuple[str, torch.Tensor]],
    muon_exclude: Sequence[str] = MUON_EXCLUDE,
    no_decay_patterns: Sequence[str] = NO_DECAY_PATTERNS,
) -> tuple[list[tuple[str, torch.Tensor]], list[tuple[str, torch.Tensor]], list[tuple[str, torch.Tensor]]]:
    """(muon, adamw with decay, adamw without decay) lists of (name, parameter).

    Muon gets 2-D matrices whose names match none of `muon_exclude`.
    """
    exclude = [re.compile(p) for p in muon_exclude]
    no_decay = [re.compile(p) for p in no_decay_patterns]
    muon, decay, plain = [], [], []
    seen: set[int] = set()
    for name, param in named_parameters:
        if not param.requires_grad or id(param) in seen:
            continue
        seen.add(id(param))
        if param.dim() == 2 and not any(p.search(name) for p in exclude):
            muon.append((name, param))
        elif any(p.search(name) for p in no_decay):
            plain.append((name, param))
        else:
            decay.append((name, param))
    return muon, decay, plain


class Muon(Optimizer):
    """Muon on hidden matrices, AdamW on the rest (see module docstring).

    `params` is `model.named_parameters()` (split automatically), or a list
    of group dicts each with `use_muon: bool` for full control. Muon options
    (`lr`, `momentum`, ...) apply to Muon groups, `adamw_*` ones to AdamW groups.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.02,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_steps: int = 5,
        ns_coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
        eps: float = 1e-7,
        weight_decay: float = 0.1,
        adjust_lr_fn: str | None = None,
        adamw_lr: float = 3e-4,
        adamw_betas: tuple[float, float] = (0.9, 0.95),
        adamw_eps: float = 1e-8,
        adamw_weight_decay: float = 0.1,
        muon_exclude: Sequence[str] = MUON_EXCLUDE,
        no_decay_patterns: Sequence[str] = NO_DECAY_PATTERNS,
    ) -> None:
        adjusted_lr(1.0, torch.Size((1, 1)), adjust_lr_fn)  # validate the rule name early
        muon_opts = dict(
            lr=lr,
            momentum=momentum,
            nesterov=nesterov,
            ns_steps=ns_steps,
            ns_coefficients=tuple(ns_coefficients),
            eps=eps,
            weight_decay=weight_decay,
            adjust_lr_fn=adjust_lr_fn,
        )
        adamw_opts = dict(lr=adamw_lr, betas=tuple(adamw_betas), eps=adamw_eps, weight_decay=adamw_weight_decay)
        params = list(params)
        if params and isinstance(params[0], dict):
            groups = []
            for group in params:
                if "use_muon" not in group:
                    raise FgError("Muon: every parameter group needs use_muon: true/false")
                base = muon_opts if group["use_muon"] else adamw_opts
                groups.append({**base, **group})
        elif params and isinstance(params[0], tuple):
            muon, decay, plain = split_for_muon(params, muon_exclude, no_decay_patterns)
            groups = [
                {**muon_opts, "use_muon": True, "params": [p for _, p in muon], "param_names": [n for n, _ in muon]},
                {
                    **adamw_opts,
                    "use_muon": False,
                    "params": [p for _, p in decay],
                    "param_names": [n for n, _ in decay],
                },
                {
                    **adamw_opts,
                    "use_muon": False,
                    "weight_decay": 0.0,
                    "params": [p for _, p in plain],
                    "param_names": [n for n, _ in plain],
                },
            ]
            groups = [g for g in groups if g["params"]]
        else:
            raise FgError(
                "Muon needs model.named_parameters() or groups with use_muon",
                hint="plain tensors cannot tell hidden matrices from embeddings",
            )
        for group in groups:
            if group["use_muon"] and any(p.dim() != 2 for p in group["params"]):
                raise FgError("Muon: use_muon groups may hold only 2-D matrices")
        super().__init__(groups, {})

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure_loss(closure)
        for group in self.param_groups:
            update = self._muon if group["use_muon"] else self._adamw
            for param in group["params"]:
                if param.grad is not None:
                    update(param, group)
        return loss

    def _muon(self, param: torch.Tensor, group: dict[str, Any]) -> None:
        state = self.state[param]
        if not state:
            state["momentum_buffer"] = torch.zeros_like(param.grad)
        grad, buf = param.grad, state["momentum_buffer"]
        buf.lerp_(grad, 1 - group["momentum"])
        direction = grad.lerp(buf, group["momentum"]) if group["nesterov"] else buf
        direction = orthogonalize(direction, group["ns_steps"], group["ns_coefficients"], group["eps"])
        param.mul_(1 - group["lr"] * group["weight_decay"])
        param.add_(direction, alpha=-adjusted_lr(group["lr"], param.shape, group["adjust_lr_fn"]))

    def _adamw(self, param: torch.Tensor, group: dict[str, Any]) -> None:
        state = self.state[param]
        if not state:
            state["step"] = torch.tensor(0.0)
            state["exp_avg"] = torch.zeros_like(param)
            state["exp_avg_sq"] = torch.zeros_like(param)
        beta1, beta2 = group["betas"]
        grad = param.grad
        state["step"] += 1
        step = state["step"].item()
        state["exp_avg"].lerp_(grad, 1 - beta1)
        state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        param.mul_(1 - group["lr"] * group["weight_decay"])
        denom = (state["exp_avg_sq"].sqrt() / math.sqrt(1 - beta2**step)).add_(group["eps"])
        param.addcdiv_(state["exp_avg"], denom, value=-group["lr"] / (1 - beta1**step))
