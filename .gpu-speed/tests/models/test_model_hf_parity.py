"""Logits match `transformers` both ways on small random models."""

from __future__ import annotations

import pytest
import torch

from fgtui.engine.models import build_causal_lm
from fgtui.engine.models.hf_io import load_pretrained, save_pretrained
from model_helpers import hf_model_from, tiny_config

VARIANTS = {
    "llama": dict(),
    "llama_tied": dict(tie_word_embeddings=True),
    "llama_mha": dict(num_key_value_heads=4),
    "mistral_window": dict(model_type="mistral", sliding_window=5),
    "qwen3_qknorm": dict(model_type="qwen3", qk_norm=True, head_dim=32),
    "llama3_rope": dict(
        rope_theta=500000.0,
        rope_scaling={
            "rope_type": "llama3",
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 32,
        },
    ),
    "yarn_rope": dict(rope_scaling={"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32}),
    "linear_rope": dict(rope_scaling={"rope_type": "linear", "factor": 2.0}),
}


def _ids(seed=0, batch=2, length=17, vocab=96):
    return torch.randint(0, vocab, (batch, length), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_fgtui_weights_in_transformers_give_same_logits(variant):
    config = tiny_config(**VARIANTS[variant])
    torch.manual_seed(0)
    ours = build_causal_lm(config).eval()
    theirs = hf_model_from(config)
    result = theirs.load_state_dict(ours.state_dict(), strict=False)
    assert not result.unexpected_keys and not result.missing_keys
    ids = _ids()
    with torch.no_grad():
        a, b = ours(ids, labels=ids), theirs(input_ids=ids, labels=ids)
    torch.testing.assert_close(a.logits, b.logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(a.loss, b.loss, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("variant", ["llama_tied", "mistral_window", "qwen3_qknorm"])
def test_save_pretrained_loads_in_transformers(tmp_path, variant):
    from transformers import AutoModelForCausalLM

    config = tiny_config(**VARIANTS[variant])
    torch.manual_seed(1)
    ours = build_causal_lm(config).eval()
    save_pretrained(ours, tmp_path, max_shard_size="40KB")
    assert (tmp_path / "model.safetensors.index.json").is_file()  # sharded: the model is ~100 KB
    theirs = AutoModelForCausalLM.from_pretrained(tmp_path, attn_implementation="eager").eval()
    ids = _ids(3)
    with torch.no_grad():
        torch.testing.assert_close(ours(ids).logits, theirs(input_ids=ids).logits, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("variant", ["llama", "llama_tied", "mistral_window", "qwen3_qknorm", "yarn_rope"])
def test_transformers_directory_loads_into_fgtui(tmp_path, variant):
    config = tiny_config(**VARIANTS[variant])
    torch.manual_seed(2)
    theirs = hf_model_from(config)
    theirs.save_pretrained(tmp_path)
    ours = load_pretrained(tmp_path, attn_implementation="eager").eval()
    assert ours.config.model_type == config.model_type
    assert ours.config.tie_word_embeddings == config.tie_word_embeddings
    ids = _ids(4)
    with torch.no_grad():
        torch.testing.assert_close(ours(ids).logits, theirs(input_ids=ids).logits, rtol=1e-5, atol=1e-5)


def test_left_padded_batch_matches_transformers():
    config = tiny_config()
    torch.manual_seed(3)
    ours = build_causal_lm(config).eval()
    theirs = hf_model_from(config)
    theirs.load_state_dict(ours.state_dict(), strict=False)
    ids = _ids(5, length=9)
    mask = torch.ones_like(ids)
    mask[1, :3] = 0
    with torch.no_grad():
        a = ours(ids, attention_mask=mask).logits
        b = theirs(input_ids=ids, attention_mask=mask).logits
    assert torch.isfinite(a).all()
    real = mask.bool()
    torch.testing.assert_close(a[real], b[real], rtol=1e-5, atol=1e-5)
