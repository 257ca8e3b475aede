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

        Packed rows (documents, no window, no cache; any length) get their block
        structure straight from the document ids (`document_block_mask`):
        O((T/128)^2) work, no T x T evaluation, nothing to compile. Other rule
        sets go through torch's `create_block_mask`, compiled on CUDA so it never
        materializes the T x T grid either; that compile is slow (minutes at 16K
        on an H200, most of it in ptxas) and repeats for every new length, which
        is why packed rows of any length must never take that path.
        """
        key = ("block", sliding_window)
        if key not in self._cache:
            window_matters = sliding_window is not None and sliding_window < self.kv_len
            if self.document_ids is not None and self.key_padding is None and not window_matters and self.q_offset == 0:
                self._cache[key] = document_block_mask(self.document_ids, self.mask_mod(None))
            else:
                batch = self.batch_size if (self.document_ids is not None or self.key_padding is not None) else None
                self._cache[key] = _create_block_mask(self.device.type)(
                    self.mask_mod(sliding_window), batch, None, self.q_len, self.kv_len, device=self.device
                )
        return self._cache[key]


FLEX_BLOCK = 128  # flex-attention's default tile (BlockMask.BLOCK_SIZE)
_block_mask_builders: dict[str, Any] = {}


def _create_block_mask(device_type: str):
    """torch's create_block_mask; compiled on CUDA, where the eager version evaluates
    mask_mod on the whole T x T grid at once (GiBs at 64K)."""
    if device_type not in _block_mask_builders:
        from torch.nn.attention.flex_attention import create_block_mask

        _block_mask_builders[device_type] = (
            torch.compile(create_block_mask) if device_type == "cuda" else create_block_mask
        )
    return _block_mask_builders[device_type]


def _ordered_indices(blocks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """BlockMask's (num_blocks, indices) form of a boolean [B, 1, nQ, nK] block table:
    per query block, how many kv blocks are set and which (set ones first, in order)."""
    counts = blocks.sum(dim=-1, dtype=torch.int32)
    indices = torch.argsort(blocks.to(torch.int8), dim=-1, descending=True, stable=True).to(torch.int32)
    return counts, indices


def document_block_mask(document_ids: torch.Tensor, mask_mod, block: int = FLEX_BLOCK):
    """A causal, document-masked BlockMask for packed rows, from per-block document ranges.

    For each tile of `block` queries x `block` keys, with [lo, hi] the range of
    document ids in the tile's queries and in its keys:

    - skipped when the keys lie after the queries, or the two ranges do not meet
      (no query can share a document with any key);
    - full (no mask_mod evaluated) when both ranges are one and the same document
      and the tile is strictly below the diagonal: every pair is visible;
    - partial otherwise (diagonal tiles, tiles across a document boundary);
      `mask_mod` decides per element there.

    Exact for any document numbering: ranges that meet only make a tile partial,
    and mask_mod then hides what it must. Runs on the ids' device, no host sync.
    """
    from torch.nn.attention.flex_attention import BlockMask

    batch, seq = document_ids.shape
    n = -(-seq // block)
    # Padding (id -1) trails the documents; renumbering it past every document keeps the ids
    # non-decreasing along the row, so the range test below is exact (pad still equals only pad).
    # A ragged last tile is filled with that same id: its range then only widens, which can
    # make a tile partial but never hides a visible pair; flex_attention masks the tail itself.
    ordered = document_ids.masked_fill(document_ids < 0, torch.iinfo(document_ids.dtype).max)
    if n * block != seq:
        tail = ordered.new_full((batch, n * block - seq), torch.iinfo(ordered.dtype).max)
        ordered = torch.cat([ordered, tail], dim=-1)
    tiles = ordered.reshape(batch, n, block)
    lo, hi = tiles.amin(dim=-1), tiles.amax(dim=-1)  # [B, n]
    q_lo, q_hi = lo[:, :, None], hi[:, :, None]
    k_lo, k_hi = lo[:, None, :], hi[:, None, :]
    index = torch.arange(n, device=document_ids.device)
    causal = index[None, :] <= index[:, None]  # [nQ, nK]: kv block not after q block
    below = index[None, :] < index[:, None]
    meets = (k_lo <= q_hi) & (q_lo <= k_hi)
    visible = causal[None] & meets
    full = below[None] & (q_lo == q_hi) & (k_lo == k_hi) & (q_lo == k_lo)
    partial = visible & ~full
    kv_num, kv_idx = _ordered_indices(partial[:, None])
    full_num, full_idx = _ordered_indices(full[:, None])
    return BlockMask.from_kv_blocks(
        kv_num, kv_idx, full_num, full_idx, BLOCK_SIZE=block, mask_mod=mask_mod, seq_lengths=(seq, seq)
    )
