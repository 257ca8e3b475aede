"""Schedules follow their formulas and resume exactly from their state dict."""

from __future__ import annotations

import math

import pytest
import torch

from fgtui.engine.errors import FgError
from fgtui.engine.optim import ConstantWithWarmup, CosineWithWarmup, LinearWithWarmup, WSDScheduler


def _optimizer(lr=1.0):
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def _lrs(scheduler, steps):
    out = []
    for _ in range(steps):
        out.append(scheduler.get_last_lr()[0])
        scheduler.optimizer.step()
        scheduler.step()
    return out


def test_constant_with_warmup():
    assert _lrs(ConstantWithWarmup(_optimizer(), warmup_steps=4), 6) == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]


def test_linear_and_cosine_reach_the_floor_at_total_steps():
    lin = _lrs(LinearWithWarmup(_optimizer(), 2, 6, min_lr_ratio=0.2), 8)
    assert lin[:2] == [0.5, 1.0]
    assert lin[2:] == pytest.approx([1.0, 0.8, 0.6, 0.4, 0.2, 0.2])
    cos = _lrs(CosineWithWarmup(_optimizer(), 2, 6), 8)
    assert cos[2:] == pytest.approx(
        [1.0, 0.5 * (1 + math.cos(math.pi / 4)), 0.5, 0.5 * (1 + math.cos(3 * math.pi / 4)), 0.0, 0.0]
    )


@pytest.mark.parametrize(
    "shape,expected",
    [
        ("linear", [1.0, 0.75, 0.5, 0.25, 0.0]),
        ("cosine", [1.0, 0.5 * (1 + math.cos(math.pi / 4)), 0.5, 0.5 * (1 + math.cos(3 * math.pi / 4)), 0.0]),
        ("sqrt", [1.0, 0.5, 1 - math.sqrt(0.5), 1 - math.sqrt(0.75), 0.0]),
    ],
)
def test_wsd_decay_shapes(shape, expected):
    lrs = _lrs(
        WSDScheduler(_optimizer(2.0), warmup_steps=2, decay_steps=4, decay_start_step=5, min_lr=0.4, decay_shape=shape),
        11,
    )
    assert lrs[:5] == [1.0, 2.0, 2.0, 2.0, 2.0]
    assert lrs[5:10] == pytest.approx([0.4 + 1.6 * e for e in expected])
    assert lrs[10] == pytest.approx(0.4)


def test_wsd_decay_triggered_later_and_resumed():
    scheduler = WSDScheduler(_optimizer(), warmup_steps=1, decay_steps=4)
    assert _lrs(scheduler, 6) == [1.0] * 6  # no start step: plateau until told
    assert scheduler.start_decay() == 6
    state = scheduler.state_dict()
    rest = _lrs(scheduler, 6)
    assert rest == pytest.approx([1.0, 0.75, 0.5, 0.25, 0.0, 0.0])

    optimizer = _optimizer()
    resumed = WSDScheduler(optimizer, warmup_steps=1, decay_steps=4)
    resumed.load_state_dict(state)
    for group in optimizer.param_groups:  # the trainer restores the optimizer too
        group["lr"] = resumed.get_last_lr()[0]
    assert _lrs(resumed, 6) == rest


@pytest.mark.parametrize(
    "make",
    [
        lambda o: ConstantWithWarmup(o, 3),
        lambda o: LinearWithWarmup(o, 2, 9, min_lr_ratio=0.1),
        lambda o: CosineWithWarmup(o, 2, 9),
        lambda o: WSDScheduler(o, 2, 3, decay_start_step=5, decay_shape="cosine"),
    ],
)
def test_resume_from_state_dict_is_exact(make):
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], lr=3e-4)
    scheduler = make(optimizer)
    _lrs(scheduler, 4)
    saved_sched, saved_opt = scheduler.state_dict(), optimizer.state_dict()
    expected = _lrs(scheduler, 8)
    optimizer2 = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], lr=3e-4)
    scheduler2 = make(optimizer2)
    optimizer2.load_state_dict(saved_opt)
    scheduler2.load_state_dict(saved_sched)
    assert _lrs(scheduler2, 8) == expected


def test_bad_schedule_arguments_are_user_errors():
    with pytest.raises(FgError, match="total_steps 5 must exceed warmup_steps 5"):
        CosineWithWarmup(_optimizer(), 5, 5)
    with pytest.raises(FgError, match="unknown decay_shape"):
        WSDScheduler(_optimizer(), 1, 2, decay_shape="exp")
    with pytest.raises(FgError, match="inside warmup"):
        WSDScheduler(_optimizer(), 10, 2).start_decay(3)
