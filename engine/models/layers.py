"""Decoder layers: how attention, feed-forward and norms are wired around the residual.

Each layer is built from three factories, so a template swaps one part
without touching the rest (seed 000's `layer_factory` example):

    layer_factory: !partial:fgtui.engine.models.layers:PostNormLayer

- `attention_factory(layer_idx=i) -> module(hidden, position_embeddings, mask, cache)`
- `feedforward_factory() -> module(hidden)`
- `norm_factory(hidden_size) -> module(hidden)`
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from fgtui.engine.models.cache import KVCache
from fgtui.engine.models.masks import AttentionMask


class PreNormLayer(nn.Module):
    """Pre-norm (Llama): `x + attn(norm(x))`, then `x + mlp(norm(x))`."""

    def __init__(
        self,
        attention_factory: Callable[..., nn.Module],
        feedforward_factory: Callable[[], nn.Module],
        norm_factory: Callable[[int], nn.Module],
        *,
        hidden_size: int,
        layer_idx: int = 0,
    ) -> None:
        super().__init__()
        self.layer_idx = layer_idx
        self.input_layernorm = norm_factory(hidden_size)
        self.self_attn = attention_factory(layer_idx=layer_idx)
        self.post_attention_layernorm = norm_factory(hidden_size)
        self.mlp = feedforward_factory()

    def forward(
        self, hidden_states: torch.Tensor, position_embeddings, mask: AttentionMask, cache: KVCache | None = None
    ) -> torch.Tensor:
        hidden_states = hidden_states + self.self_attn(
            self.input_layernorm(hidden_states), position_embeddings, mask, cache
        )
        return hidden_states + self.mlp(self.post_attention_layernorm(hidden_states))


class PostNormLayer(nn.Module):
    """Post-norm (original Transformer): `norm(x + attn(x))`, then `norm(x + mlp(x))`.

    Not an HF architecture: its norms are named after where they sit
    (`post_attention_layernorm`, `post_feedforward_layernorm`).
    """

    def __init__(
        self,
        attention_factory: Callable[..., nn.Module],
        feedforward_factory: Callable[[], nn.Module],
        norm_factory: Callable[[int], nn.Module],
        *,
        hidden_size: int,
        layer_idx: int = 0,
    ) -> None:
        super().__init__()
        self.layer_idx = layer_idx
        self.self_attn = attention_factory(layer_idx=layer_idx)
        self.post_attention_layernorm = norm_factory(hidden_size)
        self.mlp = feedforward_factory()
        self.post_feedforward_layernorm = norm_factory(hidden_size)

    def forward(
        self, hidden_states: torch.Tensor, position_embeddings, mask: AttentionMask, cache: KVCache | None = None
    ) -> torch.Tensor:
        hidden_states = self.post_attention_layernorm(
            hidden_states + self.self_attn(hidden_states, position_embeddings, mask, cache)
        )
        return self.post_feedforward_layernorm(hidden_states + self.mlp(hidden_states))
