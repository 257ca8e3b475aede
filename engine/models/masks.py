"""Which keys each query may attend to, for every attention backend.

One `AttentionMask` is built per forward pass and shared by all layers. It
combines four rules, all optional except causality:

- causal: query at absolute position `q_offset + i` sees keys `<=` that position;
- padding: `attention_mask[b, j] == 0` hides key `j` (covers cached keys too);
- documents: in packed batches, `document_ids[b, i] != document_ids[b, j]` hides `j`;
- sliding window: a key more than `window - 1` positions back is hidden
  (HF's convention: `q - k < window`).

Backends ask for the form they need: `sdpa_kwargs()` lets SDPA use
`is_causal=True` when it is exact (fast kernels, no mask tensor); `dense()` gives a boolean
[B, 1, Tq, Tk] tensor for SDPA/eager; `block_mask()` a flex-attention
BlockMask. Results are cached per window size, so layers share them.
"""

from __future__ import annotations

from typing import Any

import torch


class AttentionMask:
    """The attention visibility of one forward pass (see module docstring)."""

    def __init__(
        self,
        batch_size: int,
        q_len: int,
        kv_len: int,
        device: torch.device,
        attention_mask: torch.Tensor | None = None,
        document_ids: torch.Tensor | None = None,
    ) -> None:
        self.batch_size = batch_size
        self.q_len = q_len
        self.kv_len = kv_len
        self.q_offset = kv_len - q_len
        self.device = device
        # A padding mask that is all ones changes nothing; dropping it keeps the fast causal path.
        if attention_mask is not None and bool(attention_mask.all()):
            attention_mask = None
        self.key_padding = attention_mask.bool() if attention_mask is not None else None
        if document_ids is not None and document_ids.shape[-1] != kv_len:
            raise ValueError(
                f"document_ids cover {document_ids.shape[-1]} tokens but attention spans {kv_len}; "
                "packed-document masks are not supported together with a KV cache"
            )
        self.document_ids = document_ids
        self._cache: dict[tuple[str, Any], Any] = {}

    def is_plain_causal(self, sliding_window: int | None) -> bool:
        """True when only causality applies (no padding, documents or binding window)."""
        window_matters = sliding_window is not None and sliding_window < self.kv_len
        return self.key_padding is None and self.document_ids is None and not window_matters

    def varlen_exact(self, sliding_window: int | None) -> bool:
        """True when causal attention within each document is the whole rule set, which is
        what the varlen kernel computes: no padding mask, no cached prefix, no binding window.
        (Documents are runs of equal ids, as packing writes them.)"""
        window_matters = sliding_window is not None and sliding_window < self.kv_len
        return self.key_padding is None and self.q_offset == 0 and not window_matters

    def varlen_bounds(self) -> tuple[torch.Tensor, int]:
        """The varlen kernel's (cumulative sequence starts, longest sequence) for this batch,
        each document (or each row, unpacked) a sequence; built once, shared by all layers."""
        key = ("varlen", None)
        if key not in self._cache:
            from fgtui.engine.models.varlen import sequence_bounds

            docs = self.document_ids
            if docs is None:
                docs = torch.zeros(self.batch_size, self.kv_len, dtype=torch.long, device=self.device)
            self._cache[key] = sequence_bounds(docs)
        return self._cache[key]

    def sdpa_kwargs(self, sliding_window: int | None) -> dict[str, Any]:
        """`attn_mask` / `is_causal` arguments for scaled_dot_product_attention.

        Plain causal attention over a whole sequence uses the kernel's causal
        mode (flash / memory-efficient on CUDA); one new token behind a cache
        sees every key, so it needs no mask. SDPA's `is_causal` aligns the
        triangle top-left, which is wrong for several new tokens behind a
        cache, so that case gets a dense mask.
        """
        if self.is_plain_causal(sliding_window):
            if self.q_len == self.kv_len:
                return {"is_causal": True}
            if self.q_len == 1:
                return {}
        return {"attn_mask": self.dense(sliding_window)}

    def dense(self, sliding_window: int | None) -> torch.Tensor:
        """Boolean [B, 1, Tq, Tk]; True = may attend."""
        key = ("dense", sliding_window)
        if key not in self._cache:
            q_pos = torch.arange(self.q_offset, self.kv_len, device=self.device)[:, None]
            k_pos = torch.arange(self.kv_len, device=self.device)[None, :]
            allowed = k_pos <= q_pos
            if sliding_window is not None:
                allowed = allowed & (q_pos - k_pos < sliding_window)
            allowed = allowed[None].expand(self.batch_size, -1, -1)
            if self.document_ids is not None:
                docs = self.document_ids
                allowed = allowed & (docs[:, self.q_offset :, None] == docs[:, None, :])
            if self.key_padding is not None:
                allowed = allowed & self.key_padding[:, None, :]
                # A padded query row would see no key at all; SDPA then returns NaN,
                # which leaks through 0-weights in later layers. Let it see itself.
                diagonal = (k_pos == q_pos)[None]
                allowed = allowed | diagonal
            self._cache[key] = allowed[:, None]
        return self._cache[key]

    def mask_mod(self, sliding_window: int | None):
        """The flex-attention `mask_mod(b, h, q_idx, kv_idx) -> bool` for these rules."""
        q_offset = self.q_offset
        docs = self.document_ids
        padding = self.key_padding

        def mask_mod(b, h, q_idx, kv_idx):
            q_abs = q_idx + q_offset
            allowed = kv_idx <= q_abs
            if sliding_window is not None:
                allowed = allowed & (q_abs - kv_idx < sliding_window)
            if docs is not None:
                allowed = allowed & (docs[b, q_abs] == docs[b, kv_idx])
            if padding is not None:
                allowed = (allowed & padding[b, kv_idx]) | (kv_idx == q_abs)
            return allowed

        return mask_mod

    def block_mask(self, sliding_window: int | None):
        """A flex-attention BlockMask, built once per window size and shared by all layers.

        Its block structure comes straight from the rules (`rule_block_mask`): per
        128 x 128 tile, from the ranges of positions, document ids and padding in the
        tile's queries and keys; O((T/128)^2) work, no T x T evaluation, nothing to
        compile, for every rule set (documents, padding, sliding window, a KV cache
        offset) and any length. torch's `create_block_mask` would evaluate mask_mod on
        the whole grid (GiBs at 64K eagerly; compiled, minutes of compile at 16K,
        again for every new length).
        """
        key = ("block", sliding_window)
        if key not in self._cache:
            window = sliding_window if sliding_window is not None and sliding_window < self.kv_len else None
            self._cache[key] = rule_block_mask(
                self.batch_size,
                self.q_len,
                self.kv_len,
                self.device,
                self.mask_mod(window),
                document_ids=self.document_ids,
                key_padding=self.key_padding,
                sliding_window=window,
            )
        return self._cache[key]


FLEX_BLOCK = 128  # flex-attention's default tile (BlockMask.BLOCK_SIZE)


def _ordered_indices(blocks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """BlockMask's (num_blocks, indices) form of a boolean [B, 1, nQ, nK] block table:
    per query block, how many kv blocks are set and which (set ones first, in order)."""
    counts = blocks.sum(dim=-1, dtype=torch.int32)
    indices = torch.argsort(blocks.to(torch.int8), dim=-1, descending=True, stable=True).to(torch.int32)
    return counts, indices


def _tile_ranges(values: torch.Tensor, length: int, n: int, block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per tile of `block` along the last dim, the min and max of `values` over the tile's
    in-range positions (a ragged last tile only spans what exists)."""
    lead = values.shape[:-1]
    pad = n * block - length
    if pad:
        low = values[..., -1:].expand(*lead, pad)  # repeating the last value widens no range
        values = torch.cat([values, low], dim=-1)
    tiles = values.reshape(*lead, n, block)
    return tiles.amin(dim=-1), tiles.amax(dim=-1)


def rule_block_mask(
    batch: int,
    q_len: int,
    kv_len: int,
    device: torch.device,
    mask_mod,
    *,
    document_ids: torch.Tensor | None = None,
    key_padding: torch.Tensor | None = None,
    sliding_window: int | None = None,
    block: int = FLEX_BLOCK,
):
    """The BlockMask of AttentionMask's rules, from per-tile ranges.

    Queries sit at absolute positions `kv_len - q_len + i`. For each tile of `block`
    queries x `block` keys, with [lo, hi] the ranges of positions and document ids in
    the tile's queries and in its keys, and whether its keys are all / partly padding:

    - skipped when no pair can be visible: every key after every query, every key
      outside every query's window, document ranges that do not meet, or keys that
      are all padding (unless the tile holds a query's own position, which padding
      leaves visible);
    - full (no mask_mod evaluated) when every pair is visible: every key at or before
      every query and within its window, one and the same document on both sides, no
      padded key;
    - partial otherwise; mask_mod decides per element there.

    Exact for any document numbering: ranges that meet only make a tile partial, and
    mask_mod then hides what it must. Runs on the device, no host sync.
    """
    from torch.nn.attention.flex_attention import BlockMask

    n_q, n_k = -(-q_len // block), -(-kv_len // block)
    offset = kv_len - q_len
    q_pos = torch.arange(offset, kv_len, device=device)
    k_pos = torch.arange(kv_len, device=device)
    q_lo, q_hi = (r[:, None] for r in _tile_ranges(q_pos, q_len, n_q, block))  # [nQ, 1]
    k_lo, k_hi = (r[None, :] for r in _tile_ranges(k_pos, kv_len, n_k, block))  # [1, nK]
    visible = k_lo <= q_hi
    full = k_hi <= q_lo
    if sliding_window is not None:
        visible = visible & (q_lo - k_hi < sliding_window)
        full = full & (q_hi - k_lo < sliding_window)
    visible = visible[None].expand(batch, n_q, n_k)
    full = full[None].expand(batch, n_q, n_k)
    if document_ids is not None:
        # Padding (id < 0) renumbered past every document keeps packed rows' ids
        # non-decreasing, so their ranges stay tight (pad still equals only pad).
        docs = document_ids.masked_fill(document_ids < 0, torch.iinfo(document_ids.dtype).max)
        dq_lo, dq_hi = _tile_ranges(docs[:, offset:], q_len, n_q, block)
        dk_lo, dk_hi = _tile_ranges(docs, kv_len, n_k, block)
        dq_lo, dq_hi, dk_lo, dk_hi = dq_lo[:, :, None], dq_hi[:, :, None], dk_lo[:, None, :], dk_hi[:, None, :]
        visible = visible & (dk_lo <= dq_hi) & (dq_lo <= dk_hi)
        full = full & (dq_lo == dq_hi) & (dk_lo == dk_hi) & (dq_lo == dk_lo)
    if key_padding is not None:
        valid = key_padding.to(torch.int8)
        any_valid, all_valid = (r.bool() for r in reversed(_tile_ranges(valid, kv_len, n_k, block)))
        own = (k_lo <= q_hi) & (q_lo <= k_hi)  # the tile holds some query's own position
        visible = (visible & any_valid[:, None, :]) | (visible & own[None])
        full = full & all_valid[:, None, :]
    partial = visible & ~full
    kv_num, kv_idx = _ordered_indices(partial[:, None])
    full_num, full_idx = _ordered_indices(full[:, None])
    return BlockMask.from_kv_blocks(
        kv_num, kv_idx, full_num, full_idx, BLOCK_SIZE=block, mask_mod=mask_mod, seq_lengths=(q_len, kv_len)
    )
