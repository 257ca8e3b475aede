from __future__ import annotations

import logging

import pytest
import torch

from fgtui.engine.memory.checkpointing import apply_activation_checkpointing
from fgtui.engine.memory.offload import ActivationOffload
from memory_helpers import assert_grads_close, batch, grads, hf_loss, tiny_llama


def _step(model, offload=None, seed=1):
    ids, labels = batch(seed=seed)
    if offload is None:
        loss = hf_loss(model, ids, labels)
    else:
        with offload:
            loss = hf_loss(model, ids, labels)
    loss.backward()
    return loss.detach(), grads(model)


@pytest.fixture(scope="module")
def plain():
    return _step(tiny_llama())


@pytest.mark.parametrize("with_ac", [False, True])
def test_forced_cpu_offload_equal_to_plain(plain, with_ac):
    model = tiny_llama()
    if with_ac:
        apply_activation_checkpointing(model, "full")
    offload = ActivationOffload(model, min_bytes=0, prefetch_bytes=4096, force=True)
    loss, g = _step(model, offload)
    torch.testing.assert_close(loss, plain[0])
    assert_grads_close(g, plain[1], rtol=0, atol=0)
    s = offload.stats
    assert s["offloaded_tensors"] > 0 and s["offloaded_bytes"] > 0
    assert s["kept_parameters"] > 0  # weights saved by linears are never copied
    # Backward found tensors already on their way back. How many of them is up
    # to the order in which autograd unpacks, which differs between torch versions.
    assert s["prefetched"] > 0


def test_prefetch_off_fetches_each_tensor_on_demand(plain):
    model = tiny_llama()
    apply_activation_checkpointing(model, "full")
    offload = ActivationOffload(model, min_bytes=0, prefetch_bytes=0, force=True)
    loss, g = _step(model, offload)
    torch.testing.assert_close(loss, plain[0])
    assert_grads_close(g, plain[1], rtol=0, atol=0)
    s = offload.stats
    # A tensor saved by several ops is fetched once per unpack.
    assert s["prefetched"] == 0 and s["fetched_on_demand"] >= s["offloaded_tensors"] > 0


def test_small_tensors_stay():
    model = tiny_llama()
    offload = ActivationOffload(model, min_bytes=1 << 30, force=True)
    _step(model, offload)
    assert offload.stats["offloaded_tensors"] == 0 and offload.stats["kept_small"] > 0


def test_pool_reuses_host_buffers_across_steps():
    model = tiny_llama()
    offload = ActivationOffload(model, min_bytes=0, force=True)
    _step(model, offload, seed=1)
    model.zero_grad(set_to_none=True)
    first = offload.host_bytes()
    _step(model, offload, seed=2)
    assert first > 0 and offload.host_bytes() == first


def test_tensor_saved_twice_copied_once():
    offload = ActivationOffload(min_bytes=0, force=True)
    x = torch.randn(6, 8, requires_grad=True)
    w = torch.randn(8, 6, requires_grad=True)
    with offload:
        y = x.t() * 2  # a transposed (non-contiguous) activation
        z = (y * y).sum() + (y * w).sum()
    z.backward()
    torch.testing.assert_close(x.grad, 8 * x.detach() + 2 * w.detach().t())
    # y is saved three times (twice by y*y, once by y*w) but copied once; w once
    assert offload.stats["offloaded_tensors"] == 2


def test_strides_survive_round_trip():
    offload = ActivationOffload(min_bytes=0, force=True)
    seen = []
    x = torch.randn(4, 5, requires_grad=True)

    class Probe(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a.clone()

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            seen.append(a.stride())
            return g

    with offload:
        out = Probe.apply(x.t())
    out.sum().backward()
    assert seen == [x.t().stride()]


def test_without_cuda_is_an_explicit_no_op(caplog, plain):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    model = tiny_llama()
    with caplog.at_level(logging.WARNING, logger="fgtui.memory"):
        offload = ActivationOffload(model)
    assert not offload.active and "no CUDA device" in offload.status
    assert "no CUDA device" in caplog.text
    loss, g = _step(model, offload)
    torch.testing.assert_close(loss, plain[0])
    assert offload.stats["offloaded_tensors"] == 0 and offload.stats["kept_not_cuda"] > 0


@pytest.mark.gpu
def test_cuda_offload_equal_and_frees_device_memory():
    torch.manual_seed(0)
    model = tiny_llama(hidden=256, intermediate=768, layers=4, heads=8, kv_heads=4, vocab=512).cuda()
    apply_activation_checkpointing(model, "full")
    ids, labels = batch(vocab=512, length=2048, size=2)
    ids, labels = ids.cuda(), labels.cuda()

    def run(offload):
        model.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        ctx = offload if offload is not None else torch.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t)
        with ctx:
            loss = hf_loss(model, ids, labels)
        torch.cuda.synchronize()
        held = torch.cuda.memory_allocated() - base
        loss.backward()
        return loss.detach(), grads(model), held

    loss0, g0, held0 = run(None)
    offload = ActivationOffload(model, min_bytes=1 << 16)
    loss1, g1, held1 = run(offload)
    torch.testing.assert_close(loss1, loss0)
    assert_grads_close(g1, g0, rtol=1e-5, atol=1e-6)
    assert offload.active and offload.stats["offloaded_bytes"] > 0
    assert held1 < held0


def test_pool_serves_shorter_rows_from_longer_rows_buffers():
    """Packed rows differ in length from step to step: a shorter row's tensors reuse the buffers
    of a longer one instead of pinning a new set; a much smaller tensor does not take a big buffer."""
    from fgtui.engine.memory.offload import _HostPool

    mib = 1 << 20
    pool = _HostPool(pinned=False)
    longer = [pool.take(8 * mib) for _ in range(3)]
    for block in longer:
        pool.give(block)
    shorter = [pool.take(7 * mib - 5) for _ in range(3)]
    assert {id(b) for b in shorter} == {id(b) for b in longer}
    assert (pool.allocations, pool.allocated_bytes) == (3, 24 * mib)
    for block in shorter:
        pool.give(block)
    small = pool.take(3 * mib)
    assert id(small) not in {id(b) for b in longer} and pool.allocations == 4
    assert pool.take(5 * mib) in longer  # 5 MiB in an 8 MiB buffer: within twice its size
