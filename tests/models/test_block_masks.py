"""Block masks from tile ranges (masks.rule_block_mask) for every rule set: documents, padding,
sliding windows and a cache offset, at ragged lengths; checked tile by tile against the exact
element mask and against torch's own create_block_mask, and through flex_attention."""

from __future__ import annotations

import pytest
import torch

from fgtui.engine.models.attention import CausalSelfAttention
from fgtui.engine.models.masks import FLEX_BLOCK, AttentionMask

B = FLEX_BLOCK


def _docs(batch: int, length: int, seed: int, pad_tail: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(batch):
        starts = torch.zeros(length, dtype=torch.long)
        starts[torch.randint(1, length, (4,), generator=generator)] = 1
        row = starts.cumsum(0)
        if pad_tail:
            row[-pad_tail:] = -1
        rows.append(row)
    return torch.stack(rows)


def _padding(batch: int, length: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    mask = torch.ones(batch, length, dtype=torch.long)
    mask[0, : int(torch.randint(1, length // 2, (1,), generator=generator))] = 0  # left padding
    mask[1, -int(torch.randint(1, length // 2, (1,), generator=generator)) :] = 0  # right padding
    mask[1, 5:9] = 0  # a hole
    return mask


CASES = {
    "packed 300": dict(q_len=300, kv_len=300, docs=True),
    "packed with padding ids 384": dict(q_len=384, kv_len=384, docs=True, pad_tail=70),
    "padding 300": dict(q_len=300, kv_len=300, padding=True),
    "window 50, 300": dict(q_len=300, kv_len=300, window=50),
    "window 200, packed, padding 300": dict(q_len=300, kv_len=300, window=200, docs=True, padding=True),
    "cache offset 100 of 420, window 130": dict(q_len=100, kv_len=420, window=130),
    "cache offset, padding": dict(q_len=130, kv_len=300, padding=True),
}


def _mask(case: dict) -> AttentionMask:
    kv = case["kv_len"]
    docs = _docs(2, kv, seed=kv, pad_tail=case.get("pad_tail", 0)) if case.get("docs") else None
    padding = _padding(2, kv, seed=kv + 1) if case.get("padding") else None
    return AttentionMask(2, case["q_len"], kv, torch.device("cpu"), padding, docs)


def _tile_views(dense: torch.Tensor, q_len: int, kv_len: int):
    n_q, n_k = -(-q_len // B), -(-kv_len // B)
    for i in range(n_q):
        for j in range(n_k):
            yield i, j, dense[:, 0, i * B : (i + 1) * B, j * B : (j + 1) * B]


@pytest.mark.parametrize("name", list(CASES))
def test_rule_block_mask_skips_only_hidden_tiles_and_calls_full_only_full_ones(name):
    case = CASES[name]
    mask = _mask(case)
    window = case.get("window")
    exact = mask.dense(window)  # [B, 1, Tq, Tk]
    blocks = mask.block_mask(window)
    assert blocks.seq_lengths == (case["q_len"], case["kv_len"])
    partial, full = blocks.to_dense().bool(), torch.zeros_like(blocks.to_dense()).bool()
    for b in range(2):
        for i in range(full.shape[2]):
            count = int(blocks.full_kv_num_blocks[b, 0, i])
            full[b, 0, i, blocks.full_kv_indices[b, 0, i, :count]] = True
    for i, j, tile in _tile_views(exact, case["q_len"], case["kv_len"]):
        for b in range(2):
            if not partial[b, 0, i, j]:
                assert not tile[b].any(), (name, b, i, j)
            if full[b, 0, i, j]:
                assert tile[b].all(), (name, b, i, j)


@pytest.mark.parametrize("name", list(CASES))
def test_rule_block_mask_equals_torch_create_block_mask(name):
    from torch.nn.attention.flex_attention import create_block_mask

    case = CASES[name]
    mask = _mask(case)
    window = case.get("window")
    ours = mask.block_mask(window)
    theirs = create_block_mask(mask.mask_mod(window), 2, None, case["q_len"], case["kv_len"], device="cpu")
    assert torch.equal(ours.to_dense(), theirs.to_dense())


@pytest.mark.parametrize("name", list(CASES))
def test_flex_attention_through_the_block_mask_equals_the_dense_mask(name):
    case = CASES[name]
    mask = _mask(case)
    torch.manual_seed(0)
    flex = CausalSelfAttention(32, 4, 2, sliding_window=case.get("window"), attn_implementation="flex_attention")
    eager = CausalSelfAttention(32, 4, 2, sliding_window=case.get("window"), attn_implementation="eager")
    eager.load_state_dict(flex.state_dict())
    heads = torch.randn(3, 2, 4, case["kv_len"], 8)
    q = heads[0][:, :, case["kv_len"] - case["q_len"] :]
    k, v = heads[1][:, :2], heads[2][:, :2]
    torch.testing.assert_close(flex._attend(q, k, v, mask), eager._attend(q, k, v, mask), atol=2e-5, rtol=1e-4)


def test_no_compiled_create_block_mask_remains():
    from fgtui.engine.models import masks

    assert not hasattr(masks, "_create_block_mask")
