"""Llama-family decoder (Llama, Mistral, Qwen3 shapes), generation and HF save/load.

Importing this package imports torch; command modules import it inside handlers.
"""

from fgtui.engine.models.attention import CausalSelfAttention
from fgtui.engine.models.build import bind, build_causal_lm, materialize, resolve_dtype
from fgtui.engine.models.cache import KVCache
from fgtui.engine.models.config import CausalLMConfig
from fgtui.engine.models.feedforward import GLUFeedForward
from fgtui.engine.models.init import normal_init
from fgtui.engine.models.layers import PostNormLayer, PreNormLayer
from fgtui.engine.models.model import CausalLM, CausalLMOutput, DecoderModel
from fgtui.engine.models.norm import RMSNorm
from fgtui.engine.models.rope import NoPositionalEncoding, RotaryEmbedding

DecoderLayer = PreNormLayer

__all__ = [
    "CausalLM",
    "CausalLMConfig",
    "CausalLMOutput",
    "CausalSelfAttention",
    "DecoderLayer",
    "DecoderModel",
    "GLUFeedForward",
    "KVCache",
    "NoPositionalEncoding",
    "PostNormLayer",
    "PreNormLayer",
    "RMSNorm",
    "RotaryEmbedding",
    "bind",
    "build_causal_lm",
    "materialize",
    "normal_init",
    "resolve_dtype",
]
