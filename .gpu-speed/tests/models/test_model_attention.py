"""Attention backends agree; packed-document and window masks do what they say."""

from __future__ import annotations

import copy

import pytest
import torch

from model_helpers import tiny_model


def _with_backend(model, backend):
    other = copy.deepcopy(model)
    for layer in other.model.layers:
        layer.self_attn.attn_implementation = backend
    return other


def _packed_batch():
    g = torch.Generator().manual_seed(7)
    ids = torch.randint(3, 96, (2, 12), generator=g)
    docs = torch.tensor([[0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2], [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1]])
    return ids, docs


@pytest.mark.parametrize("backend", ["eager", "flex_attention"])
@pytest.mark.parametrize("case", ["causal", "documents", "window", "padding"])
def test_backends_agree_with_sdpa(backend, case):
    window = 4 if case == "window" else None
    model = tiny_model(sliding_window=window, model_type="mistral" if window else "llama")
    ids, docs = _packed_batch()
    kwargs = {}
    if case == "documents":
        kwargs["document_ids"] = docs
    if case == "padding":
        mask = torch.ones_like(ids)
        mask[0, :4] = 0
        kwargs["attention_mask"] = mask
    with torch.no_grad():
        reference = model(ids, **kwargs).logits
        other = _with_backend(model, backend)(ids, **kwargs).logits
    if case == "padding":
        keep = kwargs["attention_mask"].bool()
        reference, other = reference[keep], other[keep]
    torch.testing.assert_close(other, reference, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("backend", ["sdpa", "eager", "flex_attention"])
def test_packed_documents_equal_separate_sequences(backend):
    """A packed row gives each document exactly the logits it gets alone (positions restart)."""
    model = _with_backend(tiny_model(), backend)
    ids, docs = _packed_batch()
    with torch.no_grad():
        packed = model(ids, document_ids=docs).logits
        for row in range(ids.shape[0]):
            for doc in docs[row].unique():
                span = docs[row] == doc
                alone = model(ids[row][span][None]).logits[0]
                torch.testing.assert_close(packed[row][span], alone, rtol=1e-4, atol=1e-5)


def test_document_mask_changes_the_result():
    model = tiny_model()
    ids, docs = _packed_batch()
    with torch.no_grad():
        assert not torch.allclose(model(ids, document_ids=docs).logits, model(ids).logits, atol=1e-3)


def test_sliding_window_limits_what_a_token_sees():
    model = tiny_model(model_type="mistral", sliding_window=3)
    ids, _ = _packed_batch()
    changed = ids.clone()
    changed[:, 0] = (changed[:, 0] + 1) % 96
    with torch.no_grad():
        a, b = model(ids).logits, model(changed).logits
    # One layer sees 2 tokens back; two layers reach position 4 at most.
    assert not torch.allclose(a[:, :5], b[:, :5], atol=1e-6)
    torch.testing.assert_close(a[:, 5:], b[:, 5:], rtol=0, atol=0)


@pytest.mark.parametrize("policy", ["full", "selective"])
def test_activation_checkpointing_keeps_loss_and_gradients(policy):
    model = tiny_model().train()
    ids, docs = _packed_batch()
    model(ids, labels=ids, document_ids=docs).loss.backward()
    expected = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    model.enable_activation_checkpointing(policy)
    model(ids, labels=ids, document_ids=docs).loss.backward()
    for name, param in model.named_parameters():
        torch.testing.assert_close(param.grad, expected[name], rtol=1e-5, atol=1e-7)


def test_return_hidden_states_skips_the_head():
    model = tiny_model()
    ids, _ = _packed_batch()
    out = model(ids, labels=ids, return_hidden_states=True)
    assert out.logits is None and out.loss is None
    full = model(ids, labels=ids)
    torch.testing.assert_close(out.hidden_states @ model.lm_head.weight.T, full.logits)
