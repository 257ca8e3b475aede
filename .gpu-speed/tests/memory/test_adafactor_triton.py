"""Triton Adafactor vs torch.optim.Adafactor.

On a GPU host the `gpu` tests run the kernels. Without one they can still be
checked in Triton's interpreter: TRITON_INTERPRET=1 with triton installed.
"""

from __future__ import annotations

import os

import pytest
import torch

from fgtui.engine.errors import FgError
from fgtui.engine.memory.adafactor_triton import TritonAdafactor, triton_available

INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"


def _device():
    return "cuda" if torch.cuda.is_available() else "cpu"


def _compare(dtype, weight_decay, steps=3, tol=1e-5):
    torch.manual_seed(0)
    shapes = [(37, 300), (64, 16), (50,)]
    ref = [torch.randn(s, device=_device(), dtype=dtype) for s in shapes]
    ours = [t.clone() for t in ref]
    opt_ref = torch.optim.Adafactor(ref, lr=1e-2, weight_decay=weight_decay)
    opt = TritonAdafactor(ours, lr=1e-2, weight_decay=weight_decay)
    for _ in range(steps):
        for a, b in zip(ref, ours):
            g = torch.randn_like(a) * 0.1
            a.grad, b.grad = g.clone(), g.clone()
        opt_ref.step()
        opt.step()
    for a, b in zip(ref, ours):
        torch.testing.assert_close(b, a, rtol=tol, atol=tol)
    for a, b in zip(ref, ours):
        for key, val in opt_ref.state[a].items():
            # torch keeps bf16 params' row/col statistics in bf16; ours are fp32,
            # so after a few steps they can differ by about two bf16 roundings.
            state_rtol = 1e-3 if dtype == torch.float32 else 2**-6
            torch.testing.assert_close(opt.state[b][key].float(), val.float(), rtol=state_rtol, atol=1e-6)


def test_refused_where_kernels_cannot_run(monkeypatch):
    from fgtui.engine.memory import adafactor_triton

    # No CUDA and no interpreter: what a CPU machine without TRITON_INTERPRET sees.
    monkeypatch.setattr(adafactor_triton, "_interpreting", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert not triton_available()
    with pytest.raises(FgError, match="triton"):
        TritonAdafactor([torch.nn.Parameter(torch.zeros(2, 2))])


needs_interpreter = pytest.mark.skipif(
    not (INTERPRET and triton_available()), reason="set TRITON_INTERPRET=1 with triton installed"
)


@needs_interpreter
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_interpreter_matches_torch_adafactor(weight_decay):
    _compare(torch.float32, weight_decay)


@needs_interpreter
def test_interpreter_refuses_3d_parameters():
    with pytest.raises(FgError, match="1-D/2-D"):
        TritonAdafactor([torch.nn.Parameter(torch.zeros(2, 2, 2))])


@pytest.mark.gpu
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_cuda_matches_torch_adafactor_fp32(weight_decay):
    if not triton_available():
        pytest.skip("triton not installed")
    _compare(torch.float32, weight_decay)


@pytest.mark.gpu
def test_cuda_matches_torch_adafactor_bf16():
    if not triton_available():
        pytest.skip("triton not installed")
    _compare(torch.bfloat16, 0.0, tol=2e-2)


@pytest.mark.gpu
def test_cuda_stochastic_rounding_keeps_tiny_updates_on_average():
    if not triton_available():
        pytest.skip("triton not installed")
    p_plain = torch.nn.Parameter(torch.ones(256, 1024, device="cuda", dtype=torch.bfloat16))
    p_sr = torch.nn.Parameter(p_plain.detach().clone())
    # lr so small that every update is far below half a bf16 ulp at 1.0 (2^-8)
    kw = dict(lr=1e-4, eps=(None, 1e-3))
    plain, sr = TritonAdafactor([p_plain], **kw), TritonAdafactor([p_sr], stochastic_rounding=True, **kw)
    g = torch.full_like(p_plain, 1.0)
    p_plain.grad, p_sr.grad = g.clone(), g.clone()
    plain.step()
    sr.step()
    assert torch.equal(p_plain, torch.ones_like(p_plain))  # round-to-nearest loses the update
    moved = 1.0 - p_sr.float().mean().item()
    assert 0.5e-4 < moved < 2e-4  # SR keeps it in expectation: alpha = 1e-4 * RMS(p)=1 → 1e-4


def _compare_absolute_step(device: str, weight_decay: float, tol: float = 1e-5) -> None:
    """The Adafactor the templates name: Triton's step with fgtui's absolute-step rule
    against fgtui.engine.optim.Adafactor (no stochastic rounding in fp32)."""
    from fgtui.engine.memory.adafactor_triton import Adafactor as TemplateAdafactor
    from fgtui.engine.optim import Adafactor as ReferenceAdafactor

    torch.manual_seed(0)
    shapes = [(37, 300), (64, 16), (50,)]
    ref = [torch.randn(s, device=device) * 0.02 for s in shapes]
    ours = [t.clone() for t in ref]
    opt_ref = ReferenceAdafactor(ref, lr=1e-3, weight_decay=weight_decay)
    opt = TemplateAdafactor(ours, lr=1e-3, weight_decay=weight_decay, use_triton=device == "cpu" or None)
    assert isinstance(opt, TritonAdafactor)
    for _ in range(4):
        for a, b in zip(ref, ours):
            g = torch.randn_like(a) * 1e-3
            g[0] = 0.0  # an all-zero row (an embedding row no token used) must stay finite
            a.grad, b.grad = g.clone(), g.clone()
        opt_ref.step()
        opt.step()
    for a, b in zip(ref, ours):
        torch.testing.assert_close(b, a, rtol=tol, atol=tol)


@needs_interpreter
def test_interpreter_absolute_step_matches_fgtui_adafactor():
    _compare_absolute_step("cpu", 0.1)


@pytest.mark.gpu
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_cuda_absolute_step_matches_fgtui_adafactor(weight_decay):
    if not triton_available():
        pytest.skip("triton not installed")
    _compare_absolute_step("cuda", weight_decay)


def test_template_adafactor_uses_pytorch_where_the_kernels_cannot_run(monkeypatch, capsys):
    from fgtui.engine.memory import adafactor_triton
    from fgtui.engine.optim import Adafactor as ReferenceAdafactor

    monkeypatch.setattr(adafactor_triton, "triton_available", lambda: False)
    monkeypatch.setattr(adafactor_triton, "_announced", set())
    opt = adafactor_triton.Adafactor([("w", torch.nn.Parameter(torch.zeros(4, 4)))], lr=1e-3)
    assert isinstance(opt, ReferenceAdafactor)
    assert "Adafactor: PyTorch step" in capsys.readouterr().out
