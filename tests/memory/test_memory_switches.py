from __future__ import annotations

import functools

import pytest
import torch

from fgtui.engine.errors import FgError, SourceLocation
from fgtui.engine.memory.offload import ActivationOffload
from fgtui.engine.memory.switches import MemorySwitches, cuda_alloc_conf_env
from memory_helpers import batch, hf_loss, tiny_llama

SGD = functools.partial(torch.optim.SGD, lr=0.5)


def test_optimizer_in_backward_refuses_accumulation_and_global_clipping_at_config_time():
    where = SourceLocation("train.yaml", 12, 3)
    s = MemorySwitches(optimizer_in_backward=True)
    with pytest.raises(FgError, match="gradient_accumulation_steps=4") as err:
        s.validate(gradient_accumulation_steps=4, max_grad_norm=None, location=where)
    assert err.value.location == where and "train.yaml:12:3" in err.value.one_line()
    with pytest.raises(FgError, match="global max_grad_norm"):
        s.validate(gradient_accumulation_steps=1, max_grad_norm=1.0)
    s.validate(gradient_accumulation_steps=1, max_grad_norm=None)
    MemorySwitches(optimizer_in_backward=True, optimizer_in_backward_clip_per_param=1.0).validate(1, None)
    # without optimizer_in_backward both are fine
    MemorySwitches().validate(gradient_accumulation_steps=4, max_grad_norm=1.0)


@pytest.mark.parametrize(
    "data, match",
    [
        ({"activation_checkpoint": "full"}, "unknown memory switch"),
        ({"activation_checkpointing": "most"}, "activation_checkpointing must be"),
        ({"fused_linear_ce": "fast"}, "fused_linear_ce must be"),
        ({"chunked_mlp": 1}, "chunked_mlp must be"),
        ({"checkpoint_every_n": 0}, "checkpoint_every_n"),
        ({"optimizer_in_backward_clip_per_param": 1.0}, "needs optimizer_in_backward"),
        ({"cuda_memory_cap_gib": 0}, "cuda_memory_cap_gib must be"),
        ({"cuda_memory_cap_gib": "24GB"}, "cuda_memory_cap_gib must be"),
        ({"activation_offload_prefetch_mib": -1}, "activation_offload_prefetch_mib must be"),
        ({"activation_offload_prefetch_mib": 1.5}, "activation_offload_prefetch_mib must be"),
    ],
)
def test_bad_values_refused(data, match):
    with pytest.raises(FgError, match=match):
        MemorySwitches.from_dict(data)


def test_offload_prefetch_reaches_the_offload():
    offload = MemorySwitches(activation_offload=True, activation_offload_prefetch_mib=256).make_offload(None)
    assert offload.prefetch_bytes == 256 * 2**20
    assert MemorySwitches(activation_offload=True).make_offload(None).prefetch_bytes == 0


def test_fused_ce_spelling():
    assert MemorySwitches(fused_linear_ce=True).linear_ce_impl == "auto"
    assert MemorySwitches(fused_linear_ce="ours").linear_ce_impl == "ours"
    assert MemorySwitches().linear_ce_impl is None


def test_memory_cap_is_off_by_default_and_says_when_it_cannot_apply():
    assert MemorySwitches().apply_memory_cap(torch.device("cpu")) is None
    said = MemorySwitches(cuda_memory_cap_gib=23.5).apply_memory_cap(torch.device("cpu"))
    assert "23.5 GiB not applied" in said


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_memory_cap_refuses_allocations_beyond_it():
    device = torch.device("cuda", torch.cuda.current_device())
    said = MemorySwitches(cuda_memory_cap_gib=1.0).apply_memory_cap(device)
    try:
        assert "capped at 1 GiB" in said
        with pytest.raises(torch.OutOfMemoryError):
            torch.empty(2 * 2**30, dtype=torch.uint8, device=device)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, device)


def test_cuda_alloc_conf_env_keeps_other_options():
    assert cuda_alloc_conf_env(MemorySwitches()) == {}
    env = cuda_alloc_conf_env(MemorySwitches(expandable_segments=True), current="max_split_size_mb:128")
    assert env == {"PYTORCH_CUDA_ALLOC_CONF": "max_split_size_mb:128,expandable_segments:True"}


def _train(switches: MemorySwitches | None, steps: int = 2):
    s = switches or MemorySwitches()
    model = s.build_model(tiny_llama, "cpu", torch.float32)
    if switches is not None and switches.meta_init:
        model.load_state_dict(tiny_llama().state_dict())
    s.apply_to_model(model)
    opt = s.make_optimizer(model, SGD)
    loss_fn = s.make_loss(model.lm_head)
    # the forced CPU path stands in for CUDA offload here
    offload = ActivationOffload(model, min_bytes=0, force=True) if s.activation_offload else None
    losses = []
    for step in range(steps):
        ids, labels = batch(seed=step)
        ctx = offload if offload is not None else torch.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t)
        with ctx:
            if loss_fn is None:
                loss = hf_loss(model, ids, labels)
            else:
                loss = loss_fn(model.model(input_ids=ids, use_cache=False).last_hidden_state, labels)
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(float(loss.detach()))
    return losses, model


def test_all_switches_together_train_like_the_plain_path():
    plain_losses, plain_model = _train(None)
    s = MemorySwitches(
        activation_checkpointing="full",
        activation_offload=True,
        optimizer_in_backward=True,
        fused_linear_ce="ours",
        chunked_mlp=3,
        meta_init=True,
    )
    s.validate(gradient_accumulation_steps=1, max_grad_norm=None)
    losses, model = _train(s)
    assert losses == pytest.approx(plain_losses, rel=1e-5)
    for p, q in zip(model.parameters(), plain_model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    "switch",
    [
        {"activation_checkpointing": "selective"},
        {"optimizer_in_backward": True},
        {"fused_linear_ce": True},
        {"chunked_mlp": 2},
        {"activation_offload": True},
    ],
)
def test_each_switch_alone_trains_like_the_plain_path(switch):
    plain_losses, plain_model = _train(None)
    losses, model = _train(MemorySwitches(**switch))
    assert losses == pytest.approx(plain_losses, rel=1e-5)
    for p, q in zip(model.parameters(), plain_model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)
