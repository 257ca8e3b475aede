"""Keys and values of every sequence being decoded together, one row each.

Rows join and leave at any step (continuous batching), with prompts of any
length. Each row's tokens sit right-aligned on one shared time axis: the next
token of every row is written at the same column `length`, so one forward
serves the whole batch with a padding mask marking each row's unused left
columns. A row that joins with a longer prompt than the axis shifts the others
right; columns no row uses any more are trimmed from the left. Keys are stored
after RoPE with each row's own position ids, so shifting columns never
re-rotates anything.

It speaks the model's cache protocol (`seq_len`, `update`), so the model's
forward signature is unchanged; storage is preallocated and grown by doubling
rather than concatenated every step.
"""

from __future__ import annotations

import torch

from fgtui.engine.models.cache import KVCache


class BatchKVCache(KVCache):
    def __init__(self, max_rows: int, device: torch.device) -> None:
        super().__init__()
        self.max_rows, self.device = max_rows, device
        self.rows = 0
        self.length = 0  # columns in use (the shared time axis)
        self.capacity = 0
        self.valid = torch.zeros(max_rows, 0, dtype=torch.bool, device=device)

    # ------------------------------------------------------- the model's protocol
    @property
    def seq_len(self) -> int:
        return self.length

    def update(self, layer_idx: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One decode step: the new column of every row; returns every row's history."""
        rows, steps = k.shape[0], k.shape[-2]
        end = self.length + steps
        self.keys[layer_idx][:rows, :, self.length : end] = k
        self.values[layer_idx][:rows, :, self.length : end] = v
        return self.keys[layer_idx][:rows, :, :end], self.values[layer_idx][:rows, :, :end]

    def reorder(self, index: torch.Tensor) -> None:
        raise NotImplementedError("rows leave a BatchKVCache through remove_row")

    # ------------------------------------------------------------ decode steps
    def step_mask(self) -> torch.Tensor:
        """Grow room for one more column, mark it used for every row; the mask
        [rows, length + 1] the next forward attends with (call `advance` after it)."""
        if self.length + 1 > self.capacity:
            self._relayout(max(64, 2 * self.capacity), 0, 0)
        self.valid[: self.rows, self.length] = True
        return self.valid[: self.rows, : self.length + 1]

    def advance(self, steps: int = 1) -> None:
        self.length += steps

    # ------------------------------------------------------------- rows
    def add_row(self, prompt_cache: KVCache) -> int:
        """Copy a prefilled prompt's keys/values (batch 1) in as a new row; its index."""
        if self.rows >= self.max_rows:
            raise RuntimeError("BatchKVCache is full")
        size = prompt_cache.seq_len
        if not self.keys:
            self._allocate(prompt_cache, max(64, _next_power_of_two(size + 1)))
        if size > self.length:  # a longer prompt: everyone moves right to make room
            shift = size - self.length
            needed = size + 1
            self._relayout(max(self.capacity, _next_power_of_two(needed)), 0, shift)
            self.length = size
        elif self.length + 1 > self.capacity:
            self._relayout(2 * self.capacity, 0, 0)
        row, start = self.rows, self.length - size
        for layer in self.keys:
            self.keys[layer][row, :, start : self.length] = prompt_cache.keys[layer][0]
            self.values[layer][row, :, start : self.length] = prompt_cache.values[layer][0]
        self.valid[row].zero_()
        self.valid[row, start : self.length] = True
        self.rows += 1
        return row

    def remove_row(self, row: int) -> int | None:
        """Drop a row; the last row moves into its place. Returns the moved row's old index."""
        last = self.rows - 1
        moved = None
        if row != last:
            for layer in self.keys:
                self.keys[layer][row, :, : self.length] = self.keys[layer][last, :, : self.length]
                self.values[layer][row, :, : self.length] = self.values[layer][last, :, : self.length]
            self.valid[row] = self.valid[last]
            moved = last
        self.valid[last].zero_()
        self.rows -= 1
        if self.rows == 0:
            self.length = 0
        return moved

    def trim(self, unused: int) -> None:
        """Drop `unused` leading columns that no row uses (worth it once they are many)."""
        if unused >= 32 and unused * 4 >= self.length:
            self._relayout(self.capacity, unused, 0)
            self.length -= unused

    # ------------------------------------------------------------- storage
    def _allocate(self, like: KVCache, capacity: int) -> None:
        for layer, k in like.keys.items():
            shape = (self.max_rows, k.shape[1], capacity, k.shape[3])
            self.keys[layer] = torch.zeros(shape, dtype=k.dtype, device=self.device)
            self.values[layer] = torch.zeros(shape, dtype=like.values[layer].dtype, device=self.device)
        self.valid = torch.zeros(self.max_rows, capacity, dtype=torch.bool, device=self.device)
        self.capacity = capacity

    def _relayout(self, capacity: int, drop: int, shift: int) -> None:
        """New storage of `capacity` columns: old columns [drop, length) land at `shift`."""
        span = self.length - drop
        for store in (self.keys, self.values):
            for layer, old in store.items():
                new = torch.zeros(
                    old.shape[0], old.shape[1], capacity, old.shape[3], dtype=old.dtype, device=old.device
                )
                new[: self.rows, :, shift : shift + span] = old[: self.rows, :, drop : self.length]
                store[layer] = new
        valid = torch.zeros(self.max_rows, capacity, dtype=torch.bool, device=self.device)
        valid[: self.rows, shift : shift + span] = self.valid[: self.rows, drop : self.length]
        self.valid, self.capacity = valid, capacity


def _next_power_of_two(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())
