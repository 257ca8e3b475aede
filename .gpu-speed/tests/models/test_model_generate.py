"""KV-cache generation equals full-sequence recomputation; sampling controls."""

from __future__ import annotations

import pytest
import torch

from fgtui.engine.models.generate import generate, sample_next
from model_helpers import tiny_model


@pytest.mark.parametrize(
    "overrides", [dict(), dict(model_type="mistral", sliding_window=4), dict(model_type="qwen3", qk_norm=True)]
)
def test_cached_greedy_equals_recomputation(overrides):
    model = tiny_model(**overrides)
    prompt = torch.randint(3, 96, (2, 5), generator=torch.Generator().manual_seed(0))
    out = generate(model, prompt, max_new_tokens=8)
    assert out.shape == (2, 13)
    with torch.no_grad():
        full = model(out).logits
    # Every generated token is the argmax of a full (uncached) forward over its prefix.
    torch.testing.assert_close(out[:, 5:], full[:, 4:-1].argmax(-1), rtol=0, atol=0)


def test_cached_logits_equal_full_logits():
    model = tiny_model()
    ids = torch.randint(3, 96, (1, 10), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        full = model(ids).logits
        step = model(ids[:, :6], use_cache=True)
        cache = step.past_key_values
        pieces = [step.logits]
        for t in range(6, 10):
            pieces.append(model(ids[:, t : t + 1], past_key_values=cache).logits)
        # several new tokens at once behind a cache (chunked prefill) too
        chunk = model(ids[:, :4], use_cache=True)
        rest = model(ids[:, 4:], past_key_values=chunk.past_key_values).logits
    torch.testing.assert_close(torch.cat(pieces, 1), full, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(torch.cat((chunk.logits, rest), 1), full, rtol=1e-5, atol=1e-5)


def test_left_padded_batch_generates_like_single_prompts():
    model = tiny_model()
    g = torch.Generator().manual_seed(2)
    short, long = torch.randint(3, 96, (1, 3), generator=g), torch.randint(3, 96, (1, 6), generator=g)
    batch = torch.cat((torch.cat((torch.zeros(1, 3, dtype=torch.long), short), 1), long))
    mask = torch.ones_like(batch)
    mask[0, :3] = 0
    together = generate(model, batch, max_new_tokens=5, attention_mask=mask)
    torch.testing.assert_close(together[0, 6:], generate(model, short, 5)[0, 3:], rtol=0, atol=0)
    torch.testing.assert_close(together[1, 6:], generate(model, long, 5)[0, 6:], rtol=0, atol=0)


def test_stop_tokens_end_rows_and_pad_after():
    model = tiny_model()
    prompt = torch.randint(3, 96, (2, 4), generator=torch.Generator().manual_seed(3))
    free = generate(model, prompt, max_new_tokens=6)
    stop = int(free[0, 5])  # the second token row 0 generates
    out = generate(model, prompt, max_new_tokens=6, stop_token_ids=[stop], pad_token_id=0)
    row0 = out[0, 4:].tolist()
    first = row0.index(stop)
    assert all(t == 0 for t in row0[first + 1 :])
    assert out.shape[1] <= free.shape[1]


def test_top_k_and_top_p_restrict_the_candidates():
    logits = torch.tensor([[4.0, 3.0, 2.0, 1.0, 0.0]]).repeat(400, 1)
    g = torch.Generator().manual_seed(4)
    assert set(sample_next(logits, 1.0, top_k=2, generator=g).tolist()) == {0, 1}
    probs = logits[0].softmax(-1)  # 0.64, 0.24, 0.09, ...: top_p 0.8 needs the first two
    assert probs[0] < 0.8 < probs[:2].sum()
    assert set(sample_next(logits, 1.0, top_p=0.8, generator=g).tolist()) == {0, 1}
    assert set(sample_next(logits, 1.0, top_p=0.5, generator=g).tolist()) == {0}
    assert set(sample_next(logits, 5.0, generator=g).tolist()) == {0, 1, 2, 3, 4}
    assert sample_next(logits[:1], 0.0).item() == 0
