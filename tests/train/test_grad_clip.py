"""Gradient clipping folded into torch's fused optimizers (engine/train/grad_clip.py), on CPU."""

from __future__ import annotations

import functools

import pytest
import torch

import tiny
from fgtui.engine.optim import AdamW
from fgtui.engine.train import grad_clip


def _params_with_grads(seed: int = 0, scale: float = 1.0) -> list[torch.nn.Parameter]:
    generator = torch.Generator().manual_seed(seed)
    params = [torch.nn.Parameter(torch.randn(shape, generator=generator)) for shape in ((7, 5), (5,), (3, 11))]
    for p in params:
        p.grad = torch.randn(p.shape, generator=generator) * scale
    return params


OPTIMIZERS = {
    "adamw": functools.partial(torch.optim.AdamW, lr=1e-2, weight_decay=0.1),
    "adam": functools.partial(torch.optim.Adam, lr=1e-2),
    "sgd": functools.partial(torch.optim.SGD, lr=1e-2, momentum=0.9),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("scale", [10.0, 1e-3])  # clipped, and under the limit (divisor 1)
def test_folded_clip_steps_as_clip_grad_norm_then_step(name, scale):
    make = OPTIMIZERS[name]
    reference, folded = _params_with_grads(scale=scale), _params_with_grads(scale=scale)
    ref_opt, fold_opt = make(reference, fused=True), make(folded, fused=True)
    for step in range(3):
        if step:
            for a, b in zip(_params_with_grads(seed=step, scale=scale), reference):
                b.grad = a.grad.clone()
            for a, b in zip(_params_with_grads(seed=step, scale=scale), folded):
                b.grad = a.grad.clone()
        ref_norm = torch.nn.utils.clip_grad_norm_(reference, 1.0)
        ref_opt.step()
        norm = torch.nn.utils.get_total_norm([p.grad for p in folded])
        grad_clip.step_with_clip(fold_opt, norm, 1.0)
        torch.testing.assert_close(norm, ref_norm)
        for a, b in zip(reference, folded):
            torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-7)
            torch.testing.assert_close(b.grad, a.grad, rtol=1e-6, atol=1e-7)  # clipped in place, as before
    assert fold_opt.grad_scale is None  # the next step is not rescaled


def test_only_torchs_fused_adam_adamw_and_sgd_fold_the_clip():
    params = _params_with_grads()
    assert grad_clip.folds_clip(torch.optim.AdamW(params, fused=True))
    assert grad_clip.folds_clip(torch.optim.SGD(params, lr=0.1, fused=True))
    assert not grad_clip.folds_clip(torch.optim.AdamW(params))  # foreach: grad_scale unread
    assert not grad_clip.folds_clip(torch.optim.Adagrad(params, fused=True))

    assert grad_clip.folds_clip(AdamW(params, fused=True))  # fgtui's AdamW: torch's step
    assert not grad_clip.folds_clip(AdamW(params))  # on CPU it picks foreach

    class OwnStep(torch.optim.AdamW):
        def step(self, closure=None):
            return super().step(closure)

    assert not grad_clip.folds_clip(OwnStep(params, fused=True))
    mixed = torch.optim.AdamW([{"params": params[:1], "fused": True}, {"params": params[1:], "fused": False}])
    assert not grad_clip.folds_clip(mixed)


def test_clip_divisor_is_the_reciprocal_of_clip_grad_norms_coefficient():
    assert grad_clip.clip_divisor(torch.tensor(4.0), 2.0).item() == pytest.approx(2.0)
    assert grad_clip.clip_divisor(torch.tensor(0.5), 2.0).item() == 1.0
    assert grad_clip.clip_divisor(torch.tensor(3.0, dtype=torch.bfloat16), 1.0).dtype == torch.float32


def test_the_trainer_clips_through_a_fused_optimizer_as_through_clip_grad_norm(tmp_path, monkeypatch, capsys):
    """Same losses and weights whether the clip is folded (fused AdamW) or applied by
    clip_grad_norm_ (foreach AdamW); a small max_grad_norm so every step clips."""
    folds = []
    real = grad_clip.step_with_clip
    monkeypatch.setattr(grad_clip, "step_with_clip", lambda *a: folds.append(1) or real(*a))
    runs = {}
    for fused in (True, False):
        model = tiny.TinyLM(seed=3)
        # fgtui's AdamW, as the trainer templates build it (fused forced: this is CPU)
        optimizer = lambda named, fused=fused: AdamW([p for _, p in named], lr=1e-2, fused=fused)
        run = tiny.trainer(
            tmp_path / str(fused),
            model,
            run_name="r",
            max_steps=4,
            save_strategy="no",
            max_grad_norm=0.05,
            optimizer_factory=optimizer,
        )
        assert run.train() == 0
        said = "gradients clipped to norm 0.05 inside the fused optimizer step" in capsys.readouterr().out
        assert said == fused
        runs[fused] = (tiny.losses_by_step(tmp_path / str(fused) / "runs" / "r"), model.state_dict())
    assert len(folds) == 4  # every step of the fused run, none of the foreach run
    assert runs[True][0] == pytest.approx(runs[False][0], rel=1e-5)
    for key, value in runs[False][1].items():
        torch.testing.assert_close(runs[True][1][key], value, rtol=1e-4, atol=1e-6)
    grad_norms = [r["grad_norm"] for r in tiny.read_records(tmp_path / "True" / "runs" / "r") if r["type"] == "train"]
    assert all(norm > 0.05 for norm in grad_norms)  # the norms before clipping, as clip_grad_norm_ reports


def test_a_subclass_made_before_torchs_class_still_folds():
    """torch wraps each optimizer class's step in a profiling hook at its first instance,
    so which class was made first must not matter (the CI order that caught it)."""

    class Late(torch.optim.AdamW):
        pass

    params = _params_with_grads()
    assert grad_clip.folds_clip(Late(params, fused=True))
    torch.optim.AdamW(params, fused=True)
    assert grad_clip.folds_clip(Late(params, fused=True))
