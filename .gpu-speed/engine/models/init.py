"""Weight initialization, applied after a model is materialized from the meta device."""

from __future__ import annotations

import math
import re

import torch
from torch import nn

# Output projections of each residual branch; GPT-2 style scaling shrinks them with depth.
_RESIDUAL_OUT = re.compile(r"\.(o_proj|down_proj)$")


@torch.no_grad()
def normal_init(model: nn.Module, std: float = 0.02, residual_scale: bool = False) -> None:
    """HF Llama init: Linear and Embedding weights ~ N(0, std), biases 0, norms reset to 1.

    With `residual_scale`, `o_proj` and `down_proj` use `std / sqrt(2 * num_layers)`
    so the residual stream's variance does not grow with depth.
    """
    num_layers = sum(1 for name, _ in model.named_modules() if name.endswith(".o_proj"))
    residual_std = std / math.sqrt(2 * max(num_layers, 1))
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            layer_std = residual_std if residual_scale and _RESIDUAL_OUT.search(name) else std
            nn.init.normal_(module.weight, mean=0.0, std=layer_std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.padding_idx is not None:
                module.weight[module.padding_idx].zero_()
        elif hasattr(module, "reset_parameters") and not list(module.children()):
            module.reset_parameters()
