"""`forgather.ml.optim.adafactor`: Forgather's Adafactor arguments onto fgtui's Adafactor."""

from __future__ import annotations

from typing import Any, Iterable

from fgtui.engine.errors import FgError


def Adafactor(
    params: Iterable[Any],
    lr: float = 1e-3,
    decay_rate: float = -0.8,
    clip_threshold: float = 1.0,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: tuple[float, float] = (1e-30, 1e-3),
    weight_decay: float = 0.01,
    relative_step: bool = False,
    torch_compile: bool = False,
    bf16_stochastic_round: bool = False,
    use_triton: bool = False,
) -> Any:
    """fgtui's factored second-moment optimizer without a first moment, decoupled weight decay.

    Differences from Forgather's: the second-moment decay 1 - step**decay_rate is not
    capped at `betas[1]` (with -0.8 and 0.999 the two agree for the first ~5,600 steps,
    after which Forgather's stays at the cap); `torch_compile`/`use_triton` pick kernels
    in Forgather, while fgtui picks its own under the memory switches."""
    from fgtui.engine.optim.adafactor import Adafactor as FgAdafactor

    if relative_step:
        raise FgError(
            "Adafactor relative_step is not provided by fgtui: give an lr and a schedule",
            hint="set relative_step: false (the default)",
        )
    return FgAdafactor(
        params,
        lr=lr,
        beta2_decay=decay_rate,
        eps=tuple(eps),
        clip_threshold=clip_threshold,
        weight_decay=weight_decay,
        bf16_stochastic_rounding=bf16_stochastic_round,
    )
