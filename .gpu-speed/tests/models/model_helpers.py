"""Small random models shared by the model tests (hidden 64, 2 layers)."""

from __future__ import annotations

import torch

from fgtui.engine.models import CausalLMConfig, build_causal_lm


def tiny_config(**overrides) -> CausalLMConfig:
    base = dict(
        vocab_size=96,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        bos_token_id=1,
        eos_token_id=2,
    )
    base.update(overrides)
    return CausalLMConfig(**base)


def tiny_model(seed: int = 0, **overrides):
    torch.manual_seed(seed)
    return build_causal_lm(tiny_config(**overrides)).eval()


def hf_model_from(config: CausalLMConfig):
    """A transformers model of the same architecture (random weights, eager attention)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    data = config.to_hf_dict()
    data.pop("architectures")
    model_type = data.pop("model_type")
    hf_config = AutoConfig.for_model(model_type, **data)
    return AutoModelForCausalLM.from_config(hf_config, attn_implementation="eager").eval()
