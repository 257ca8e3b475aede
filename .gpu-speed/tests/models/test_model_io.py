"""Meta-device construction, save/load round trips, and refusals on mismatched weights."""

from __future__ import annotations

import functools
import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from fgtui.engine.errors import FgError
from fgtui.engine.models import PostNormLayer, build_causal_lm
from fgtui.engine.models.hf_io import load_pretrained, load_weights, save_pretrained
from model_helpers import tiny_config, tiny_model


def test_meta_build_allocates_nothing_and_materializes_in_target_dtype():
    skeleton = build_causal_lm(tiny_config(), device="meta")
    assert all(t.is_meta for t in skeleton.state_dict().values())
    model = build_causal_lm(tiny_config(tie_word_embeddings=True), dtype="bfloat16")
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    assert model.model.rotary_emb.inv_freq.dtype == torch.float32
    assert model.lm_head.weight is model.model.embed_tokens.weight
    std = model.model.layers[0].mlp.up_proj.weight.float().std().item()
    assert 0.015 < std < 0.025  # initialized, not left as uninitialized memory


@pytest.mark.parametrize("persistent", [False, True])
def test_round_trip_with_and_without_persistent_rope_buffers(tmp_path, persistent):
    torch.manual_seed(0)
    config = tiny_config(rope_scaling={"rope_type": "linear", "factor": 2.0})
    model = build_causal_lm(config, persistent_rope_buffers=persistent).eval()
    assert ("model.rotary_emb.inv_freq" in model.state_dict()) == persistent
    save_pretrained(model, tmp_path)
    assert not any("inv_freq" in k for k in load_file(tmp_path / "model.safetensors"))
    loaded = load_pretrained(tmp_path).eval()
    assert not any(t.is_meta for t in list(loaded.parameters()) + list(loaded.buffers()))
    ids = torch.randint(0, 96, (1, 9))
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids).logits, model(ids).logits, rtol=0, atol=0)


def test_loaded_weights_are_trainable_and_directory_can_be_overwritten(tmp_path):
    model = tiny_model()
    save_pretrained(model, tmp_path)
    loaded = load_pretrained(tmp_path).train()
    ids = torch.randint(0, 96, (2, 8))
    loaded(ids, labels=ids).loss.backward()
    torch.optim.SGD(loaded.parameters(), lr=0.1).step()
    save_pretrained(loaded, tmp_path)  # rewrite the files the weights were read from
    again = load_pretrained(tmp_path)
    torch.testing.assert_close(again.lm_head.weight, loaded.lm_head.weight)


def test_bfloat16_dtype_is_recorded_and_restored(tmp_path):
    model = build_causal_lm(tiny_config(), dtype=torch.bfloat16)
    save_pretrained(model, tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["dtype"] == "bfloat16"
    assert load_pretrained(tmp_path).lm_head.weight.dtype == torch.bfloat16
    assert load_pretrained(tmp_path, dtype="float32").lm_head.weight.dtype == torch.float32


def test_load_weights_into_a_materialized_model(tmp_path):
    source, target = tiny_model(seed=1), tiny_model(seed=2)
    save_pretrained(source, tmp_path)
    load_weights(target, tmp_path)
    torch.testing.assert_close(target.state_dict(), source.state_dict())


def test_mismatched_names_and_shapes_are_listed_and_refused(tmp_path):
    save_pretrained(tiny_model(), tmp_path)
    weights = load_file(tmp_path / "model.safetensors")
    weights["model.layers.0.mlp.gate_proj.weight"] = torch.zeros(3, 3)
    weights["model.layers.9.extra.weight"] = torch.zeros(1)
    del weights["model.norm.weight"]
    save_file(weights, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(FgError) as info:
        load_pretrained(tmp_path)
    message = info.value.message
    assert "missing: model.norm.weight" in message
    assert "unexpected: model.layers.9.extra.weight" in message
    assert "model.layers.0.mlp.gate_proj.weight [3, 3] vs model [128, 64]" in message


def test_custom_composition_saves_under_a_type_transformers_refuses(tmp_path):
    config = tiny_config()
    model = build_causal_lm(config, layer_factory=functools.partial(PostNormLayer))
    assert "post_feedforward_layernorm" in str(list(model.state_dict()))
    save_pretrained(model, tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model_type"] == "fgtui" and "PostNormLayer" in saved["not_hf_loadable_because"]
    from transformers import AutoModelForCausalLM

    with pytest.raises(Exception):
        AutoModelForCausalLM.from_pretrained(tmp_path)
    rebuilt = build_causal_lm(config, layer_factory=PostNormLayer, device="meta")
    load_weights(rebuilt, tmp_path)
    torch.testing.assert_close(rebuilt.state_dict(), model.state_dict())


def test_template_values_win_over_config_values():
    from fgtui.engine.models import CausalSelfAttention

    model = build_causal_lm(tiny_config(), attention_factory=functools.partial(CausalSelfAttention, sliding_window=3))
    assert {layer.self_attn.sliding_window for layer in model.model.layers} == {3}
    assert model.model.layers[0].self_attn.num_heads == 4  # the rest still comes from the config


def test_special_token_ids_come_from_the_tokenizer_and_files_are_not_private(tmp_path):
    import os
    import stat
    from types import SimpleNamespace

    from transformers import AutoConfig, GenerationConfig

    model = tiny_model()
    assert (model.config.bos_token_id, model.config.eos_token_id) == (1, 2)  # the config's defaults
    tokenizer = SimpleNamespace(bos_token_id=0, eos_token_id=1, pad_token_id=2, save_pretrained=lambda directory: None)
    save_pretrained(model, tmp_path, tokenizer=tokenizer)
    config = AutoConfig.from_pretrained(tmp_path)
    assert (config.bos_token_id, config.eos_token_id, config.pad_token_id) == (0, 1, 2)
    generation = GenerationConfig.from_pretrained(tmp_path)
    assert (generation.bos_token_id, generation.eos_token_id, generation.pad_token_id) == (0, 1, 2)
    assert load_pretrained(tmp_path).config.eos_token_id == 1
    weights, config_file = tmp_path / "model.safetensors", tmp_path / "config.json"
    assert stat.S_IMODE(os.stat(weights).st_mode) == stat.S_IMODE(os.stat(config_file).st_mode)
