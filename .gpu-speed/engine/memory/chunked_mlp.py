"""SwiGLU MLPs run over the sequence in chunks, each chunk checkpointed.

A SwiGLU MLP builds three [tokens, intermediate] tensors (gate, up, their
product) — for Mistral-7B at 64K tokens that is 3 x 1.75 GiB in bf16, the
largest transient in a decoder layer once attention is flash/O(N). The MLP is
row-wise, so running it on `n_chunks` slices of the sequence gives the same
result while only one slice's intermediates exist at a time.

Chunking alone would not help backward: autograd would save every chunk's
intermediates. Each chunk therefore runs inside a non-reentrant
`checkpoint`, which keeps only the chunk's input and recomputes the chunk in
backward. Inside a checkpointed decoder layer this nests cleanly: the
layer's recompute runs the chunks again, and each chunk's own backward
recomputes its intermediates one chunk at a time.

Modules are found generically (anything with gate_proj, up_proj and
down_proj submodules) and patched per instance, so parameter names and
state_dict keys are unchanged.
"""

from __future__ import annotations

import functools

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from fgtui.engine.errors import FgError

_MARK = "_fgtui_chunked_mlp"


def find_swiglu_mlps(model: nn.Module) -> list[nn.Module]:
    """Modules that look like a SwiGLU MLP (gate_proj, up_proj, down_proj)."""
    return [
        m
        for m in model.modules()
        if all(isinstance(getattr(m, name, None), nn.Module) for name in ("gate_proj", "up_proj", "down_proj"))
    ]


def _chunked_forward(original, n_chunks: int, seq_dim: int):
    @functools.wraps(original)
    def forward(x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2 or x.shape[seq_dim] < 2:
            return original(x)
        chunks = x.chunk(n_chunks, dim=seq_dim)
        if not torch.is_grad_enabled():
            return torch.cat([original(c) for c in chunks], dim=seq_dim)
        outs = [checkpoint(original, c, use_reentrant=False) for c in chunks]
        return torch.cat(outs, dim=seq_dim)

    return forward


def apply_chunked_mlp(model: nn.Module, n_chunks: int, *, seq_dim: int = -2) -> int:
    """Run every SwiGLU MLP of `model` in `n_chunks` sequence chunks; returns how many were wrapped.

    `seq_dim` is the sequence axis of the MLP input ([batch, seq, hidden] → -2).
    """
    if n_chunks < 2:
        raise FgError(
            f"chunked MLP needs at least 2 chunks, got {n_chunks}", hint="leave chunked_mlp unset to run the MLP whole"
        )
    mlps = find_swiglu_mlps(model)
    if not mlps:
        raise FgError(f"{type(model).__name__} has no SwiGLU MLP (gate_proj/up_proj/down_proj) to chunk")
    for mlp in mlps:
        if _MARK in mlp.__dict__:
            raise FgError("the MLPs of this model are already chunked")
        mlp.forward = _chunked_forward(mlp.forward, n_chunks, seq_dim)
        mlp.__dict__[_MARK] = n_chunks
    return len(mlps)


def remove_chunked_mlp(model: nn.Module) -> None:
    """Undo `apply_chunked_mlp`."""
    for mlp in find_swiglu_mlps(model):
        if mlp.__dict__.pop(_MARK, None) is not None:
            del mlp.forward
