"""Config validation, HF dict conversion, parameter and FLOP accounting."""

from __future__ import annotations

import pytest

from fgtui.engine.errors import FgError
from fgtui.engine.models import CausalLMConfig
from model_helpers import tiny_config, tiny_model


def test_heads_that_do_not_divide_hidden_size_name_both_numbers():
    with pytest.raises(FgError, match="hidden_size 100 is not divisible by num_attention_heads 3"):
        CausalLMConfig(hidden_size=100, num_attention_heads=3)


def test_kv_heads_that_do_not_divide_heads_name_both_numbers():
    with pytest.raises(FgError, match="num_attention_heads 8 is not divisible by num_key_value_heads 3"):
        CausalLMConfig(hidden_size=64, num_attention_heads=8, num_key_value_heads=3)


def test_explicit_head_dim_may_differ_from_hidden_over_heads():
    config = CausalLMConfig(hidden_size=64, num_attention_heads=4, head_dim=32)
    assert config.head_dim == 32 and config.num_key_value_heads == 4


@pytest.mark.parametrize("field,value", [("attn_implementation", "flash_attention_9"), ("model_type", "gpt2")])
def test_unknown_choices_are_refused(field, value):
    with pytest.raises(FgError, match=f"unknown {field}"):
        CausalLMConfig(hidden_size=64, num_attention_heads=4, **{field: value})


@pytest.mark.parametrize(
    "overrides",
    [
        dict(),
        dict(tie_word_embeddings=True, eos_token_id=[2, 5]),
        dict(model_type="mistral", sliding_window=7),
        dict(model_type="qwen3", qk_norm=True, head_dim=32),
        dict(rope_scaling={"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32}),
    ],
)
def test_hf_dict_round_trip(overrides):
    config = tiny_config(**overrides)
    assert CausalLMConfig.from_hf_dict(config.to_hf_dict()) == config


def test_reads_transformers_4_style_rope_fields():
    data = tiny_config().to_hf_dict()
    del data["rope_parameters"]
    data.update(rope_theta=500000.0, rope_scaling={"type": "linear", "factor": 2.0})
    config = CausalLMConfig.from_hf_dict(data)
    assert config.rope_theta == 500000.0 and config.rope_scaling == {"rope_type": "linear", "factor": 2.0}


def test_features_hf_cannot_express_are_refused_in_hf_form():
    with pytest.raises(FgError, match="qk_norm=True cannot be saved as HF model_type 'llama'"):
        tiny_config(qk_norm=True).to_hf_dict()
    with pytest.raises(FgError, match="no sliding window"):
        tiny_config(sliding_window=8).to_hf_dict()


def test_parameter_count_and_flops_formula():
    untied, tied = tiny_model(), tiny_model(tie_word_embeddings=True)
    embed = 96 * 64
    assert untied.num_parameters() == sum(p.numel() for p in untied.parameters())
    assert untied.num_parameters(exclude_embeddings=True) == untied.num_parameters() - embed
    assert tied.num_parameters() == untied.num_parameters() - embed
    assert tied.num_parameters(exclude_embeddings=True) == tied.num_parameters()
    n = untied.num_parameters(exclude_embeddings=True)
    assert untied.flops_per_token(256) == 6 * n + 12 * 2 * 4 * 16 * 256
