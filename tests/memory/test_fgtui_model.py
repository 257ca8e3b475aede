"""The memory switches on fgtui's own decoder (engine/models), not just HF's."""

from __future__ import annotations

import functools

import pytest
import torch

from fgtui.engine.memory.offload import ActivationOffload
from fgtui.engine.memory.switches import MemorySwitches
from memory_helpers import batch, tiny_fgtui

SGD = functools.partial(torch.optim.SGD, lr=0.5)


def _train(s: MemorySwitches, steps: int = 2):
    model = tiny_fgtui()
    s.apply_to_model(model)
    opt = s.make_optimizer(model, SGD)
    loss_fn = s.make_loss(model.lm_head)
    offload = ActivationOffload(model, min_bytes=0, force=True) if s.activation_offload else None
    losses = []
    for step in range(steps):
        ids, labels = batch(seed=step)
        ctx = offload if offload is not None else torch.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t)
        with ctx:
            if loss_fn is None:
                loss = model(ids, labels=labels).loss
            else:
                loss = loss_fn(model(ids, return_hidden_states=True).hidden_states, labels)
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(float(loss.detach()))
    return losses, model


@pytest.mark.parametrize(
    "switches",
    [
        dict(activation_checkpointing="full"),
        dict(activation_checkpointing="selective"),
        dict(chunked_mlp=3),
        # the split checkpoint: feed-forward halves in 5 uneven chunks (24 tokens)
        dict(activation_checkpointing="full", chunked_mlp=5),
        dict(fused_linear_ce="ours"),
        dict(optimizer_in_backward=True),
        dict(activation_offload=True),
        dict(
            activation_checkpointing="full",
            activation_offload=True,
            optimizer_in_backward=True,
            fused_linear_ce="ours",
            chunked_mlp=2,
        ),
    ],
)
def test_switch_trains_like_plain_on_fgtui_model(switches):
    plain_losses, plain_model = _train(MemorySwitches())
    losses, model = _train(MemorySwitches(**switches))
    assert losses == pytest.approx(plain_losses, rel=1e-5)
    for p, q in zip(model.parameters(), plain_model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)
