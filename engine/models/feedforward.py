"""Gated feed-forward block (SwiGLU by default, Shazeer 2020)."""

from __future__ import annotations

import torch
from torch import nn

from fgtui.engine.models import fused


class GLUFeedForward(nn.Module):
    """`down_proj(act(gate_proj(x)) * up_proj(x))`, HF Llama parameter names, no biases."""

    def __init__(self, hidden_size: int, intermediate_size: int, activation: str = "silu") -> None:
        super().__init__()
        if activation not in fused.GLU_REFERENCE:
            from fgtui.engine.errors import FgError

            raise FgError(
                f"feed-forward: unknown activation {activation!r}", hint="use " + ", ".join(fused.GLU_REFERENCE)
            )
        self.gate_proj = nn.Linear(hidden_size, intermediate_size, bias=False)
        self.up_proj = nn.Linear(hidden_size, intermediate_size, bias=False)
        self.down_proj = nn.Linear(intermediate_size, hidden_size, bias=False)
        self.glu = fused.GLU_REFERENCE[activation]  # act(gate) * up
        # The product as one compiled kernel (fused.py); off = the eager reference.
        self.fused_pointwise = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(self.hidden(x))

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """`act(gate_proj(x)) * up_proj(x)`, the down projection's input."""
        gate, up = self.gate_proj(x), self.up_proj(x)
        glu = fused.compiled(self.glu) if self.fused_pointwise and fused.applies(gate) else self.glu
        return glu(gate, up)
