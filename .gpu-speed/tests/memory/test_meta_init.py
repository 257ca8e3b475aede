from __future__ import annotations

import torch

from fgtui.engine.memory.meta_init import init_on_meta, materialize, parameter_count
from memory_helpers import batch, hf_loss, tiny_llama


def test_meta_build_then_materialise_trains_like_a_normal_model():
    with init_on_meta():
        model = tiny_llama()
    assert all(p.device.type == "meta" for p in model.parameters())
    # RoPE frequencies are buffers computed in __init__: they must survive.
    ref = tiny_llama()
    torch.testing.assert_close(model.model.rotary_emb.inv_freq, ref.model.rotary_emb.inv_freq)
    assert parameter_count(model) == parameter_count(ref)
    materialize(model, "cpu", torch.float32)
    assert all(p.device.type == "cpu" and torch.isfinite(p).all() for p in model.parameters())
    norm = model.model.layers[0].input_layernorm.weight
    assert torch.equal(norm, torch.ones_like(norm))
    assert 0.01 < float(model.lm_head.weight.detach().std()) < 0.03
    # same architecture → loading the reference weights gives the reference loss
    model.load_state_dict(ref.state_dict())
    ids, labels = batch()
    torch.testing.assert_close(hf_loss(model, ids, labels), hf_loss(ref, ids, labels))


def test_tied_parameters_stay_tied_and_dtype_applies():
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=64,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        tie_word_embeddings=True,
    )
    with init_on_meta():
        model = LlamaForCausalLM(config)
    materialize(model, "cpu", torch.bfloat16)
    assert model.lm_head.weight is model.model.embed_tokens.weight
    assert all(p.dtype == torch.bfloat16 for p in model.parameters())
    assert model.model.rotary_emb.inv_freq.dtype == torch.float32


def test_patch_is_undone():
    with init_on_meta():
        pass
    assert torch.nn.Linear(2, 2).weight.device.type == "cpu"
