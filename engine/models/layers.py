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


class _DecoderLayer(nn.Module):
    """What both wirings take: the three factories, the width and the layer's index.
    `_build` assigns the parts in the order the subclass registers them (their names
    and order are the checkpoint's)."""

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
        self._build(
            lambda: attention_factory(layer_idx=layer_idx), feedforward_factory, lambda: norm_factory(hidden_size)
        )

    def _build(
        self, attention: Callable[[], nn.Module], feedforward: Callable[[], nn.Module], norm: Callable[[], nn.Module]
    ) -> None:
        raise NotImplementedError


class PreNormLayer(_DecoderLayer):
    """Pre-norm (Llama): `x + attn(norm(x))`, then `x + mlp(norm(x))`."""

    def _build(self, attention, feedforward, norm) -> None:
        self.input_layernorm = norm()
        self.self_attn = attention()
        self.post_attention_layernorm = norm()
        self.mlp = feedforward()

    def forward(
        self, hidden_states: torch.Tensor, position_embeddings, mask: AttentionMask, cache: KVCache | None = None
    ) -> torch.Tensor:
        return self.feedforward_block(self.attention_block(hidden_states, position_embeddings, mask, cache))

    # The two residual halves, apart so that activation checkpointing can treat them
    # differently (engine/memory/checkpointing.py, feedforward_chunks).
    def attention_block(
        self, hidden_states: torch.Tensor, position_embeddings, mask: AttentionMask, cache: KVCache | None = None
    ) -> torch.Tensor:
        return hidden_states + self.self_attn(self.input_layernorm(hidden_states), position_embeddings, mask, cache)

    def feedforward_block(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return hidden_states + self.mlp(self.post_attention_layernorm(hidden_states))


class PostNormLayer(_DecoderLayer):
    """Post-norm (original Transformer): `norm(x + attn(x))`, then `norm(x + mlp(x))`.

    Not an HF architecture: its norms are named after where they sit
    (`post_attention_layernorm`, `post_feedforward_layernorm`).
    """

    def _build(self, attention, feedforward, norm) -> None:
        self.self_attn = attention()
        self.post_attention_layernorm = norm()
        self.mlp = feedforward()
        self.post_feedforward_layernorm = norm()

    def forward(
        self, hidden_states: torch.Tensor, position_embeddings, mask: AttentionMask, cache: KVCache | None = None
    ) -> torch.Tensor:
        hidden_states = self.post_attention_layernorm(
            hidden_states + self.self_attn(hidden_states, position_embeddings, mask, cache)
        )
        return self.post_feedforward_layernorm(hidden_states + self.mlp(hidden_states))
