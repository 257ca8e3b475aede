"""The fused pointwise kernels (engine/models/fused.py): a model with them on computes what
the eager model computes, forward and backward, under activation checkpointing too.

On CPU the functions are traced and partitioned by torch.compile with the `aot_eager`
backend (the same graphs and autograd split inductor gets, without a C++ build per test);
the GPU test runs inductor's kernels."""

from __future__ import annotations

import functools

import pytest
import torch

from fgtui.engine.memory.checkpointing import apply_activation_checkpointing
from fgtui.engine.models import fused
from fgtui.engine.models import loss as loss_module
from fgtui.engine.models.feedforward import GLUFeedForward
from fgtui.engine.train.memory_setup import fuse_pointwise
from model_helpers import tiny_model


@pytest.fixture
def fused_on_cpu(monkeypatch):
    """Let the fused path run on CPU tensors, compiled with aot_eager; a fresh kernel cache."""
    monkeypatch.setattr(fused, "applies", lambda x: not torch.compiler.is_compiling())
    monkeypatch.setattr(fused, "_compiled", {})
    monkeypatch.setattr(fused.torch, "compile", functools.partial(torch.compile, backend="aot_eager"))


def _loss_and_grads(model, ids):
    model.zero_grad()
    loss = model(ids, labels=ids).loss
    loss.backward()
    return loss.detach(), {name: p.grad.clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("checkpointing", [False, True])
def test_fused_model_equals_eager_model(fused_on_cpu, checkpointing):
    eager, fast = tiny_model().train(), tiny_model().train()
    # 2 layers x (2 norms, attention, MLP) + final norm + the causal LM (its loss)
    assert fused.set_fused_pointwise(fast, True) == 10
    if checkpointing:
        apply_activation_checkpointing(eager, "full")
        apply_activation_checkpointing(fast, "full")
    ids = torch.randint(3, 96, (2, 40), generator=torch.Generator().manual_seed(1))
    eager_loss, eager_grads = _loss_and_grads(eager, ids)
    fast_loss, fast_grads = _loss_and_grads(fast, ids)
    assert fused._compiled, "the fused path did not run"
    assert loss_module._causal_lm_loss_reference in fused._compiled, "the loss ran eagerly"
    torch.testing.assert_close(fast_loss, eager_loss, rtol=1e-6, atol=1e-6)
    for name, grad in eager_grads.items():
        torch.testing.assert_close(fast_grads[name], grad, rtol=1e-5, atol=1e-6, msg=name)


def test_fused_kernels_cover_qk_norm(fused_on_cpu):
    eager = tiny_model(qk_norm=True, model_type="qwen3").train()
    fast = tiny_model(qk_norm=True, model_type="qwen3").train()
    assert fused.set_fused_pointwise(fast, True) == 14  # and q_norm, k_norm in each layer
    ids = torch.randint(3, 96, (1, 24), generator=torch.Generator().manual_seed(2))
    eager_loss, eager_grads = _loss_and_grads(eager, ids)
    fast_loss, fast_grads = _loss_and_grads(fast, ids)
    torch.testing.assert_close(fast_loss, eager_loss, rtol=1e-6, atol=1e-6)
    for name, grad in eager_grads.items():
        torch.testing.assert_close(fast_grads[name], grad, rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.parametrize("activation", ["silu", "gelu", "relu"])
def test_fused_glu_takes_the_configured_activation(fused_on_cpu, activation):
    torch.manual_seed(0)
    eager = GLUFeedForward(16, 40, activation)
    fast = GLUFeedForward(16, 40, activation)
    fast.load_state_dict(eager.state_dict())
    fast.fused_pointwise = True
    x = torch.randn(3, 5, 16)
    torch.testing.assert_close(fast(x), eager(x))
    assert fused.GLU_REFERENCE[activation] in fused._compiled


def test_off_by_default_and_not_on_cpu_tensors():
    model = tiny_model()
    assert not any(getattr(m, "fused_pointwise", False) for m in model.modules())
    assert not fused.applies(torch.zeros(2))  # the real check: CUDA only


def test_trainer_note_says_when_a_model_has_none_of_the_modules():
    assert fuse_pointwise(torch.nn.Sequential(torch.nn.Linear(2, 2))).startswith("fused pointwise kernels: none")
    assert "10 modules" in fuse_pointwise(tiny_model())


@pytest.mark.gpu
def test_fused_kernels_on_cuda_match_eager_in_bf16():
    eager = tiny_model().cuda().to(torch.bfloat16).train()
    fast = tiny_model().cuda().to(torch.bfloat16).train()
    fused.set_fused_pointwise(fast, True)
    ids = torch.randint(3, 96, (2, 256), device="cuda")
    eager_loss, eager_grads = _loss_and_grads(eager, ids)
    fast_loss, fast_grads = _loss_and_grads(fast, ids)
    torch.testing.assert_close(fast_loss.float(), eager_loss.float(), rtol=2e-2, atol=2e-2)
    for name, grad in eager_grads.items():
        torch.testing.assert_close(fast_grads[name].float(), grad.float(), rtol=5e-2, atol=5e-2, msg=name)
