"""Full checkpointing with chunked MLPs: the layer is cut between its two residual halves
(engine/memory/checkpointing.py, feedforward_chunks; chunked_mlp.chunked_feedforward)."""

from __future__ import annotations

import pytest
import torch

from fgtui.engine.memory import chunked_mlp
from fgtui.engine.memory.checkpointing import apply_activation_checkpointing, is_split
from fgtui.engine.memory.chunked_mlp import apply_chunked_mlp
from fgtui.engine.memory.offload import ActivationOffload
from fgtui.engine.memory.switches import MemorySwitches
from memory_helpers import batch, tiny_fgtui, tiny_llama

CHUNKS = 4


def _tiny(seed: int = 0):
    return tiny_fgtui(seed).train()


def _split(model, chunks: int = CHUNKS):
    apply_chunked_mlp(model, chunks)
    apply_activation_checkpointing(model, "full", feedforward_chunks=chunks)
    return model


def _loss_and_grads(model, length: int = 30):
    ids, labels = batch(length=length)
    loss = model(ids, labels=labels).loss
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


def _assert_same(a, b, rtol=1e-5, atol=1e-6):
    (loss_a, grads_a), (loss_b, grads_b) = a, b
    torch.testing.assert_close(loss_a, loss_b, rtol=rtol, atol=atol)
    for name in grads_a:
        torch.testing.assert_close(grads_a[name], grads_b[name], rtol=rtol, atol=atol, msg=name)


def test_split_layers_compute_what_the_plain_model_computes():
    model = _split(_tiny())
    assert all(is_split(layer) for layer in model.model.layers)
    _assert_same(_loss_and_grads(model), _loss_and_grads(_tiny()))  # 30 tokens: uneven chunks


def test_without_the_glu_shortcut_too(monkeypatch):
    # An MLP that is not a GLU with a linear down projection goes through autograd whole.
    monkeypatch.setattr(chunked_mlp, "_glu_with_linear_down", lambda mlp: False)
    _assert_same(_loss_and_grads(_split(_tiny())), _loss_and_grads(_tiny()))


def _projection_calls(model) -> dict[str, int]:
    calls = {"gate_proj": 0, "down_proj": 0}
    for layer in model.model.layers[:1]:
        for name in calls:
            getattr(layer.mlp, name).register_forward_hook(
                lambda *a, name=name: calls.__setitem__(name, calls[name] + 1)
            )
    _loss_and_grads(model)
    return calls


def test_split_runs_the_mlp_forward_once_and_recomputes_only_gate_and_up():
    whole = _tiny()
    apply_chunked_mlp(whole, CHUNKS)
    apply_activation_checkpointing(whole, "full")
    # Whole-layer checkpoint: forward, the layer's recompute and each chunk's recompute
    # (torch's early stop trims the last of those; the count is torch's to choose).
    before = _projection_calls(whole)
    # Split: forward once; backward recomputes gate (and up) per chunk, never down.
    after = _projection_calls(_split(_tiny()))
    assert after == {"gate_proj": 2 * CHUNKS, "down_proj": CHUNKS}
    assert before["gate_proj"] > after["gate_proj"] and before["down_proj"] > after["down_proj"]


def test_each_parameter_gets_one_gradient_per_backward():
    # Optimizer-in-backward steps a parameter from its gradient hook: chunks must not
    # each deliver a partial gradient.
    model = _split(_tiny())
    fired: dict[str, int] = {}
    for name, p in model.named_parameters():
        p.register_post_accumulate_grad_hook(lambda p, name=name: fired.__setitem__(name, fired.get(name, 0) + 1))
    _loss_and_grads(model)
    assert set(fired.values()) == {1} and len(fired) == len(list(model.parameters()))


def test_offloaded_inputs_come_back_for_the_recompute():
    model = _split(_tiny())
    offload = ActivationOffload(model, min_bytes=0, force=True)
    ids, labels = batch(length=30)
    with offload:
        loss = model(ids, labels=labels).loss
    loss.backward()
    got = loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}
    assert offload.stats["offloaded_tensors"] > 0
    _assert_same(got, _loss_and_grads(_tiny()))


def test_under_bf16_autocast_it_matches_the_whole_layer_checkpoint():
    whole = _tiny()
    apply_chunked_mlp(whole, CHUNKS)
    apply_activation_checkpointing(whole, "full")
    split = _split(_tiny())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected = _loss_and_grads(whole)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = _loss_and_grads(split)
    _assert_same(got, expected, rtol=2e-2, atol=2e-3)
    assert all(g.dtype == torch.float32 for g in got[1].values())  # gradients in the parameters' dtype


def test_switches_split_fgtui_layers_and_say_so():
    notes = MemorySwitches(activation_checkpointing="full", chunked_mlp=4).apply_to_model(_tiny())
    assert any("2 with the feed-forward half recomputed per chunk" in note for note in notes)
    # Selective checkpointing keeps its whole-layer policy.
    model = _tiny()
    MemorySwitches(activation_checkpointing="selective", chunked_mlp=4).apply_to_model(model)
    assert not any(is_split(layer) for layer in model.model.layers)


def test_transformers_layers_keep_the_whole_layer_checkpoint():
    model = tiny_llama()
    apply_chunked_mlp(model, CHUNKS)
    apply_activation_checkpointing(model, "full", feedforward_chunks=CHUNKS)
    assert not any(is_split(layer) for layer in model.model.layers)


def test_feedforward_chunks_needs_full_mode():
    from fgtui.engine.errors import FgError

    with pytest.raises(FgError, match="full activation checkpointing"):
        apply_activation_checkpointing(_tiny(), "selective", feedforward_chunks=CHUNKS)


def test_split_layers_under_compiled_blocks():
    # compile_blocks compiles each layer after the switches split it; aot_eager traces and
    # partitions as inductor would, without a C++ build.
    model = _split(_tiny())
    for layer in model.model.layers:
        layer.compile(backend="aot_eager")
    _assert_same(_loss_and_grads(model), _loss_and_grads(_tiny()))


def test_frozen_feedforward_weights_get_no_gradient_and_the_rest_match():
    # Partial fine-tuning: a frozen down projection (and norm) must not trip the chunked node.
    def frozen(model):
        for layer in model.model.layers:
            layer.mlp.down_proj.weight.requires_grad_(False)
            layer.post_attention_layernorm.weight.requires_grad_(False)
        return model

    model = frozen(_split(_tiny()))
    ids, labels = batch(length=30)
    model(ids, labels=labels).loss.backward()
    plain = frozen(_tiny())
    plain(ids, labels=labels).loss.backward()
    for (name, p), q in zip(model.named_parameters(), plain.parameters()):
        assert (p.grad is None) == (q.grad is None), name
        if p.grad is not None:
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-6, msg=name)


def test_a_cached_forward_with_gradients_still_fills_the_cache():
    model = _split(_tiny())
    ids, _ = batch(length=12, size=1)
    full = model(ids).logits[:, -1]
    cache = model.new_cache()
    model(ids[:, :-1], past_key_values=cache)
    step = model(ids[:, -1:], past_key_values=cache).logits[:, -1]
    assert cache.seq_len == 12
    torch.testing.assert_close(step, full, rtol=1e-5, atol=1e-5)


def test_a_layer_that_rewires_its_feedforward_half_is_not_split():
    from fgtui.engine.models.layers import PreNormLayer

    class HalfResidual(PreNormLayer):
        def feedforward_block(self, hidden_states):
            return hidden_states + 0.5 * self.mlp(self.post_attention_layernorm(hidden_states))

    model = _tiny()
    for layer in model.model.layers:
        layer.__class__ = HalfResidual
    _split(model)
    assert not any(is_split(layer) for layer in model.model.layers)
