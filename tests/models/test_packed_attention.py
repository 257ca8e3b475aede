"""Packed batches: attention over several documents in one row equals attending to each
document alone, for every kernel and for the block mask built from document ids."""

from __future__ import annotations

import pytest
import torch

from fgtui.engine.models import CausalLMConfig, build_causal_lm
from fgtui.engine.models.attention import CausalSelfAttention
from fgtui.engine.models.masks import AttentionMask

BLOCK = 128


def _document_ids(lengths: list[int], total: int) -> torch.Tensor:
    ids = torch.full((total,), -1, dtype=torch.long)
    start = 0
    for doc, n in enumerate(lengths):
        ids[start : start + n] = doc
        start += n
    return ids


ROWS = [  # documents per row; the remainder of each 384-token row is padding (id -1)
    [100, 28, 200, 56],  # boundaries inside blocks and on a block edge
    [384],  # one document filling the row
    [1, 127, 129, 60],  # a one-token document, then one ending exactly at a block edge
]


def _packed_ids(seq: int = 3 * BLOCK) -> torch.Tensor:
    return torch.stack([_document_ids(row, seq) for row in ROWS])


def test_packed_block_mask_matches_torch_create_block_mask():
    from torch.nn.attention.flex_attention import create_block_mask

    docs = _packed_ids()
    mask = AttentionMask(docs.shape[0], docs.shape[1], docs.shape[1], docs.device, document_ids=docs)
    ours = mask.block_mask(None)
    theirs = create_block_mask(mask.mask_mod(None), docs.shape[0], None, docs.shape[1], docs.shape[1], device="cpu")
    assert torch.equal(ours.to_dense(), theirs.to_dense())
    # The one-document row has no partial tile below the diagonal: those tiles are full (no mask_mod).
    assert int(ours.full_kv_num_blocks[1, 0].sum()) == 3  # tiles (1,0), (2,0), (2,1)
    assert int(ours.kv_num_blocks[1, 0].sum()) == 3  # the diagonal tiles


RAGGED_ROWS = [  # 300-token rows: the last tile is cut short (300 = 2 * 128 + 44)
    [100, 28, 150, 22],
    [300],
    [1, 127, 129, 43],
    [100, 150],  # 50 tokens of padding in the ragged tile
]


def test_packed_block_mask_takes_a_ragged_length():
    """Best-fit packing gives rows of any length; the block structure must come from the ids
    (no compiled create_block_mask) and still equal torch's own."""
    from torch.nn.attention.flex_attention import create_block_mask

    docs = torch.stack([_document_ids(row, 300) for row in RAGGED_ROWS])
    mask = AttentionMask(docs.shape[0], 300, 300, docs.device, document_ids=docs)
    ours = mask.block_mask(None)
    theirs = create_block_mask(mask.mask_mod(None), docs.shape[0], None, 300, 300, device="cpu")
    assert ours.seq_lengths == (300, 300)
    assert torch.equal(ours.to_dense(), theirs.to_dense())


def _assert_packed_equals_per_document(kernel: str, rows: list[list[int]], seq: int, device: str = "cpu") -> None:
    torch.manual_seed(0)
    # head_dim 16 on CUDA: the compiled flex kernel's tiles need at least 16.
    hidden, heads, kv_heads = (32, 4, 2) if device == "cpu" else (64, 4, 2)
    # Compiled flex runs its fp32 matmuls as TF32 on CUDA; the eager reference does not.
    tol = dict(atol=2e-5, rtol=1e-4) if device == "cpu" else dict(atol=5e-3, rtol=5e-3)
    attn = CausalSelfAttention(hidden, heads, kv_heads, attn_implementation=kernel).eval().to(device)
    reference = CausalSelfAttention(hidden, heads, kv_heads, attn_implementation="eager").eval().to(device)
    reference.load_state_dict(attn.state_dict())
    docs = torch.stack([_document_ids(row, seq) for row in rows]).to(device)
    x = torch.randn(docs.shape[0], docs.shape[1], hidden, device=device)
    with torch.no_grad():
        packed = attn(x, None, AttentionMask(*docs.shape, kv_len=docs.shape[1], device=x.device, document_ids=docs))
        for b, row in enumerate(rows):
            start = 0
            for n in row:
                alone = x[b : b + 1, start : start + n]
                expected = reference(alone, None, AttentionMask(1, n, n, x.device))
                torch.testing.assert_close(packed[b, start : start + n], expected[0], **tol)
                start += n


@pytest.mark.parametrize("kernel", ["flex_attention", "sdpa", "auto"])
def test_ragged_packed_attention_equals_per_document_attention(kernel):
    _assert_packed_equals_per_document(kernel, RAGGED_ROWS, 300)


@pytest.mark.gpu
@pytest.mark.parametrize("seq", [384, 300])
def test_compiled_flex_on_cuda_equals_per_document_attention(seq):
    rows = ROWS if seq == 384 else RAGGED_ROWS
    _assert_packed_equals_per_document("auto", rows, seq, device="cuda")


@pytest.mark.parametrize("kernel", ["flex_attention", "sdpa", "eager", "auto"])
def test_packed_attention_equals_per_document_attention(kernel):
    _assert_packed_equals_per_document(kernel, ROWS, 3 * BLOCK)


def test_packed_model_forward_equals_per_document_forward():
    """Whole model: positions restart per document and no attention crosses a boundary, so
    each document's logits in the packed row are those of the document run alone."""
    config = CausalLMConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
    )
    torch.manual_seed(0)
    model = build_causal_lm(config).eval()
    docs = _packed_ids()[:1]
    ids = torch.randint(0, 64, docs.shape)
    with torch.no_grad():
        packed = model(ids, document_ids=docs).logits
        start = 0
        for n in ROWS[0]:
            alone = model(ids[:, start : start + n]).logits
            torch.testing.assert_close(packed[:, start : start + n], alone, atol=5e-5, rtol=1e-4)
            start += n


def test_auto_picks_flex_for_packed_batches_on_cuda_only():
    attn = CausalSelfAttention(32, 4, attn_implementation="auto")
    docs = _packed_ids()
    packed = AttentionMask(*docs.shape, kv_len=docs.shape[1], device=docs.device, document_ids=docs)
    plain = AttentionMask(2, 16, 16, docs.device)
    assert attn.kernel_for(packed, "cuda") == "flex_attention"
    assert attn.kernel_for(plain, "cuda") == "sdpa"
    assert attn.kernel_for(packed, "cpu") == "sdpa"
    forced = CausalSelfAttention(32, 4, attn_implementation="sdpa")
    assert forced.kernel_for(packed, "cuda") == "sdpa"
