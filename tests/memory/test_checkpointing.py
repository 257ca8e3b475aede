from __future__ import annotations

import gc
import weakref

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from fgtui.engine.errors import FgError
from fgtui.engine.memory.checkpointing import (
    apply_activation_checkpointing,
    find_decoder_layers,
    is_checkpointed,
    remove_activation_checkpointing,
)
from memory_helpers import assert_grads_close, batch, grads, hf_loss, tiny_llama


class _CountMatmuls(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in (torch.ops.aten.mm.default, torch.ops.aten.addmm.default, torch.ops.aten.bmm.default):
            self.count += 1
        return func(*args, **(kwargs or {}))


class _TrackOutputs(TorchDispatchMode):
    """Remembers every tensor produced, to measure what survives the forward."""

    def __init__(self):
        super().__init__()
        self.refs = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.refs.append(weakref.ref(t))
        return out

    def live_bytes(self) -> int:
        gc.collect()
        storages = {}
        for ref in self.refs:
            t = ref()
            if t is not None:
                s = t.untyped_storage()
                storages[s.data_ptr()] = s.nbytes()
        return sum(storages.values())


def _run(model, ids, labels):
    """Loss, grads, bytes kept alive between forward and backward, matmuls run in backward."""
    tracker = _TrackOutputs()
    with tracker:
        loss = hf_loss(model, ids, labels)
    kept = tracker.live_bytes()
    counter = _CountMatmuls()
    with counter:
        loss.backward()
    return loss.detach(), grads(model), kept, counter.count


@pytest.fixture(scope="module")
def plain():
    model = tiny_llama(layers=3)
    return _run(model, *batch())


@pytest.mark.parametrize("mode", ["full", "selective"])
@pytest.mark.parametrize("every_n", [1, 2])
def test_loss_and_grads_equal_plain(plain, mode, every_n):
    model = tiny_llama(layers=3)
    wrapped = apply_activation_checkpointing(model, mode, every_n=every_n)
    assert wrapped == list(range(0, 3, every_n))
    loss, g, _, _ = _run(model, *batch())
    torch.testing.assert_close(loss, plain[0])
    assert_grads_close(g, plain[1], rtol=1e-5, atol=1e-7)


def test_full_saves_least_and_recomputes_matmuls(plain):
    _, _, plain_bytes, plain_mms = plain
    full = tiny_llama(layers=3)
    apply_activation_checkpointing(full, "full")
    _, _, full_bytes, full_mms = _run(full, *batch())
    sel = tiny_llama(layers=3)
    apply_activation_checkpointing(sel, "selective")
    _, _, sel_bytes, sel_mms = _run(sel, *batch())
    assert full_bytes < sel_bytes < plain_bytes
    # full AC replays every projection of every layer; selective replays none.
    assert full_mms > plain_mms
    assert sel_mms == plain_mms


@pytest.mark.parametrize("mode", ["full", "selective"])
def test_layers_write_no_kv_cache_when_checkpointed(plain, mode):
    """Called as a trainer calls it (use_cache left to the config, which says True), the model
    makes a KV cache; a checkpointed layer must not write it, or backward's replay writes it
    again (transformers 5.1: a CheckpointError). Grads are the plain run's."""
    model = tiny_llama(layers=3)
    assert model.config.use_cache
    apply_activation_checkpointing(model, mode)
    ids, labels = batch()
    out = model(input_ids=ids)
    assert out.past_key_values is not None and out.past_key_values.get_seq_length() == 0
    logits = out.logits.float()
    loss = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100
    )
    loss.backward()
    torch.testing.assert_close(loss.detach(), plain[0])
    assert_grads_close(grads(model), plain[1], rtol=1e-5, atol=1e-7)
    # Without gradients nothing is checkpointed: the cache is written, as generation needs.
    with torch.no_grad():
        assert model(input_ids=ids).past_key_values.get_seq_length() == ids.shape[1]


def test_state_dict_keys_unchanged_and_removable():
    model = tiny_llama()
    keys = list(model.state_dict())
    apply_activation_checkpointing(model, "full")
    assert list(model.state_dict()) == keys
    assert all(is_checkpointed(layer) for layer in model.model.layers)
    with pytest.raises(FgError, match="already"):
        apply_activation_checkpointing(model, "full")
    remove_activation_checkpointing(model)
    assert not any(is_checkpointed(layer) for layer in model.model.layers)


def test_no_grad_forward_skips_checkpoint():
    model = tiny_llama()
    ids, _ = batch()
    with torch.no_grad():
        want = model(input_ids=ids).logits
    apply_activation_checkpointing(model, "selective")
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).logits, want)


def test_generic_block_stack_found():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.ModuleList([torch.nn.Embedding(4, 4)])
            self.blocks = torch.nn.ModuleList([torch.nn.Linear(4, 4) for _ in range(3)])

    net = Net()
    assert find_decoder_layers(net) is net.blocks


def test_bad_arguments_refused():
    model = tiny_llama()
    with pytest.raises(FgError, match="mode"):
        apply_activation_checkpointing(model, "partial")
    with pytest.raises(FgError, match="every_n"):
        apply_activation_checkpointing(model, "full", every_n=0)
    with pytest.raises(FgError, match="decoder layers"):
        find_decoder_layers(torch.nn.Linear(2, 2))
