from __future__ import annotations

import functools

import pytest
import torch

from fgtui.engine.errors import FgError
from fgtui.engine.memory.optim_in_backward import OptimizerInBackward, check_compatible
from memory_helpers import batch, hf_loss, tiny_llama

ADAMW = functools.partial(torch.optim.AdamW, lr=1e-2, weight_decay=0.1)


def _schedule(opt):
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 / (1 + step))


def _plain_run(steps=3):
    model = tiny_llama()
    opt = ADAMW(model.parameters())
    sched = _schedule(opt)
    norms = []
    for step in range(steps):
        hf_loss(model, *batch(seed=step)).backward()
        norms.append(float(torch.nn.utils.get_total_norm([p.grad for p in model.parameters()])))
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
    return model, norms


def test_same_updates_lr_schedule_and_grad_norm_as_plain_step():
    want_model, want_norms = _plain_run()
    model = tiny_llama()
    opt = OptimizerInBackward(model, ADAMW)
    sched = _schedule(opt)
    norms = []
    for step in range(3):
        hf_loss(model, *batch(seed=step)).backward()
        # the gradient was consumed in backward: nothing is left to hold memory
        assert all(p.grad is None for p in model.parameters())
        opt.step()
        norms.append(opt.grad_norm())
        sched.step()
        opt.zero_grad()
    # the scheduler wrote through the wrapper into every per-parameter optimizer
    assert all(o.param_groups[0]["lr"] == pytest.approx(1e-2 / 4) for o in opt.optimizers)
    torch.testing.assert_close(torch.tensor(norms), torch.tensor(want_norms), rtol=1e-5, atol=1e-6)
    for (name, p), q in zip(model.named_parameters(), want_model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=lambda m: f"{name}: {m}")
    # each parameter's own optimizer stepped once per backward, no more (O(P), not O(P²))
    assert all(float(o.state[o.param_groups[0]["params"][0]]["step"]) == 3 for o in opt.optimizers)
    assert opt.last_stepped_params == len(list(model.parameters()))


def test_param_group_hyperparameters_reach_each_optimizer():
    model = tiny_llama()
    decay = [p for n, p in model.named_parameters() if p.dim() == 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = OptimizerInBackward(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}], ADAMW
    )
    wds = [g["weight_decay"] for g in opt.param_groups]
    assert wds == [0.1] * len(decay) + [0.0] * len(no_decay)


def test_per_parameter_clipping_matches_manual_clip():
    max_norm = 0.05
    ref = tiny_llama()
    ref_opts = {p: torch.optim.SGD([p], lr=0.1) for p in ref.parameters()}
    hf_loss(ref, *batch()).backward()
    for p, o in ref_opts.items():
        torch.nn.utils.clip_grad_norm_([p], max_norm)
        o.step()
    model = tiny_llama()
    opt = OptimizerInBackward(model, functools.partial(torch.optim.SGD, lr=0.1), clip_per_param=max_norm)
    hf_loss(model, *batch()).backward()
    opt.step()
    for p, q in zip(model.parameters(), ref.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_state_dict_round_trip_continues_identically():
    def run(resume: bool):
        model = tiny_llama()
        opt = OptimizerInBackward(model.named_parameters(), ADAMW)
        sched = _schedule(opt)
        hf_loss(model, *batch(seed=0)).backward()
        opt.step()
        sched.step()
        if resume:
            saved_model = {k: v.clone() for k, v in model.state_dict().items()}
            saved_opt, saved_sched = opt.state_dict(), sched.state_dict()
            opt.remove_hooks()
            model = tiny_llama(seed=5)
            model.load_state_dict(saved_model)
            opt = OptimizerInBackward(model.named_parameters(), ADAMW)
            sched = _schedule(opt)
            opt.load_state_dict(saved_opt)
            sched.load_state_dict(saved_sched)
            assert opt.param_groups[0]["lr"] == pytest.approx(1e-2 / 2)
        hf_loss(model, *batch(seed=1)).backward()
        opt.step()
        return model

    a, b = run(False), run(True)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q)


def test_state_dict_from_plain_optimizer_refused():
    opt = OptimizerInBackward(tiny_llama(), ADAMW)
    with pytest.raises(FgError, match="not saved with optimizer_in_backward"):
        opt.load_state_dict(torch.optim.AdamW(tiny_llama().parameters()).state_dict())


def test_incompatible_settings_refused_with_reason():
    with pytest.raises(FgError, match="micro-batch would take its own optimizer step"):
        check_compatible(4, None)
    with pytest.raises(FgError, match="global max_grad_norm"):
        check_compatible(1, 1.0)
    check_compatible(1, None)
    check_compatible(1, 0.0)
