"""`build_causal_lm`: config + optional part factories -> a model on the target device.

The model is always constructed on the meta device (no memory, no init
cost), cast to the target dtype there, then materialized with `to_empty()`
directly on the target device and initialized in place. A 7B model thus
never exists as an fp32 host copy.

Part factories come from templates (`!partial:...`). Each receives the
hyperparameters it accepts from the config, except those the template
already fixed in the partial: template values win over config values.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from fgtui.engine.models.attention import CausalSelfAttention
from fgtui.engine.models.config import CausalLMConfig
from fgtui.engine.models.feedforward import GLUFeedForward
from fgtui.engine.models.init import normal_init
from fgtui.engine.models.layers import PreNormLayer
from fgtui.engine.models.model import CausalLM, DecoderModel
from fgtui.engine.models.norm import RMSNorm
from fgtui.engine.models.rope import RotaryEmbedding


def bind(factory: Callable[..., Any], **defaults: Any) -> Callable[..., Any]:
    """`functools.partial(factory, **defaults)`, keeping keywords the factory already fixes
    and dropping defaults its signature does not accept."""
    fixed = factory.keywords if isinstance(factory, functools.partial) else {}
    try:
        params = inspect.signature(factory).parameters.values()
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
        accepted = {p.name for p in params}
    except (TypeError, ValueError):
        takes_any, accepted = True, set()
    kept = {k: v for k, v in defaults.items() if k not in fixed and (takes_any or k in accepted)}
    return functools.partial(factory, **kept)


def resolve_dtype(dtype: torch.dtype | str | None) -> torch.dtype | None:
    """torch dtype from a config string ("bfloat16", "bf16", "float32", "fp16", ...)."""
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    aliases = {"bf16": "bfloat16", "fp16": "float16", "half": "float16", "fp32": "float32", "float": "float32"}
    name = aliases.get(str(dtype), str(dtype)).removeprefix("torch.")
    value = getattr(torch, name, None)
    if not isinstance(value, torch.dtype):
        from fgtui.engine.errors import FgError

        raise FgError(f"unknown dtype {dtype!r}", hint="use bfloat16, float16 or float32")
    return value


def build_causal_lm(
    config: CausalLMConfig,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | str | None = None,
    *,
    layer_factory: Callable[..., nn.Module] | None = None,
    attention_factory: Callable[..., nn.Module] | None = None,
    feedforward_factory: Callable[..., nn.Module] | None = None,
    norm_factory: Callable[..., nn.Module] | None = None,
    positional_encoding_factory: Callable[..., nn.Module] | None = None,
    init_weights: Callable[[nn.Module], None] | None = None,
    persistent_rope_buffers: bool = False,
) -> CausalLM:
    """Build a Llama-family causal LM; `device="meta"` returns the bare skeleton.

    Defaults give the HF-compatible model of `config.model_type`; the factories
    swap parts (e.g. `PostNormLayer`, a different norm or feed-forward).
    `init_weights(model)` runs after materialization (default: `normal_init`
    with `config.initializer_range`).
    """
    if isinstance(config, dict):
        config = CausalLMConfig(**config)
    dtype = resolve_dtype(dtype)
    norm_f = bind(norm_factory or RMSNorm, eps=config.rms_norm_eps)
    attention_f = bind(
        attention_factory or CausalSelfAttention,
        hidden_size=config.hidden_size,
        num_attention_heads=config.num_attention_heads,
        num_key_value_heads=config.num_key_value_heads,
        head_dim=config.head_dim,
        qk_norm=config.qk_norm,
        rms_norm_eps=config.rms_norm_eps,
        sliding_window=config.sliding_window,
        attn_implementation=config.attn_implementation,
    )
    feedforward_f = bind(
        feedforward_factory or GLUFeedForward,
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
    )
    layer_f = bind(
        layer_factory or PreNormLayer,
        attention_factory=attention_f,
        feedforward_factory=feedforward_f,
        norm_factory=norm_f,
        hidden_size=config.hidden_size,
    )
    rope_f = bind(
        positional_encoding_factory or RotaryEmbedding,
        head_dim=config.head_dim,
        rope_theta=config.rope_theta,
        rope_scaling=config.rope_scaling,
        max_position_embeddings=config.max_position_embeddings,
        persistent=persistent_rope_buffers,
    )
    with torch.device("meta"):
        decoder = DecoderModel(
            config.vocab_size,
            config.hidden_size,
            config.num_hidden_layers,
            layer_f,
            norm_f,
            rope_f(),
            pad_token_id=config.pad_token_id,
        )
        model = CausalLM(config, decoder)
    if dtype is not None:
        model.to(dtype)
    if torch.device(device).type == "meta":
        return model
    materialize(model, device)
    (init_weights or functools.partial(normal_init, std=config.initializer_range))(model)
    return model


def materialize(model: CausalLM, device: torch.device | str) -> CausalLM:
    """Allocate a meta-device model's storage on `device` (uninitialized), re-tie and
    rebuild derived buffers. Weights must be initialized or loaded afterwards."""
    model.to_empty(device=device)
    model.tie_weights()
    model.reset_buffers()
    return model
