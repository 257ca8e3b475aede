"""The varlen flash kernel for packed rows: its sequence bounds, when auto takes it, that
asking for it where it cannot run is an error (never another kernel), and on CUDA that
it equals per-document attention and the flex kernel, forward and backward."""

from __future__ import annotations

import json

import pytest
import torch

from fgtui.engine.errors import FgError
from fgtui.engine.models import CausalLMConfig, build_causal_lm, varlen
from fgtui.engine.models.attention import CausalSelfAttention
from fgtui.engine.models.masks import AttentionMask
from model_helpers import tiny_config, tiny_model


def _ids(rows: list[list[int]], total: int) -> torch.Tensor:
    out = torch.full((len(rows), total), -1, dtype=torch.long)
    for b, row in enumerate(rows):
        start = 0
        for doc, n in enumerate(row):
            out[b, start : start + n] = doc
            start += n
    return out


ROWS = [[100, 28, 200, 56], [384], [1, 127, 129, 60]]  # the last row ends in 67 tokens of padding


def test_sequence_bounds_split_rows_and_documents():
    bounds, longest = varlen.sequence_bounds(_ids(ROWS, 384))
    # Row 0: four documents; row 1: one; row 2: four and its padding run.
    expected = [0, 100, 128, 328, 384, 768, 769, 896, 1025, 1085, 1152]
    assert bounds.dtype == torch.int32
    assert bounds.tolist() == expected
    assert longest == 384


def test_sequence_bounds_start_each_row_even_when_ids_continue():
    """Two rows that both hold document 0 are two sequences, not one spanning the seam."""
    bounds, longest = varlen.sequence_bounds(torch.zeros(2, 5, dtype=torch.long))
    assert bounds.tolist() == [0, 5, 10]
    assert longest == 5


def test_auto_takes_varlen_only_for_exact_16_bit_packed_rows_on_cuda(monkeypatch):
    monkeypatch.setattr(varlen, "missing", lambda: None)
    docs = _ids(ROWS, 384)
    packed = AttentionMask(*docs.shape, kv_len=384, device=docs.device, document_ids=docs)
    padded = AttentionMask(
        *docs.shape, kv_len=384, device=docs.device, document_ids=docs, attention_mask=(docs >= 0).long()
    )
    plain = AttentionMask(3, 384, 384, docs.device)
    attn = CausalSelfAttention(64, 4, attn_implementation="auto")
    assert attn.kernel_for(packed, "cuda", torch.bfloat16) == "varlen"
    assert attn.kernel_for(packed, "cuda", torch.float32) == "flex_attention"  # flash is 16-bit only
    assert attn.kernel_for(packed, "cuda") == "flex_attention"  # the weights' dtype: float32 here
    assert attn.kernel_for(padded, "cuda", torch.bfloat16) == "flex_attention"
    assert attn.kernel_for(packed, "cpu", torch.bfloat16) == "sdpa"
    assert attn.kernel_for(plain, "cuda", torch.bfloat16) == "sdpa"
    windowed = CausalSelfAttention(64, 4, sliding_window=64, attn_implementation="auto")
    assert windowed.kernel_for(packed, "cuda", torch.bfloat16) == "flex_attention"


def test_auto_gives_grouped_query_heads_to_varlen_only_where_it_takes_them(monkeypatch):
    monkeypatch.setattr(varlen, "missing", lambda: None)
    docs = _ids(ROWS, 384)
    packed = AttentionMask(*docs.shape, kv_len=384, device=docs.device, document_ids=docs)
    grouped = CausalSelfAttention(64, 4, 2, attn_implementation="auto")
    monkeypatch.setattr(varlen, "supports_gqa", lambda: False)  # torch 2.11: no enable_gqa
    assert grouped.kernel_for(packed, "cuda", torch.bfloat16) == "flex_attention"
    monkeypatch.setattr(varlen, "supports_gqa", lambda: True)
    assert grouped.kernel_for(packed, "cuda", torch.bfloat16) == "varlen"


def test_auto_keeps_flex_where_torch_has_no_varlen(monkeypatch):
    monkeypatch.setattr(varlen, "missing", lambda: "torch 2.9 has no torch.nn.attention.varlen.varlen_attn")
    docs = _ids(ROWS, 384)
    packed = AttentionMask(*docs.shape, kv_len=384, device=docs.device, document_ids=docs)
    assert (
        CausalSelfAttention(64, 4, attn_implementation="auto").kernel_for(packed, "cuda", torch.bfloat16)
        == "flex_attention"
    )
    with pytest.raises(FgError, match="varlen.*has no torch.nn.attention.varlen"):
        CausalSelfAttention(64, 4, attn_implementation="varlen")


def test_asking_for_varlen_on_cpu_is_an_error_not_another_kernel(monkeypatch):
    monkeypatch.setattr(varlen, "missing", lambda: None)
    attn = CausalSelfAttention(64, 4, attn_implementation="varlen")
    docs = _ids(ROWS, 384)
    x = torch.randn(3, 384, 64)
    with pytest.raises(FgError, match="'varlen': varlen attention is a CUDA flash kernel; this runs on cpu"):
        attn(x, None, AttentionMask(3, 384, 384, x.device, document_ids=docs))


def test_config_accepts_varlen_and_names_it_among_the_choices():
    shape = dict(vocab_size=8, hidden_size=8, intermediate_size=8, num_attention_heads=2)
    assert CausalLMConfig(**shape, attn_implementation="varlen").attn_implementation == "varlen"
    with pytest.raises(FgError) as raised:
        CausalLMConfig(**shape, attn_implementation="flash")
    assert "varlen" in raised.value.hint


def _qkv(rows, seq, heads, kv_heads, head_dim, seed=0):
    generator = torch.Generator(device="cuda").manual_seed(seed)
    shape = (len(rows), seq, head_dim)

    def make(h):
        t = torch.randn(shape[0], h, seq, head_dim, device="cuda", generator=generator, dtype=torch.bfloat16)
        return t.requires_grad_()

    return make(heads), make(kv_heads), make(kv_heads)


@pytest.mark.gpu
@pytest.mark.parametrize("kv_heads", [4, 2])
def test_varlen_on_cuda_equals_flex_forward_and_backward(kv_heads):
    """Same packed rows through varlen and compiled flex: outputs and q/k/v gradients agree
    to bf16 precision (padding runs included: both let a padding run attend to itself)."""
    if varlen.unavailable_reason("cuda", torch.bfloat16, 64):
        pytest.skip(varlen.unavailable_reason("cuda", torch.bfloat16, 64))
    docs = _ids(ROWS, 384).cuda()
    results = {}
    for kernel in ("varlen", "flex_attention"):
        attn = CausalSelfAttention(256, 4, kv_heads, 64, attn_implementation=kernel).cuda().to(torch.bfloat16)
        q, k, v = _qkv(ROWS, 384, 4, kv_heads, 64)
        out = attn._attend(q, k, v, AttentionMask(3, 384, 384, q.device, document_ids=docs))
        out.backward(torch.ones_like(out))
        results[kernel] = (out.detach().float(), q.grad.float(), k.grad.float(), v.grad.float())
    for ours, theirs in zip(results["varlen"], results["flex_attention"], strict=True):
        torch.testing.assert_close(ours, theirs, atol=2e-2, rtol=2e-2)


@pytest.mark.gpu
def test_varlen_model_forward_equals_per_document_forward_on_cuda():
    if varlen.unavailable_reason("cuda", torch.bfloat16, 32):
        pytest.skip(varlen.unavailable_reason("cuda", torch.bfloat16, 32))
    config = tiny_config(
        vocab_size=64, hidden_size=128, intermediate_size=256, max_position_embeddings=512, attn_implementation="varlen"
    )
    torch.manual_seed(0)
    model = build_causal_lm(config, "cuda", torch.bfloat16).eval()
    docs = _ids(ROWS[:1], 384).cuda()
    ids = torch.randint(0, 64, docs.shape, device="cuda")
    with torch.no_grad():
        packed = model(ids, document_ids=docs).logits.float()
        start = 0
        for n in ROWS[0]:
            alone = model(ids[:, start : start + n], document_ids=docs[:, start : start + n]).logits.float()
            torch.testing.assert_close(packed[:, start : start + n], alone, atol=3e-2, rtol=3e-2)
            start += n


def test_a_model_trained_with_varlen_decodes(tmp_path):
    """varlen saved in a model's config (the kernel it trained with) does not stop generate
    or serve from loading it: decoding runs a KV cache, which varlen never takes."""
    from fgtui.engine.models.generate import generate
    from fgtui.engine.models.hf_io import FGTUI_MODEL_TYPE, read_config, save_pretrained
    from fgtui.engine.models.transformers_lm import load_for_decoding

    if varlen.missing():
        pytest.skip(varlen.missing())
    trained = tiny_model(attn_implementation="varlen")
    save_pretrained(trained, tmp_path / "m")
    # The kernel is kept where the config is fgtui's own (a model transformers cannot load).
    config_file = tmp_path / "m" / "config.json"
    saved = json.loads(config_file.read_text())
    fields = trained.config.to_dict() | {k: saved[k] for k in ("bos_token_id", "eos_token_id") if k in saved}
    config_file.write_text(json.dumps({"model_type": FGTUI_MODEL_TYPE, "fgtui_config": fields, "dtype": "float32"}))
    assert read_config(tmp_path / "m")[0].attn_implementation == "varlen"
    loaded = load_for_decoding(tmp_path / "m")
    assert {layer.attn_implementation for layer in _attention_layers(loaded)} == {"auto"}
    prompt = torch.tensor([[1, 5, 9, 3]])
    expected = generate(tiny_model(attn_implementation="sdpa"), prompt, 6)
    assert torch.equal(generate(loaded, prompt, 6), expected)


def _attention_layers(model):
    return [module for module in model.modules() if isinstance(module, CausalSelfAttention)]


def _per_sequence_varlen(q, k, v, cu_q, cu_k, max_q, max_k, is_causal=True, enable_gqa=False):
    """varlen_attn's contract in plain sdpa: tokens-first [N, H, D], causal within each sequence."""
    assert is_causal and max_q == max_k == int((cu_q[1:] - cu_q[:-1]).max())
    out = torch.empty_like(q)
    for start, stop in zip(cu_q[:-1].tolist(), cu_q[1:].tolist(), strict=True):
        part = [t[start:stop].transpose(0, 1) for t in (q, k, v)]
        out[start:stop] = torch.nn.functional.scaled_dot_product_attention(
            *part, is_causal=True, enable_gqa=enable_gqa
        ).transpose(0, 1)
    return out


def test_varlen_path_feeds_the_kernel_tokens_first_and_equals_per_document_attention(monkeypatch):
    """The model's varlen path (no transposes: q/k/v go in as the projections lay them out,
    RoPE applied in that layout) against sdpa per document, forward and backward, on CPU
    with the kernel replaced by its contract written in sdpa."""
    monkeypatch.setattr(varlen, "_probe", (_per_sequence_varlen, frozenset({"is_causal", "enable_gqa"})))
    monkeypatch.setattr(varlen, "unavailable_reason", lambda *args: None)
    torch.manual_seed(0)
    packed_model = build_causal_lm(tiny_config(max_position_embeddings=512, attn_implementation="varlen"))
    plain_model = build_causal_lm(tiny_config(max_position_embeddings=512, attn_implementation="sdpa"))
    plain_model.load_state_dict(packed_model.state_dict())
    docs = _ids(ROWS[:1], 384)
    ids = torch.randint(0, 96, docs.shape, generator=torch.Generator().manual_seed(3))
    packed = packed_model(ids, document_ids=docs).logits
    packed.sum().backward()
    start, total = 0, 0.0
    for n in ROWS[0]:
        alone = plain_model(ids[:, start : start + n], document_ids=docs[:, start : start + n]).logits
        torch.testing.assert_close(packed[:, start : start + n], alone, atol=1e-5, rtol=1e-5)
        total = total + alone.sum()
        start += n
    total.backward()
    for (name, ours), theirs in zip(packed_model.named_parameters(), plain_model.parameters(), strict=True):
        torch.testing.assert_close(ours.grad, theirs.grad, atol=1e-4, rtol=1e-4, msg=name)
