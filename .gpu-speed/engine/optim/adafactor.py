"""Adafactor (Shazeer & Stern 2018) with optional momentum and bf16 stochastic rounding.

Why ours rather than `torch.optim.Adafactor`: theirs has no first moment and
no stochastic rounding, and the memory recipe that trains 7B models on one
24 GB card (pure bf16 weights + factored Adafactor) needs the rounding, or
updates smaller than bf16's resolution vanish.

Per parameter of shape [..., R, C] the second moment is kept as a row vector
[..., R] and a column vector [..., C] (factored), so state costs R + C floats
instead of R * C; vectors keep a full second moment.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch.optim import Optimizer

from fgtui.engine.errors import FgError
from fgtui.engine.optim.closure import closure_loss


def stochastic_round_to_bf16(source: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Round float32 to bfloat16 up or down with probability proportional to proximity.

    Adds uniform noise below bf16's 16 kept bits of the float32 pattern, then
    truncates: E[result] = source, so many tiny updates add up instead of
    each rounding back to the same bf16 value.
    """
    bits = source.contiguous().view(torch.int32)
    noise = torch.randint(0, 1 << 16, bits.shape, dtype=torch.int32, device=bits.device, generator=generator)
    rounded = (bits + noise) & -65536  # clear the low 16 bits (0xFFFF0000 as a signed int32)
    return rounded.view(torch.float32).to(torch.bfloat16)


class Adafactor(Optimizer):
    """Adafactor with decoupled weight decay.

    Args:
        lr: step size (no relative-step schedule: use an LR scheduler).
        beta2_decay: second-moment decay `beta2_t = 1 - t ** beta2_decay`.
        eps: (eps1 added to squared gradients, eps2 floor of the parameter RMS when `scale_parameter`).
        clip_threshold: the update is scaled down so its RMS is at most this.
        beta1: momentum coefficient; None keeps no first moment (the memory-lean default).
        weight_decay: decoupled (AdamW-style) decay, `p -= lr * weight_decay * p`.
        scale_parameter: multiply the step by max(eps2, RMS(p)) (relative step size).
        bf16_stochastic_rounding: write bf16 parameters back with stochastic rounding.
        momentum_dtype: dtype of the first moment (e.g. torch.bfloat16 to halve its memory).
        seed: seeds the rounding noise; its generator state is part of `state_dict()`.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        beta2_decay: float = -0.8,
        eps: tuple[float, float] = (1e-30, 1e-3),
        clip_threshold: float = 1.0,
        beta1: float | None = None,
        weight_decay: float = 0.0,
        scale_parameter: bool = False,
        bf16_stochastic_rounding: bool = True,
        momentum_dtype: torch.dtype | None = None,
        seed: int = 0,
    ) -> None:
        if lr < 0:
            raise FgError(f"Adafactor: lr must be >= 0, got {lr}")
        if beta1 is not None and not 0.0 <= beta1 < 1.0:
            raise FgError(f"Adafactor: beta1 must be in [0, 1) or null, got {beta1}")
        if beta2_decay >= 0:
            raise FgError(f"Adafactor: beta2_decay must be negative, got {beta2_decay}")
        defaults = dict(
            lr=lr,
            beta2_decay=beta2_decay,
            eps=tuple(eps),
            clip_threshold=clip_threshold,
            beta1=beta1,
            weight_decay=weight_decay,
            scale_parameter=scale_parameter,
            bf16_stochastic_rounding=bf16_stochastic_rounding,
            momentum_dtype=momentum_dtype,
        )
        super().__init__(params, defaults)
        self._seed = seed
        self._generators: dict[str, torch.Generator] = {}

    def _generator(self, device: torch.device) -> torch.Generator:
        key = str(device)
        if key not in self._generators:
            self._generators[key] = torch.Generator(device=device).manual_seed(self._seed)
        return self._generators[key]

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["rounding_rng"] = {k: g.get_state() for k, g in self._generators.items()}
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        rng = state_dict.pop("rounding_rng", {})
        super().load_state_dict(state_dict)
        # torch casts floating state to the parameter's dtype on load; ours is float32
        # (or momentum_dtype) on purpose, so put the saved tensors back as they were.
        saved_ids = [i for group in state_dict["param_groups"] for i in group["params"]]
        params = [p for group in self.param_groups for p in group["params"]]
        for saved_id, param in zip(saved_ids, params):
            for key, value in state_dict["state"].get(saved_id, {}).items():
                if torch.is_tensor(value) and key != "step":
                    self.state[param][key] = value.to(device=param.device, copy=True)
        for key, value in rng.items():
            self._generator(torch.device(key)).set_state(value)

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure_loss(closure)
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    self._update(param, group)
        return loss

    def _update(self, param: torch.Tensor, group: dict[str, Any]) -> None:
        grad = param.grad
        if grad.is_sparse:
            raise FgError("Adafactor does not support sparse gradients")
        grad = grad.float()
        state = self.state[param]
        factored = param.dim() >= 2
        if not state:
            state["step"] = torch.tensor(0.0)
            if factored:
                state["exp_avg_sq_row"] = grad.new_zeros(grad.shape[:-1])
                state["exp_avg_sq_col"] = grad.new_zeros(grad.shape[:-2] + grad.shape[-1:])
            else:
                state["exp_avg_sq"] = torch.zeros_like(grad)
            if group["beta1"] is not None:
                state["exp_avg"] = torch.zeros_like(grad, dtype=group["momentum_dtype"] or torch.float32)
        state["step"] += 1
        step = state["step"].item()
        beta2 = 1.0 - step ** group["beta2_decay"]
        eps1, eps2 = group["eps"]
        squared = grad.square().add_(eps1)
        if factored:
            row, col = state["exp_avg_sq_row"], state["exp_avg_sq_col"]
            row.lerp_(squared.mean(dim=-1), 1.0 - beta2)
            col.lerp_(squared.mean(dim=-2), 1.0 - beta2)
            # V ~ row col^T / mean(row): exact when the squared gradients form a rank-1 matrix.
            row_factor = (row / row.mean(dim=-1, keepdim=True)).rsqrt_().unsqueeze(-1)
            update = grad * row_factor * col.rsqrt().unsqueeze(-2)
        else:
            state["exp_avg_sq"].lerp_(squared, 1.0 - beta2)
            update = grad * state["exp_avg_sq"].rsqrt()
        rms = update.square().mean().sqrt()
        update.div_((rms / group["clip_threshold"]).clamp_(min=1.0))
        if group["beta1"] is not None:
            exp_avg = state["exp_avg"]
            exp_avg.lerp_(update.to(exp_avg.dtype), 1.0 - group["beta1"])
            update = exp_avg.float()
        lr = group["lr"]
        step_size = lr * max(eps2, param.float().square().mean().sqrt().item()) if group["scale_parameter"] else lr
        target = param.float() if param.dtype != torch.float32 else param
        if group["weight_decay"]:
            target.mul_(1.0 - lr * group["weight_decay"])
        target.add_(update, alpha=-step_size)
        if target is param:
            return
        if param.dtype == torch.bfloat16 and group["bf16_stochastic_rounding"]:
            param.copy_(stochastic_round_to_bf16(target, self._generator(param.device)))
        else:
            param.copy_(target)
