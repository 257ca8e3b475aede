"""Key/value cache for incremental decoding."""

from __future__ import annotations

import torch


class KVCache:
    """Per-layer keys and values [B, H_kv, T, D] of every token seen so far.

    Grows by concatenation: simple and exact. Keys are stored after RoPE, so
    cached positions never need re-rotation.
    """

    def __init__(self) -> None:
        self.keys: dict[int, torch.Tensor] = {}
        self.values: dict[int, torch.Tensor] = {}

    @property
    def seq_len(self) -> int:
        """Number of cached positions (0 before the first forward)."""
        if not self.keys:
            return 0
        return next(iter(self.keys.values())).shape[-2]

    def update(self, layer_idx: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append this step's keys/values for one layer; return the full history."""
        if layer_idx in self.keys:
            k = torch.cat((self.keys[layer_idx], k), dim=-2)
            v = torch.cat((self.values[layer_idx], v), dim=-2)
        self.keys[layer_idx] = k
        self.values[layer_idx] = v
        return k, v

    def reorder(self, index: torch.Tensor) -> None:
        """Keep only batch rows `index` (drop finished sequences)."""
        for layer_idx in self.keys:
            self.keys[layer_idx] = self.keys[layer_idx].index_select(0, index)
            self.values[layer_idx] = self.values[layer_idx].index_select(0, index)
