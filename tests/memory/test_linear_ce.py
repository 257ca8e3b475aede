from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fgtui.engine.errors import FgError
from fgtui.engine.memory.linear_ce import LinearCrossEntropyLoss, backend_available, linear_cross_entropy, resolve_impl
from memory_helpers import assert_grads_close, batch, grads, hf_loss, tiny_llama


def _reference(hidden, weight, labels, bias=None, reduction="mean"):
    logits = hidden @ weight.t()
    if bias is not None:
        logits = logits + bias
    return F.cross_entropy(logits.float(), labels, ignore_index=-100, reduction=reduction)


@pytest.mark.parametrize("chunk", [1, 7, 64, 1000])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_matches_full_logits(chunk, reduction):
    torch.manual_seed(0)
    h = torch.randn(50, 16, requires_grad=True)
    w = torch.randn(40, 16, requires_grad=True)
    b = torch.randn(40, requires_grad=True)
    y = torch.randint(0, 40, (50,))
    y[::5] = -100
    ref = _reference(h, w, y, b, reduction)
    ref.backward()
    ref_grads = [t.grad.clone() for t in (h, w, b)]
    for t in (h, w, b):
        t.grad = None
    ours = linear_cross_entropy(h, w, y, bias=b, chunk_size=chunk, reduction=reduction)
    ours.backward()
    torch.testing.assert_close(ours, ref)
    for got, want in zip((h.grad, w.grad, b.grad), ref_grads):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_gradcheck_double():
    torch.manual_seed(1)
    h = torch.randn(9, 5, dtype=torch.float64, requires_grad=True)
    w = torch.randn(7, 5, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 3, -100, 6, 2, 2, -100, 1, 5])
    assert torch.autograd.gradcheck(lambda a, b: linear_cross_entropy(a, b, y, chunk_size=4), (h, w))


def _fp32_problem(seed: int, rows: int):
    """Float32 hidden states, weight and labels, with the reference loss and its (h, w) gradients."""
    torch.manual_seed(seed)
    h = torch.randn(rows, 32, requires_grad=True)
    w = (torch.randn(100, 32) * 0.2).requires_grad_()
    y = torch.randint(0, 100, (rows,))
    ref = _reference(h, w, y)
    ref_grads = torch.autograd.grad(ref, (h, w))
    return h, w, y, ref.detach(), ref_grads


def test_bf16_close_to_fp32_reference():
    h, w, y, ref, (_, ref_grad_w) = _fp32_problem(2, 64)
    hb = h.detach().bfloat16().requires_grad_()
    wb = w.detach().bfloat16().requires_grad_()
    loss = linear_cross_entropy(hb, wb, y, chunk_size=16)
    loss.backward()
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, ref, rtol=2e-2, atol=2e-2)
    assert wb.grad.dtype == torch.bfloat16
    torch.testing.assert_close(wb.grad.float(), ref_grad_w, rtol=5e-2, atol=5e-3)


class _MatmulDtypes(torch.utils._python_dispatch.TorchDispatchMode):
    """Records the input dtypes of every matmul that runs while it is active."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket in (torch.ops.aten.mm, torch.ops.aten.addmm):
            self.seen.append({a.dtype for a in args if isinstance(a, torch.Tensor)})
        return func(*args, **(kwargs or {}))


def test_under_autocast_backward_matmuls_stay_16_bit_and_grads_keep_param_dtypes():
    """Mixed precision (float32 parameters, bf16 autocast): the backward runs outside autocast,
    so its matmuls must be cast explicitly, or they run in float32 (2.5x slower on a GPU)."""
    h, w, y, ref, ref_grads = _fp32_problem(3, 48)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = linear_cross_entropy(h, w, y, chunk_size=16)
    with _MatmulDtypes() as backward_mm:
        loss.backward()
    assert backward_mm.seen and all(dtypes == {torch.bfloat16} for dtypes in backward_mm.seen)
    assert h.grad.dtype == w.grad.dtype == torch.float32
    torch.testing.assert_close(loss, ref, rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(h.grad, ref_grads[0], rtol=5e-2, atol=5e-3)
    torch.testing.assert_close(w.grad, ref_grads[1], rtol=5e-2, atol=5e-3)


def test_all_ignored_is_nan_like_torch():
    h = torch.randn(4, 3)
    w = torch.randn(5, 3)
    y = torch.full((4,), -100)
    assert torch.isnan(linear_cross_entropy(h, w, y)) and torch.isnan(_reference(h, w, y))


def test_shift_matches_hf_causal_lm_loss():
    model = tiny_llama()
    ids, labels = batch()
    plain = hf_loss(model, ids, labels)
    plain.backward()
    want = grads(model)
    model.zero_grad(set_to_none=True)
    hidden = model.model(input_ids=ids, use_cache=False).last_hidden_state
    fused = linear_cross_entropy(hidden, model.lm_head.weight, labels, shift=True, chunk_size=5)
    fused.backward()
    torch.testing.assert_close(fused, plain)
    assert_grads_close(grads(model), want, rtol=1e-4, atol=1e-6)


def test_auto_on_cpu_picks_ours_and_says_why():
    name, why = resolve_impl("auto", "cpu")
    assert name == "ours" and "no CUDA device" in why
    loss_fn = LinearCrossEntropyLoss(torch.nn.Linear(4, 6, bias=False), impl="auto")
    assert loss_fn.impl_used == "ours"


@pytest.mark.parametrize("impl", ["liger", "cce"])
def test_missing_or_cpu_backend_is_refused(impl):
    with pytest.raises(FgError, match=impl):
        resolve_impl(impl, "cpu")


def test_unknown_impl_and_bad_args_refused():
    with pytest.raises(FgError, match="unknown"):
        resolve_impl("fast", "cpu")
    with pytest.raises(FgError, match="reduction"):
        linear_cross_entropy(torch.randn(2, 3), torch.randn(4, 3), torch.zeros(2, dtype=torch.long), reduction="none")
    with pytest.raises(FgError, match="hidden rows"):
        linear_cross_entropy(torch.randn(2, 3), torch.randn(4, 3), torch.zeros(3, dtype=torch.long))


@pytest.mark.gpu
@pytest.mark.parametrize("impl", ["ours", "liger", "cce"])
def test_cuda_backends_match_reference(impl):
    if impl != "ours" and not backend_available(impl):
        pytest.skip(f"{impl} not installed")
    torch.manual_seed(3)
    h = torch.randn(4096, 256, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    w = (torch.randn(32000, 256, device="cuda", dtype=torch.bfloat16) * 0.05).requires_grad_()
    y = torch.randint(0, 32000, (4096,), device="cuda")
    y[:100] = -100
    ref = _reference(h.float(), w.float(), y)
    loss = linear_cross_entropy(h, w, y, impl=impl, chunk_size=1024)
    loss.backward()
    torch.testing.assert_close(loss.float(), ref, rtol=1e-2, atol=1e-2)
    assert torch.isfinite(w.grad).all() and torch.isfinite(h.grad).all()
