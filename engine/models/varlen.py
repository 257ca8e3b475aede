"""PyTorch's variable-length flash attention (`torch.nn.attention.varlen.varlen_attn`) for
packed rows: every document is its own sequence, so no block mask and no masked tiles.

Its keyword arguments changed across releases: causality is `is_causal=True` in
some, `window_size=(-1, 0)` in later ones, and grouped-query heads need
`enable_gqa=True` where that keyword exists. The call is built from the installed
function's signature, not from a version number. Where the function or a CUDA flash
kernel is missing the kernel is absent: `unavailable_reason()` says why, and asking
for it raises instead of running something else.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

_probe: tuple[Any, frozenset[str]] | str | None = None


def _function() -> tuple[Any, frozenset[str]] | str:
    """(varlen_attn, its keyword names), or why there is none in this torch."""
    global _probe
    if _probe is None:
        try:
            from torch.nn.attention.varlen import varlen_attn
        except ImportError:
            _probe = f"torch {torch.__version__} has no torch.nn.attention.varlen.varlen_attn (PyTorch 2.10 or later)"
        else:
            names = frozenset(inspect.signature(varlen_attn).parameters)
            if "is_causal" not in names and "window_size" not in names:
                _probe = f"torch {torch.__version__}'s varlen_attn takes neither is_causal nor window_size"
            else:
                _probe = (varlen_attn, names)
    return _probe


def missing() -> str | None:
    """Why this torch has no usable varlen_attn, or None when it has one."""
    found = _function()
    return found if isinstance(found, str) else None


def unavailable_reason(device: torch.device | str, dtype: torch.dtype, head_dim: int) -> str | None:
    """None when varlen attention can run on `device` for this dtype and head size, else why not."""
    if missing() is not None:
        return missing()
    if torch.device(device).type != "cuda":
        return "varlen attention is a CUDA flash kernel; this runs on " + torch.device(device).type
    if dtype not in (torch.float16, torch.bfloat16):
        return f"varlen attention runs in float16 or bfloat16, not {dtype}"
    if head_dim % 8 or head_dim > 256:
        return f"varlen attention needs a head size that is a multiple of 8 up to 256, not {head_dim}"
    return None


def supports_gqa() -> bool:
    """Whether grouped-query heads go in as they are (else keys and values are repeated)."""
    found = _function()
    return not isinstance(found, str) and "enable_gqa" in found[1]


def sequence_bounds(document_ids: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Cumulative sequence starts (int32, with the total at the end) and the longest
    sequence of a [B, T] packed batch flattened row after row: a sequence is a run of
    equal ids within a row (padding, id < 0, runs as its own sequence, as it does under
    the document mask). One host sync for the longest length."""
    rows, width = document_ids.shape
    flat = document_ids.reshape(-1)
    starts = torch.ones_like(flat, dtype=torch.bool)
    starts[1:] = flat[1:] != flat[:-1]
    starts[::width] = True
    first = starts.nonzero().squeeze(-1).to(torch.int32)
    total = torch.tensor([flat.numel()], dtype=torch.int32, device=flat.device)
    bounds = torch.cat([first, total])
    return bounds, int((bounds[1:] - bounds[:-1]).max())


def causal_varlen_tokens(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bounds: torch.Tensor, longest: int
) -> torch.Tensor:
    """Causal attention within each sequence of packed [B, T, H, D] tensors (the projections'
    layout, flattened to tokens without a copy); returns [B, T, H, D]."""
    found = _function()
    if isinstance(found, str):
        raise RuntimeError(found)
    varlen_attn, names = found
    batch, seq, heads, head_dim = q.shape
    kv_heads = k.shape[2]
    if kv_heads != heads and "enable_gqa" not in names:
        k = k.repeat_interleave(heads // kv_heads, dim=2)
        v = v.repeat_interleave(heads // kv_heads, dim=2)
        kv_heads = heads
    extra: dict[str, Any] = {"is_causal": True} if "is_causal" in names else {"window_size": (-1, 0)}
    if kv_heads != heads:
        extra["enable_gqa"] = True

    def tokens(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(batch * seq, t.shape[2], head_dim)

    out = varlen_attn(tokens(q), tokens(k), tokens(v), bounds, bounds, longest, longest, **extra)
    return out.view(batch, seq, heads, head_dim)


def causal_varlen(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bounds: torch.Tensor, longest: int
) -> torch.Tensor:
    """Causal attention within each sequence of packed [B, H, T, D] tensors; returns [B, H, T, D]."""
    out = causal_varlen_tokens(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), bounds, longest)
    return out.transpose(1, 2)
