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


# ---------------------------------------------------------------- one recompute, not two
def chunked_feedforward(norm: nn.Module, mlp: nn.Module, x: torch.Tensor, n_chunks: int) -> torch.Tensor:
    """`mlp(norm(x))` over `n_chunks` sequence chunks as one autograd node that saves only `x`.

    For a layer whose feed-forward half is left out of the layer's checkpoint
    (checkpointing.py, `feedforward_chunks`): the forward keeps no intermediate, and
    backward recomputes each chunk once, then takes its gradients. Under a checkpointed
    layer the per-chunk `checkpoint` above runs the MLP's forward three times (forward,
    the layer's recompute, the chunk's recompute); this runs it once, and recomputes in
    backward only what the gradients need: the norm and the gate and up projections of
    a GLU MLP, not its down projection (whose output no gradient reads).

    Parameter gradients are summed over the chunks and handed to autograd once per
    step, so gradient hooks (optimizer-in-backward) see one gradient per parameter.
    """
    params = list(dict.fromkeys(p for m in (norm, mlp) for p in m.parameters() if p.requires_grad))
    return _ChunkedFeedForward.apply(x, norm, mlp, n_chunks, *params)


def _bounds(length: int, n_chunks: int) -> list[tuple[int, int]]:
    """The (start, stop) of each chunk along the sequence, as `Tensor.chunk` cuts them."""
    size = -(-length // n_chunks)
    return [(start, min(start + size, length)) for start in range(0, length, size)]


def _plain_mlp(mlp: nn.Module, x: torch.Tensor) -> torch.Tensor:
    # The class's forward, not the chunking wrapper apply_chunked_mlp puts on the
    # instance: these are already chunks.
    return type(mlp).forward(mlp, x)


def _glu_with_linear_down(mlp: nn.Module) -> bool:
    """Whether backward can skip the down projection: a GLU MLP (`hidden()` then
    `down_proj`) whose weights are plain tensors (not sharded DTensors)."""
    down = getattr(mlp, "down_proj", None)
    if not callable(getattr(mlp, "hidden", None)) or type(down) is not nn.Linear:
        return False
    return all(type(p) in (torch.Tensor, nn.Parameter) for p in down.parameters())


class _ChunkedFeedForward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, norm, mlp, n_chunks, *params):
        ctx.norm, ctx.mlp, ctx.params = norm, mlp, params
        ctx.bounds = _bounds(x.shape[-2], n_chunks)
        device = x.device.type
        ctx.autocast = (
            device,
            torch.is_autocast_enabled(device),
            torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else None,
        )
        ctx.save_for_backward(x)
        out = None
        for start, stop in ctx.bounds:
            y = _plain_mlp(mlp, norm(x[..., start:stop, :]))
            if out is None:  # the output's dtype is the MLP's (autocast's), known from the first chunk
                out = y.new_empty(*x.shape[:-1], y.shape[-1])
            out[..., start:stop, :] = y
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        norm, mlp, params = ctx.norm, ctx.mlp, ctx.params
        grads: list[torch.Tensor | None] = [None] * len(params)
        slot = {id(p): i for i, p in enumerate(params)}

        def add(param: torch.Tensor, grad: torch.Tensor | None) -> None:
            if grad is None:
                return
            i = slot[id(param)]  # callers pass only trainable parameters (those in `params`)
            grad = grad.to(param.dtype)
            grads[i] = grad if grads[i] is None else grads[i].add_(grad)

        grad_x = torch.empty_like(x)
        skip_down = _glu_with_linear_down(mlp)
        device, enabled, dtype = ctx.autocast
        with torch.enable_grad(), torch.autocast(device, dtype=dtype, enabled=enabled):
            for start, stop in ctx.bounds:
                chunk = x[..., start:stop, :].detach().requires_grad_()
                grad_chunk = grad_out[..., start:stop, :]
                normed = norm(chunk)
                if skip_down:
                    # y = hidden @ W.T (+ b): dL/dhidden = g @ W, dL/dW = g.T @ hidden, dL/db = sum g.
                    down, hidden = mlp.down_proj, mlp.hidden(normed)
                    flat = grad_chunk.reshape(-1, grad_chunk.shape[-1])
                    if id(down.weight) in slot:  # frozen weights (partial fine-tuning) get none
                        add(down.weight, flat.t().matmul(hidden.detach().reshape(-1, hidden.shape[-1])))
                    if down.bias is not None and id(down.bias) in slot:
                        add(down.bias, flat.sum(0))
                    outputs, output_grads = hidden, grad_chunk.matmul(down.weight)
                    inputs = [p for p in params if all(p is not q for q in down.parameters())]
                else:
                    outputs, output_grads, inputs = _plain_mlp(mlp, normed), grad_chunk, list(params)
                found = torch.autograd.grad(outputs, [chunk, *inputs], output_grads, allow_unused=True)
                grad_x[..., start:stop, :] = found[0]
                for param, grad in zip(inputs, found[1:]):
                    add(param, grad)
        return (grad_x, None, None, None, *grads)
