"""Fused lm_head + cross-entropy that never holds the [tokens, vocab] logits.

At 100K tokens and a 32K vocabulary the logits alone are 6.4 GB in bf16 and
twice that once upcast for the softmax, more than the whole activation budget
of a 24 GB card. `linear_cross_entropy` instead walks the tokens in chunks:

- forward: per chunk, logits = h @ W.T, keep only logsumexp and the target
  logit (fp32, one value per token);
- backward: recompute each chunk's logits, turn them into
  softmax - onehot(target), and accumulate grad_hidden (written per chunk) and
  grad_weight (summed over chunks in fp32 to avoid bf16 drift over many
  chunks).

Recomputing in backward costs one extra [chunk, H] x [H, V] matmul per chunk
but keeps nothing of size V per token between forward and backward.

`impl` picks the backend: "ours" (above), "liger" (Liger-Kernel's
FusedLinearCrossEntropy), "cce" (Apple's Cut Cross-Entropy) or "auto", which
prefers an installed GPU kernel on CUDA and otherwise ours, and reports its
choice through `resolve_impl`/the module's `impl_used`.
"""

from __future__ import annotations

import importlib.util
import logging

import torch
from torch import Tensor

from fgtui.engine.errors import FgError

log = logging.getLogger("fgtui.memory")

IMPLS = ("auto", "ours", "liger", "cce")
_DEFAULT_CHUNK_BYTES = 256 * 2**20  # fp32 logits per chunk


def default_chunk_size(vocab_size: int, chunk_bytes: int = _DEFAULT_CHUNK_BYTES) -> int:
    """Rows per chunk so that one chunk of fp32 logits takes about `chunk_bytes`."""
    return max(1, chunk_bytes // (4 * vocab_size))


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx,
        hidden: Tensor,
        weight: Tensor,
        bias: Tensor | None,
        labels: Tensor,
        ignore_index: int,
        chunk_size: int,
        reduction: str,
    ) -> Tensor:
        # Backward runs outside autocast: under mixed precision, cast once here so that its
        # three matmuls per chunk run on the same 16-bit tensor cores as the forward's
        # (left to autocast they ran in float32: 124M at 32K tokens, 69 -> 170 ms a step).
        ctx.grad_dtypes = (hidden.dtype, weight.dtype, None if bias is None else bias.dtype)
        device_type = hidden.device.type
        if torch.is_autocast_enabled(device_type):
            low = torch.get_autocast_dtype(device_type)
            hidden, weight = hidden.to(low), weight.to(low)
            bias = None if bias is None else bias.to(low)
        n = hidden.shape[0]
        acc = _acc_dtype(hidden)
        lse = torch.empty(n, dtype=acc, device=hidden.device)
        target_logit = torch.zeros(n, dtype=acc, device=hidden.device)
        valid = labels != ignore_index
        # Clamp ignored labels to a real class so gather stays in range; their
        # rows are masked out of the loss and the gradient.
        safe_labels = torch.where(valid, labels, torch.zeros_like(labels))
        for start in range(0, n, chunk_size):
            stop = min(start + chunk_size, n)
            logits = _chunk_logits(hidden[start:stop], weight, bias)
            lse[start:stop] = torch.logsumexp(logits, dim=-1)
            target_logit[start:stop] = logits.gather(1, safe_labels[start:stop, None]).squeeze(1)
        per_token = torch.where(valid, lse - target_logit, torch.zeros_like(lse))
        n_valid = valid.sum()
        loss = per_token.sum()
        if reduction == "mean":
            loss = loss / n_valid
        ctx.save_for_backward(hidden, weight, bias, safe_labels, valid, lse, n_valid)
        ctx.chunk_size = chunk_size
        ctx.reduction = reduction
        return loss

    @staticmethod
    def backward(ctx, grad_loss: Tensor):
        hidden, weight, bias, labels, valid, lse, n_valid = ctx.saved_tensors
        acc = _acc_dtype(hidden)
        scale = grad_loss.to(acc)
        if ctx.reduction == "mean":
            scale = scale / n_valid
        need_h, need_w, need_b = (
            ctx.needs_input_grad[0],
            ctx.needs_input_grad[1],
            (bias is not None and ctx.needs_input_grad[2]),
        )
        grad_hidden = torch.empty_like(hidden) if need_h else None
        grad_weight = torch.zeros(weight.shape, dtype=acc, device=weight.device) if need_w else None
        grad_bias = torch.zeros(bias.shape, dtype=acc, device=bias.device) if need_b else None
        n = hidden.shape[0]
        for start in range(0, n, ctx.chunk_size):
            stop = min(start + ctx.chunk_size, n)
            h = hidden[start:stop]
            logits = _chunk_logits(h, weight, bias)
            # d(lse - logit[y])/d logits = softmax - onehot(y), computed in place.
            probs = logits.sub_(lse[start:stop, None]).exp_()
            rows = torch.arange(stop - start, device=probs.device)
            probs[rows, labels[start:stop]] -= 1.0
            probs.mul_((valid[start:stop].to(acc) * scale)[:, None])
            if need_h:
                grad_hidden[start:stop] = (probs.to(weight.dtype) @ weight).to(hidden.dtype)
            if need_w:
                # The chunk product runs on bf16 tensor cores; the sum over
                # chunks is kept in fp32.
                grad_weight.add_(probs.t().to(h.dtype) @ h)
            if need_b:
                grad_bias.add_(probs.sum(0))
        hidden_dtype, weight_dtype, bias_dtype = ctx.grad_dtypes
        return (
            grad_hidden.to(hidden_dtype) if need_h else None,
            grad_weight.to(weight_dtype) if need_w else None,
            grad_bias.to(bias_dtype) if need_b else None,
            None,
            None,
            None,
            None,
        )


def _acc_dtype(t: Tensor) -> torch.dtype:
    """fp32 for half types, fp64 stays fp64 (gradcheck)."""
    return torch.promote_types(t.dtype, torch.float32)


def _chunk_logits(h: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    # The matmul runs in the input dtype (bf16 tensor cores); softmax math in fp32.
    logits = h @ weight.t()
    if bias is not None:
        logits = logits + bias
    return logits.to(_acc_dtype(h))


def _ours(
    hidden: Tensor,
    weight: Tensor,
    labels: Tensor,
    bias: Tensor | None,
    ignore_index: int,
    chunk_size: int | None,
    reduction: str,
) -> Tensor:
    if chunk_size is None:
        chunk_size = default_chunk_size(weight.shape[0])
    if chunk_size < 1:
        raise FgError(f"linear cross-entropy chunk_size must be ≥ 1, got {chunk_size}")
    return _LinearCrossEntropy.apply(hidden, weight, bias, labels, ignore_index, chunk_size, reduction)


def _liger(hidden, weight, labels, bias, ignore_index, chunk_size, reduction):
    from liger_kernel.transformers.fused_linear_cross_entropy import LigerFusedLinearCrossEntropyLoss

    out = LigerFusedLinearCrossEntropyLoss(ignore_index=ignore_index, reduction=reduction)(weight, hidden, labels, bias)
    # Newer Liger releases can also return the z-loss; the loss comes first.
    return out[0] if isinstance(out, tuple) else out


def _cce(hidden, weight, labels, bias, ignore_index, chunk_size, reduction):
    from cut_cross_entropy import linear_cross_entropy as cce_linear_cross_entropy

    return cce_linear_cross_entropy(hidden, weight, labels, bias=bias, ignore_index=ignore_index, reduction=reduction)


_BACKENDS = {"ours": _ours, "liger": _liger, "cce": _cce}
_PACKAGES = {"liger": "liger_kernel", "cce": "cut_cross_entropy"}


def backend_available(name: str) -> bool:
    """Whether the optional package behind `name` ("liger"/"cce") is importable."""
    return importlib.util.find_spec(_PACKAGES[name]) is not None


def resolve_impl(impl: str, device: torch.device | str) -> tuple[str, str]:
    """Turn `impl` into a concrete backend and a sentence saying why.

    "auto" picks Liger, then CCE, when installed and the tensors are on CUDA
    (both are Triton kernels), else ours. Naming an absent backend is a user
    error rather than a quiet switch to another one.
    """
    if impl not in IMPLS:
        raise FgError(
            f"unknown fused linear cross-entropy implementation {impl!r}", hint=f"choose one of {', '.join(IMPLS)}"
        )
    on_cuda = torch.device(device).type == "cuda"
    if impl == "auto":
        for name in ("liger", "cce"):
            if on_cuda and backend_available(name):
                return name, f"auto picked {name}: {_PACKAGES[name]} is installed and the device is CUDA"
        why = "no CUDA device" if not on_cuda else "neither liger_kernel nor cut_cross_entropy is installed"
        return "ours", f"auto picked ours (fgtui chunked linear cross-entropy): {why}"
    if impl in _PACKAGES:
        if not backend_available(impl):
            raise FgError(
                f"fused linear cross-entropy backend {impl!r} needs the package {_PACKAGES[impl]}",
                hint=f"pip install {_PACKAGES[impl].replace('_', '-')}, or use impl 'ours' or 'auto'",
            )
        if not on_cuda:
            raise FgError(
                f"fused linear cross-entropy backend {impl!r} runs on CUDA only",
                hint="use impl 'ours' or 'auto' on this device",
            )
    return impl, f"{impl} requested"


def linear_cross_entropy(
    hidden: Tensor,
    weight: Tensor,
    labels: Tensor,
    *,
    bias: Tensor | None = None,
    ignore_index: int = -100,
    chunk_size: int | None = None,
    reduction: str = "mean",
    shift: bool = False,
    impl: str = "ours",
) -> Tensor:
    """Cross-entropy of `hidden @ weight.T (+ bias)` against `labels`, without the full logits.

    `hidden` is [..., H] and `labels` [...]. With `shift=True` the HF causal-LM
    convention applies (labels equal the input ids; position t predicts t+1),
    otherwise labels are already aligned. `reduction` is "mean" over
    non-ignored tokens (NaN when none, as `F.cross_entropy`) or "sum".
    `chunk_size` is tokens per chunk (default: about 256 MiB of fp32 logits).
    """
    if reduction not in ("mean", "sum"):
        raise FgError(f"linear cross-entropy reduction must be 'mean' or 'sum', got {reduction!r}")
    if shift:
        hidden = hidden[..., :-1, :]
        labels = labels[..., 1:]
    hidden = hidden.reshape(-1, hidden.shape[-1])
    labels = labels.reshape(-1)
    if hidden.shape[0] != labels.shape[0]:
        raise FgError(f"linear cross-entropy got {hidden.shape[0]} hidden rows for {labels.shape[0]} labels")
    name, _ = resolve_impl(impl, hidden.device)
    return _BACKENDS[name](hidden, weight, labels, bias, ignore_index, chunk_size, reduction)


class LinearCrossEntropyLoss(torch.nn.Module):
    """Loss module over an output projection; resolves its backend once and logs which.

    Call as `loss_fn(hidden, labels)`; `head` is the model's lm_head (an
    `nn.Linear`), read at call time so weight swaps and tying keep working.
    """

    def __init__(
        self,
        head: torch.nn.Linear,
        *,
        impl: str = "auto",
        ignore_index: int = -100,
        chunk_size: int | None = None,
        shift: bool = False,
    ) -> None:
        super().__init__()
        self.head = head
        self.impl_used, self.impl_reason = resolve_impl(impl, head.weight.device)
        log.info("fused linear cross-entropy: %s", self.impl_reason)
        self.ignore_index = ignore_index
        self.chunk_size = chunk_size
        self.shift = shift

    def forward(self, hidden: Tensor, labels: Tensor) -> Tensor:
        return linear_cross_entropy(
            hidden,
            self.head.weight,
            labels,
            bias=self.head.bias,
            ignore_index=self.ignore_index,
            chunk_size=self.chunk_size,
            shift=self.shift,
            impl=self.impl_used,
        )
