"""Causal self-attention with grouped-query heads, optional QK-norm and sliding window.

Four interchangeable kernels, chosen by `attn_implementation`, or `auto`
(the default) to choose per forward pass from the mask:

- `sdpa`: `torch.nn.functional.scaled_dot_product_attention`. With only a
  causal rule it runs `is_causal=True`, so CUDA picks flash or
  memory-efficient kernels; any other rule becomes a dense boolean mask
  (correct everywhere, O(T^2) memory).
- `flex_attention`: block-sparse masks (document boundaries of packed batches,
  sliding windows) without materializing T x T; compile it for speed on GPU.
- `varlen`: packed rows through PyTorch's variable-length flash kernel
  (`engine/models/varlen.py`), each document a sequence of its own; CUDA, 16-bit,
  torch 2.10 or later. Absent elsewhere: asking for it there is an error.
- `eager`: plain matmul + float32 softmax, the reference the others are tested against.
- `auto`: packed batches (document ids) on CUDA use `varlen` where it runs (no
  padding mask, no binding sliding window, 16-bit, grouped-query heads only where
  this torch's varlen takes them) and else `flex_attention` with a
  block mask built from the document boundaries, so each document attends only to
  itself and no T x T mask exists; everything else uses `sdpa` (its causal
  kernels, or its dense mask for padding on CPU-sized work).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from fgtui.engine.errors import FgError
from fgtui.engine.models import varlen
from fgtui.engine.models.cache import KVCache
from fgtui.engine.models.masks import AttentionMask
from fgtui.engine.models.norm import RMSNorm
from fgtui.engine.models.rope import apply_rotary

ATTN_KERNELS = ("auto", "sdpa", "flex_attention", "varlen", "eager")
_flex_kernels: dict[str, object] = {}
_NOT_VARLEN = "use auto (it takes varlen only where varlen runs), flex_attention or sdpa"


def _flex(device_type: str):
    """flex_attention, compiled on CUDA (the eager fallback materializes T x T scores).

    Imported lazily: flex_attention pulls in torch._dynamo. On CPU the eager
    reference path is kept; compiling there costs more than it saves at test sizes.
    """
    if device_type not in _flex_kernels:
        from torch.nn.attention.flex_attention import flex_attention

        _flex_kernels[device_type] = torch.compile(flex_attention) if device_type == "cuda" else flex_attention
    return _flex_kernels[device_type]


class CausalSelfAttention(nn.Module):
    """Multi-head / grouped-query causal attention with HF Llama parameter names.

    `q_proj`, `k_proj`, `v_proj`, `o_proj` (no biases), and `q_norm` / `k_norm`
    (RMSNorm over head_dim, applied before RoPE as in Qwen3) when `qk_norm`.
    """

    def __init__(
        self,
        hidden_size: int,
        num_attention_heads: int,
        num_key_value_heads: int | None = None,
        head_dim: int | None = None,
        *,
        layer_idx: int = 0,
        qk_norm: bool = False,
        rms_norm_eps: float = 1e-6,
        sliding_window: int | None = None,
        attn_implementation: str = "sdpa",
        qk_norm_factory: Callable[[int], nn.Module] | None = None,
    ) -> None:
        super().__init__()
        num_key_value_heads = num_key_value_heads or num_attention_heads
        head_dim = head_dim or hidden_size // num_attention_heads
        if num_attention_heads % num_key_value_heads:
            raise FgError(
                f"attention: num_attention_heads {num_attention_heads} is not divisible by "
                f"num_key_value_heads {num_key_value_heads}"
            )
        if attn_implementation not in ATTN_KERNELS:
            raise FgError(
                f"attention: unknown attn_implementation {attn_implementation!r}", hint="use " + ", ".join(ATTN_KERNELS)
            )
        self.layer_idx = layer_idx
        self.num_heads = num_attention_heads
        self.num_kv_heads = num_key_value_heads
        self.head_dim = head_dim
        self.sliding_window = sliding_window
        if attn_implementation == "varlen" and varlen.missing():
            raise FgError(f"attention: attn_implementation 'varlen': {varlen.missing()}", hint=_NOT_VARLEN)
        self.attn_implementation = attn_implementation
        self.q_proj = nn.Linear(hidden_size, num_attention_heads * head_dim, bias=False)
        self.k_proj = nn.Linear(hidden_size, num_key_value_heads * head_dim, bias=False)
        self.v_proj = nn.Linear(hidden_size, num_key_value_heads * head_dim, bias=False)
        self.o_proj = nn.Linear(num_attention_heads * head_dim, hidden_size, bias=False)
        if qk_norm:
            make_norm = qk_norm_factory or (lambda dim: RMSNorm(dim, eps=rms_norm_eps))
            self.q_norm = make_norm(head_dim)
            self.k_norm = make_norm(head_dim)
        else:
            self.q_norm = self.k_norm = None
        # RoPE as one compiled kernel (fused.py); off = the eager reference.
        self.fused_pointwise = False

    def forward(
        self,
        hidden_states: torch.Tensor,
        position_embeddings: tuple[torch.Tensor, torch.Tensor] | None,
        mask: AttentionMask,
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        batch, seq, _ = hidden_states.shape
        q = self.q_proj(hidden_states).view(batch, seq, self.num_heads, self.head_dim)
        k = self.k_proj(hidden_states).view(batch, seq, self.num_kv_heads, self.head_dim)
        v = self.v_proj(hidden_states).view(batch, seq, self.num_kv_heads, self.head_dim)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        if position_embeddings is not None:
            # Rotated in the projections' own [B, T, H, D] layout, before any transpose: the
            # kernel reads and writes contiguous rows (on the [B, H, T, D] view it strode
            # across heads, forward and backward).
            q, k = apply_rotary(q, k, *position_embeddings, head_axis=2, fused=self.fused_pointwise)
        if cache is None and self.kernel_for(mask, q.device.type, q.dtype) == "varlen":
            # varlen takes tokens first, the projections' own layout: no transposes either way.
            self._check_varlen(q, mask)
            out = varlen.causal_varlen_tokens(q, k, v, *mask.varlen_bounds())
            return self.o_proj(out.reshape(batch, seq, self.num_heads * self.head_dim))
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        if cache is not None:
            k, v = cache.update(self.layer_idx, k, v)
        out = self._attend(q, k, v, mask)
        return self.o_proj(out.transpose(1, 2).reshape(batch, seq, self.num_heads * self.head_dim))

    def kernel_for(self, mask: AttentionMask, device_type: str, dtype: torch.dtype | None = None) -> str:
        """The kernel this layer runs for `mask`: the configured one, or auto's choice.
        `dtype` is the one q/k/v have (default: the projections' weights)."""
        if self.attn_implementation != "auto":
            return self.attn_implementation
        packed = mask.document_ids is not None and mask.q_offset == 0
        if not packed or device_type != "cuda":
            return "sdpa"
        dtype = dtype or self.q_proj.weight.dtype
        # Grouped-query heads go to varlen only where it takes them as they are: repeating
        # keys and values for it costs memory flex does not need (measured for neither).
        native_heads = self.num_kv_heads == self.num_heads or varlen.supports_gqa()
        runs = varlen.unavailable_reason(device_type, dtype, self.head_dim) is None
        if native_heads and runs and mask.varlen_exact(self.sliding_window):
            return "varlen"
        return "flex_attention"

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: AttentionMask) -> torch.Tensor:
        gqa = self.num_kv_heads != self.num_heads
        kernel = self.kernel_for(mask, q.device.type, q.dtype)
        if kernel == "sdpa":
            return F.scaled_dot_product_attention(q, k, v, enable_gqa=gqa, **mask.sdpa_kwargs(self.sliding_window))
        if kernel == "flex_attention":
            return _flex(q.device.type)(q, k, v, block_mask=mask.block_mask(self.sliding_window), enable_gqa=gqa)
        if kernel == "varlen":
            self._check_varlen(q, mask)
            return varlen.causal_varlen(q, k, v, *mask.varlen_bounds())
        return self._eager(q, k, v, mask)

    def _check_varlen(self, q: torch.Tensor, mask: AttentionMask) -> None:
        """attn_implementation=varlen where it cannot run exactly is an error, never another kernel."""
        reason = varlen.unavailable_reason(q.device, q.dtype, self.head_dim)
        if reason is None and not mask.varlen_exact(self.sliding_window):
            reason = (
                "varlen attention takes causal rows split into documents only,"
                " not a padding mask, a KV cache or a binding sliding window"
            )
        if reason is not None:
            raise FgError(f"attention: attn_implementation 'varlen': {reason}", hint=_NOT_VARLEN)

    def _eager(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: AttentionMask) -> torch.Tensor:
        groups = self.num_heads // self.num_kv_heads
        if groups > 1:
            k = k.repeat_interleave(groups, dim=1)
            v = v.repeat_interleave(groups, dim=1)
        scores = (q @ k.transpose(-2, -1)) * self.head_dim**-0.5
        scores = scores.masked_fill(~mask.dense(self.sliding_window), float("-inf"))
        weights = torch.softmax(scores.float(), dim=-1).to(q.dtype)
        return weights @ v
