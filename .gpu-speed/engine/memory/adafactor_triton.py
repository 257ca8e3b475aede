"""Adafactor's step as Triton kernels, with optional bf16 stochastic rounding.

Same algorithm, hyperparameters and state layout as `torch.optim.Adafactor`
(so either can load the other's state): factored second moment for
matrices (row_var [R, 1], col_var [1, C]), a full one for vectors, the
update clipped by its RMS (threshold `d`), step size
max(eps2, RMS(param)) * min(lr, 1/sqrt(t)), decoupled weight decay.

PyTorch's version launches a dozen kernels per matrix, materialises the
[R, C] variance estimate and the update, and syncs the host three times
(`.item()` on norms). Here a matrix costs three passes over the gradient
and no host sync:

1. one tiled pass accumulates the row and column sums of g² and Σp²
   (atomic adds across tiles);
2. the row/col running averages and the step size are updated as small
   vectors on the device;
3. a pass computes Σu² of the update u = g / sqrt(r_i c_j / mean(r));
4. a last pass recomputes u and writes p·(1 - lr·wd) - α / max(1, RMS(u)/d) · u,
   optionally rounding to bf16 stochastically so tiny updates to bf16
   weights are not always rounded away.

Triton is imported lazily: this module imports on machines without it, and
`TritonAdafactor` refuses to run (FgError) where the kernels cannot.
`TRITON_INTERPRET=1` runs the kernels on CPU tensors for testing.
"""

from __future__ import annotations

import importlib.util
import math
import os

import torch

from fgtui.engine.errors import FgError
from fgtui.engine.optim.closure import closure_loss

_BLOCK_R, _BLOCK_C, _BLOCK = 32, 128, 1024


def triton_available() -> bool:
    """Whether the kernels can run here: triton importable, and CUDA (or the interpreter)."""
    if importlib.util.find_spec("triton") is None:
        return False
    return torch.cuda.is_available() or _interpreting()


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET") == "1"


def _kernels():
    from fgtui.engine.memory import adafactor_kernels as k

    return k.triton, k.factored_stats, k.factored_update_sq, k.factored_apply, k.vector_stats, k.vector_apply


def adafactor_step_(
    p: torch.Tensor,
    grad: torch.Tensor,
    state: dict,
    *,
    lr: float,
    beta2_decay: float,
    eps1: float | None,
    eps2: float,
    d: float,
    weight_decay: float,
    stochastic_rounding: bool = False,
    seed: int = 0,
    relative_step: bool = True,
) -> None:
    """One Adafactor update of `p` in place from `grad`, with `state` as torch.optim.Adafactor keeps it.

    `relative_step=False` takes the step size as `lr` itself instead of
    max(eps2, RMS(p)) * min(lr, 1/sqrt(t)): fgtui's (and Forgather's) Adafactor rule."""
    triton, factored_stats, factored_update_sq, factored_apply, vector_stats, vector_apply = _kernels()
    if eps1 is None:
        eps1 = torch.finfo(p.dtype).eps
    state["step"] += 1
    t = float(state["step"])
    one_minus_beta2 = t**beta2_decay
    rho = min(lr, 1.0 / math.sqrt(t))
    decay = 1.0 - lr * weight_decay
    stochastic = bool(stochastic_rounding and p.dtype == torch.bfloat16)
    f32 = dict(dtype=torch.float32, device=p.device)
    psq = torch.zeros(1, **f32)
    usq = torch.zeros(1, **f32)
    if p.dim() == 2:
        R, C = p.shape
        row_sum = torch.zeros(R, **f32)
        col_sum = torch.zeros(C, **f32)
        grid = (triton.cdiv(R, _BLOCK_R), triton.cdiv(C, _BLOCK_C))
        factored_stats[grid](grad, p, row_sum, col_sum, psq, R, C, BLOCK_R=_BLOCK_R, BLOCK_C=_BLOCK_C)
        row_var, col_var = state["row_var"], state["col_var"]
        row_var.view(-1).lerp_((row_sum / C).to(row_var.dtype), one_minus_beta2)
        col_var.view(-1).lerp_((col_sum / R).to(col_var.dtype), one_minus_beta2)
        row_f32 = row_var.view(-1).float().contiguous()
        col_f32 = col_var.view(-1).float().contiguous()
        r_mean = row_f32.mean().clamp(min=eps1).reshape(1)
        factored_update_sq[grid](
            grad, row_f32, col_f32, r_mean, usq, R, C, eps1 * eps1, BLOCK_R=_BLOCK_R, BLOCK_C=_BLOCK_C
        )
        alpha = (psq / p.numel()).sqrt().clamp(min=eps2) * rho if relative_step else psq.fill_(lr)
        factored_apply[grid](
            p,
            grad,
            row_f32,
            col_f32,
            r_mean,
            usq,
            alpha,
            R,
            C,
            eps1 * eps1,
            decay,
            d,
            seed,
            STOCHASTIC=stochastic,
            BLOCK_R=_BLOCK_R,
            BLOCK_C=_BLOCK_C,
        )
    else:
        n = p.numel()
        grid = (triton.cdiv(n, _BLOCK),)
        vector_stats[grid](grad, p, state["variance"], usq, psq, n, one_minus_beta2, eps1 * eps1, BLOCK=_BLOCK)
        alpha = (psq / n).sqrt().clamp(min=eps2) * rho if relative_step else psq.fill_(lr)
        vector_apply[grid](
            p, grad, state["variance"], usq, alpha, n, eps1 * eps1, decay, d, seed, STOCHASTIC=stochastic, BLOCK=_BLOCK
        )


class TritonAdafactor(torch.optim.Optimizer):
    """`torch.optim.Adafactor` with its step in Triton; `stochastic_rounding` for bf16 parameters.

    Parameters must be 1-D or 2-D, contiguous, on CUDA (the shapes of every
    LLM weight); anything else is refused rather than silently run another way.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        beta2_decay: float = -0.8,
        eps: tuple[float | None, float] = (None, 1e-3),
        d: float = 1.0,
        weight_decay: float = 0.0,
        *,
        stochastic_rounding: bool = False,
        seed: int = 0,
        relative_step: bool = True,
    ) -> None:
        if not triton_available():
            raise FgError(
                "the Triton Adafactor step needs triton and a CUDA device",
                hint="use the PyTorch Adafactor on this machine, or pip install triton on a CUDA host",
            )
        defaults = dict(
            lr=lr,
            beta2_decay=beta2_decay,
            eps=eps,
            d=d,
            weight_decay=weight_decay,
            stochastic_rounding=stochastic_rounding,
            relative_step=relative_step,
        )
        super().__init__(params, defaults)
        self._seeds = torch.Generator().manual_seed(seed)
        for group in self.param_groups:
            for p in group["params"]:
                if p.dim() not in (1, 2) or not p.is_contiguous() or not (p.is_cuda or _interpreting()):
                    raise FgError(
                        f"Triton Adafactor handles contiguous 1-D/2-D CUDA parameters, got shape "
                        f"{tuple(p.shape)} on {p.device}",
                        hint="use the PyTorch Adafactor for this model",
                    )

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure_loss(closure)
        for group in self.param_groups:
            eps1, eps2 = group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    if p.dim() == 2:
                        state["row_var"] = p.new_zeros(p.shape[0], 1)
                        state["col_var"] = p.new_zeros(1, p.shape[1])
                    else:
                        state["variance"] = torch.zeros_like(p)
                seed = int(torch.randint(0, 2**31 - 1, (1,), generator=self._seeds))
                adafactor_step_(
                    p,
                    p.grad.contiguous(),
                    state,
                    lr=float(group["lr"]),
                    beta2_decay=group["beta2_decay"],
                    eps1=eps1,
                    eps2=eps2,
                    d=group["d"],
                    weight_decay=group["weight_decay"],
                    stochastic_rounding=group["stochastic_rounding"],
                    seed=seed,
                    relative_step=group.get("relative_step", True),
                )
        return loss


def kernels_fit(params) -> bool:
    """Whether TritonAdafactor should take these parameters: triton importable and every
    parameter a contiguous 1-D/2-D CUDA tensor (the interpreter is for tests, never chosen)."""
    flat = [
        p[1] if isinstance(p, tuple) else p  # named parameters come as (name, tensor)
        for item in params
        for p in (item["params"] if isinstance(item, dict) else [item])
    ]
    return (
        bool(flat)
        and torch.cuda.is_available()
        and triton_available()
        and all(p.dim() in (1, 2) and p.is_contiguous() and p.is_cuda for p in flat)
    )


_announced: set[str] = set()


def Adafactor(
    params,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    beta2_decay: float = -0.8,
    eps: tuple[float, float] = (1e-30, 1e-3),
    clip_threshold: float = 1.0,
    bf16_stochastic_rounding: bool = True,
    seed: int = 0,
    use_triton: bool | None = None,
):
    """fgtui's Adafactor (absolute step `lr`, update RMS clipped at `clip_threshold`,
    no first moment, bf16 stochastic rounding), its step run by the Triton kernels
    where they can take the parameters (CUDA, 1-D/2-D), else by
    fgtui.engine.optim.Adafactor. Both implement the same update; the choice is
    printed once per kind so a run says which one it used. `use_triton` forces the
    choice (True also runs under TRITON_INTERPRET=1, for tests).
    """
    from fgtui.engine.optim.adafactor import Adafactor as TorchAdafactor

    params = list(params)
    if use_triton if use_triton is not None else kernels_fit(params):
        choice = "Triton"
        # The kernels floor the variance at eps1**2 rather than adding eps1 to g**2. 1e-30 would
        # square to 0 (GPUs flush float32 subnormals too), and an all-zero gradient row, e.g. an
        # unseen token's embedding, would then divide 0 by 0; 1e-15 floors at 1e-30, the
        # PyTorch step's own eps1.
        optimizer = TritonAdafactor(
            params,
            lr=lr,
            beta2_decay=beta2_decay,
            eps=(max(eps[0], 1e-15), eps[1]),
            d=clip_threshold,
            weight_decay=weight_decay,
            stochastic_rounding=bf16_stochastic_rounding,
            seed=seed,
            relative_step=False,
        )
    else:
        choice = "PyTorch"
        optimizer = TorchAdafactor(
            params,
            lr=lr,
            beta2_decay=beta2_decay,
            eps=eps,
            clip_threshold=clip_threshold,
            weight_decay=weight_decay,
            bf16_stochastic_rounding=bf16_stochastic_rounding,
            seed=seed,
        )
    if choice not in _announced:
        _announced.add(choice)
        reason = "kernels fit the parameters" if choice == "Triton" else "no triton/CUDA, or a parameter it cannot take"
        print(f"Adafactor: {choice} step ({reason})", flush=True)
    return optimizer
