"""CUDA paths: fused SDPA / compiled flex kernels and loading straight onto the GPU (skip without CUDA)."""

from __future__ import annotations

import copy

import pytest
import torch

from fgtui.engine.models import build_causal_lm
from fgtui.engine.models.hf_io import load_pretrained, save_pretrained
from model_helpers import tiny_config

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("backend", ["sdpa", "flex_attention"])
def test_cuda_backends_match_eager_on_packed_bf16_batches(backend):
    torch.manual_seed(0)
    model = build_causal_lm(
        tiny_config(hidden_size=128, num_attention_heads=4, head_dim=32), device="cuda", dtype=torch.bfloat16
    ).eval()
    ids = torch.randint(0, 96, (2, 256), device="cuda")
    docs = (torch.arange(256, device="cuda") // 100).expand(2, -1)
    other = copy.deepcopy(model)
    for layer in other.model.layers:
        layer.self_attn.attn_implementation = backend
    for layer in model.model.layers:
        layer.self_attn.attn_implementation = "eager"
    with torch.no_grad():
        for kwargs in ({}, {"document_ids": docs}):
            torch.testing.assert_close(
                other(ids, **kwargs).logits.float(), model(ids, **kwargs).logits.float(), rtol=2e-2, atol=2e-2
            )


def test_load_pretrained_straight_to_cuda(tmp_path):
    torch.manual_seed(1)
    model = build_causal_lm(tiny_config(), dtype=torch.bfloat16).eval()
    save_pretrained(model, tmp_path)
    loaded = load_pretrained(tmp_path, device="cuda")
    assert {p.device.type for p in loaded.parameters()} == {"cuda"}
    assert loaded.model.rotary_emb.inv_freq.device.type == "cuda"
    ids = torch.randint(0, 96, (1, 16))
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids.cuda()).logits.cpu(), model(ids).logits, rtol=2e-2, atol=2e-2)


def test_auto_kernel_on_packed_rows_matches_eager_forward_and_backward():
    """auto = flex_attention with the document block mask: same logits and gradients as eager."""
    torch.manual_seed(0)
    base = build_causal_lm(tiny_config(hidden_size=128, num_attention_heads=4, head_dim=32), device="cuda")
    ids = torch.randint(0, 96, (2, 384), device="cuda")
    docs = torch.stack([torch.arange(384, device="cuda") // 100, torch.arange(384, device="cuda") // 250])
    results = []
    for kernel in ("auto", "eager"):
        model = copy.deepcopy(base)
        for layer in model.model.layers:
            layer.self_attn.attn_implementation = kernel
        out = model(ids, labels=ids, document_ids=docs)
        out.loss.backward()
        results.append((out.logits.detach(), [p.grad for p in model.parameters()]))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-3, atol=1e-3)
    for ours, reference in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(ours, reference, rtol=1e-3, atol=1e-4)
