"""RMSNorm: forward bit-identical to HF's formula, lean and correct backward."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fgtui.engine.models.norm import RMSNorm, rms_norm


def hf_rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """transformers' LlamaRMSNorm.forward, written out."""
    dtype = x.dtype
    h = x.to(torch.float32)
    variance = h.pow(2).mean(-1, keepdim=True)
    h = h * torch.rsqrt(variance + eps)
    return weight * h.to(dtype)


def unfused(x, weight, eps):
    """The module's previous forward; autograd differentiates it."""
    return weight * F.rms_norm(x.float(), (x.shape[-1],), eps=eps).to(x.dtype)


def _inputs(dtype, shape=(2, 37, 64), seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = (torch.randn(shape, generator=gen) * 3).to(dtype)
    weight = (1 + 0.1 * torch.randn(shape[-1], generator=gen)).to(dtype)
    return x, weight


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize("chunk_bytes", [4 * 64 * 5, 2**26])  # 5-row chunks (ragged last chunk), one chunk
def test_forward_bit_identical_to_hf_and_unfused(dtype, chunk_bytes):
    x, weight = _inputs(dtype)
    out = rms_norm(x, weight, 1e-5, chunk_bytes=chunk_bytes)
    assert out.dtype == dtype and out.shape == x.shape
    assert torch.equal(out, hf_rms_norm(x, weight, 1e-5))
    assert torch.equal(out, unfused(x, weight, 1e-5))


def test_forward_promotes_like_hf_for_fp32_weight_and_bf16_input():
    x, _ = _inputs(torch.bfloat16)
    weight = torch.linspace(0.5, 1.5, 64)
    out = rms_norm(x, weight, 1e-6)
    assert out.dtype == torch.float32
    assert torch.equal(out, hf_rms_norm(x, weight, 1e-6))


@pytest.mark.parametrize("chunk_bytes", [4 * 64 * 7, 2**26])
def test_backward_matches_float64_autograd(chunk_bytes):
    x, weight = _inputs(torch.float32, seed=1)
    grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(2))
    x1, w1 = x.clone().requires_grad_(), weight.clone().requires_grad_()
    rms_norm(x1, w1, 1e-6, chunk_bytes=chunk_bytes).backward(grad)
    x2, w2 = x.double().requires_grad_(), weight.double().requires_grad_()
    hf_rms_norm(x2, w2, 1e-6).backward(grad.double())
    torch.testing.assert_close(x1.grad, x2.grad.float(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(w1.grad, w2.grad.float(), rtol=1e-5, atol=1e-4)


def test_bf16_backward_close_to_unfused():
    x, weight = _inputs(torch.bfloat16, seed=3)
    grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(4)).bfloat16()
    x1, w1 = x.clone().requires_grad_(), weight.clone().requires_grad_()
    rms_norm(x1, w1, 1e-6, chunk_bytes=4 * 64 * 8).backward(grad)
    # Reference in float64 through the same rounding points as the forward.
    x2, w2 = x.double().requires_grad_(), weight.double().requires_grad_()
    normed = x2 * torch.rsqrt(x2.pow(2).mean(-1, keepdim=True) + 1e-6)
    (w2 * normed).backward(grad.double())
    torch.testing.assert_close(x1.grad.double(), x2.grad, rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(w1.grad.double(), w2.grad, rtol=2e-2, atol=2e-1)


def test_only_input_and_row_statistics_are_saved():
    x, weight = _inputs(torch.bfloat16, shape=(1, 50, 64))
    x.requires_grad_()
    weight.requires_grad_()
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        rms_norm(x, weight)
    by_size = sorted((str(t.dtype), tuple(t.shape)) for t in saved)
    assert by_size == sorted([("torch.bfloat16", (1, 50, 64)), ("torch.bfloat16", (64,)), ("torch.float32", (50,))])
    assert any(t is x for t in saved)  # the input itself, no copy


def test_needs_only_the_grads_asked_for():
    x, weight = _inputs(torch.float32)
    x.requires_grad_()
    rms_norm(x, weight).sum().backward()
    assert x.grad is not None and weight.grad is None


def test_module_on_head_dim_views_matches_hf():
    # qk-norm normalises [B, T, H, D] views of the projection output.
    norm = RMSNorm(16, eps=1e-6)
    with torch.no_grad():
        norm.weight.copy_(torch.linspace(0.5, 1.5, 16))
    q = torch.randn(2, 5, 32).view(2, 5, 2, 16).bfloat16()
    assert torch.equal(norm.bfloat16()(q), hf_rms_norm(q, norm.weight, 1e-6))
