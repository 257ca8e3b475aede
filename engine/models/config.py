"""`CausalLMConfig`: the shape of a Llama-family decoder, and its HF `config.json` form.

The field names follow Hugging Face's `LlamaConfig` so that a config written
by hand, read from a template or read from an HF model directory means the
same thing. `to_hf_dict()` / `from_hf_dict()` convert to and from the
`config.json` that `transformers` reads for `llama`, `mistral` and `qwen3`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from fgtui.engine.errors import FgError

MODEL_TYPES = ("llama", "mistral", "qwen3")
ATTN_IMPLEMENTATIONS = ("auto", "sdpa", "flex_attention", "varlen", "eager")
# The sizes every config gives, each a positive integer (an HF config.json has them too).
SIZES = (
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "max_position_embeddings",
)
_ARCHITECTURES = {
    "llama": "LlamaForCausalLM",
    "mistral": "MistralForCausalLM",
    "qwen3": "Qwen3ForCausalLM",
}


@dataclass
class CausalLMConfig:
    """Hyperparameters of a decoder-only causal LM (Llama, Mistral, Qwen3 shapes).

    `num_key_value_heads` defaults to `num_attention_heads` (plain multi-head
    attention) and `head_dim` to `hidden_size // num_attention_heads`; an
    explicit `head_dim` may make `heads * head_dim != hidden_size` (Qwen3 does).
    `rope_scaling` is None or a dict with `rope_type` in linear, dynamic, yarn,
    llama3 plus that type's parameters (see `fgtui.engine.models.rope`).
    """

    vocab_size: int = 32000
    hidden_size: int = 4096
    intermediate_size: int = 11008
    num_hidden_layers: int = 32
    num_attention_heads: int = 32
    num_key_value_heads: int | None = None
    head_dim: int | None = None
    max_position_embeddings: int = 2048
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    rope_scaling: dict[str, Any] | None = None
    tie_word_embeddings: bool = False
    qk_norm: bool = False
    sliding_window: int | None = None
    attn_implementation: str = "auto"
    initializer_range: float = 0.02
    bos_token_id: int | None = 1
    eos_token_id: int | list[int] | None = 2
    pad_token_id: int | None = None
    model_type: str = "llama"

    def __post_init__(self) -> None:
        for name in SIZES:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise FgError(f"model config: {name} must be a positive integer, got {value!r}")
        if self.head_dim is None:
            if self.hidden_size % self.num_attention_heads:
                raise FgError(
                    f"model config: hidden_size {self.hidden_size} is not divisible by "
                    f"num_attention_heads {self.num_attention_heads}",
                    hint="pick a head count that divides hidden_size, or set head_dim",
                )
            self.head_dim = self.hidden_size // self.num_attention_heads
        elif self.head_dim <= 0:
            raise FgError(f"model config: head_dim must be positive, got {self.head_dim}")
        if self.head_dim % 2:
            raise FgError(f"model config: head_dim {self.head_dim} is odd; rotary embeddings rotate pairs of dims")
        if self.num_key_value_heads is None:
            self.num_key_value_heads = self.num_attention_heads
        if self.num_key_value_heads <= 0 or self.num_attention_heads % self.num_key_value_heads:
            raise FgError(
                f"model config: num_attention_heads {self.num_attention_heads} is not divisible by "
                f"num_key_value_heads {self.num_key_value_heads}",
                hint="grouped-query attention shares each key/value head among a whole number of query heads",
            )
        if self.attn_implementation not in ATTN_IMPLEMENTATIONS:
            raise FgError(
                f"model config: unknown attn_implementation {self.attn_implementation!r}",
                hint="use one of " + ", ".join(ATTN_IMPLEMENTATIONS),
            )
        if self.model_type not in MODEL_TYPES:
            raise FgError(
                f"model config: unknown model_type {self.model_type!r}",
                hint="use one of " + ", ".join(MODEL_TYPES),
            )
        if self.sliding_window is not None and self.sliding_window <= 0:
            raise FgError(f"model config: sliding_window must be positive or null, got {self.sliding_window}")
        # Imported here: rope.py imports torch, and a config must stay cheap to build.
        from fgtui.engine.models.rope import validate_rope_scaling

        self.rope_scaling = validate_rope_scaling(self.rope_scaling, self.max_position_embeddings)

    # ------------------------------------------------------------------ HF form
    def to_hf_dict(self) -> dict[str, Any]:
        """The `config.json` dict `transformers` reads for this model type.

        Raises FgError for combinations the HF class cannot express (QK-norm
        outside qwen3, a sliding window in llama), because writing them would
        make HF silently build a different model.
        """
        if self.qk_norm != (self.model_type == "qwen3"):
            raise FgError(
                f"model config: qk_norm={self.qk_norm} cannot be saved as HF model_type {self.model_type!r}",
                hint="HF has QK-norm only in qwen3; set model_type: qwen3 (with qk_norm) or turn qk_norm off",
            )
        if self.sliding_window is not None and self.model_type == "llama":
            raise FgError(
                "model config: HF llama has no sliding window",
                hint="set model_type: mistral to save a sliding-window model in HF form",
            )
        rope_parameters: dict[str, Any] = {"rope_type": "default", "rope_theta": self.rope_theta}
        if self.rope_scaling:
            rope_parameters.update(self.rope_scaling)
        out: dict[str, Any] = dict(
            architectures=[_ARCHITECTURES[self.model_type]],
            model_type=self.model_type,
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            num_key_value_heads=self.num_key_value_heads,
            head_dim=self.head_dim,
            hidden_act="silu",
            max_position_embeddings=self.max_position_embeddings,
            rms_norm_eps=self.rms_norm_eps,
            initializer_range=self.initializer_range,
            # transformers 5 reads rope_parameters; 4.x reads rope_theta/rope_scaling.
            rope_theta=self.rope_theta,
            rope_scaling=dict(self.rope_scaling) if self.rope_scaling else None,
            rope_parameters=rope_parameters,
            tie_word_embeddings=self.tie_word_embeddings,
            attention_bias=False,
            attention_dropout=0.0,
            bos_token_id=self.bos_token_id,
            eos_token_id=self.eos_token_id,
            pad_token_id=self.pad_token_id,
            use_cache=True,
        )
        if self.model_type == "llama":
            out["mlp_bias"] = False
        if self.model_type == "mistral":
            out["sliding_window"] = self.sliding_window
        if self.model_type == "qwen3":
            out["use_sliding_window"] = False
            out["sliding_window"] = None
        return out

    @classmethod
    def from_hf_dict(cls, data: dict[str, Any], **overrides: Any) -> "CausalLMConfig":
        """Read an HF `config.json` dict (llama, mistral, qwen3; transformers 4.x or 5.x form)."""
        model_type = data.get("model_type", "llama")
        if model_type not in MODEL_TYPES:
            raise FgError(
                f"HF config: model_type {model_type!r} is not supported",
                hint="fgtui loads " + ", ".join(MODEL_TYPES),
            )
        for flag in ("attention_bias", "mlp_bias"):
            if data.get(flag):
                raise FgError(f"HF config: {flag}=true is not supported by the fgtui decoder")
        if data.get("hidden_act", "silu") != "silu":
            raise FgError(
                f"HF config: hidden_act {data['hidden_act']!r} is not supported", hint="fgtui uses SwiGLU (silu)"
            )
        rope_theta, rope_scaling = _read_rope(data)
        sliding_window = data.get("sliding_window")
        if model_type == "qwen3":
            if data.get("use_sliding_window"):
                raise FgError("HF config: qwen3 per-layer sliding windows (use_sliding_window) are not supported")
            sliding_window = None
        if model_type == "llama":
            sliding_window = None
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {
            "model_type": model_type,
            "rope_theta": rope_theta,
            "rope_scaling": rope_scaling,
            "sliding_window": sliding_window,
            "qk_norm": model_type == "qwen3",
        }
        for name in (
            *SIZES,
            "num_key_value_heads",
            "head_dim",
            "rms_norm_eps",
            "tie_word_embeddings",
            "initializer_range",
            "bos_token_id",
            "eos_token_id",
            "pad_token_id",
        ):
            if data.get(name) is not None:
                kwargs[name] = data[name]
        if "tie_word_embeddings" not in data:
            # HF's PreTrainedConfig default differs per family: qwen3 and llama default False in 5.x.
            kwargs["tie_word_embeddings"] = False
        unknown = set(overrides) - known
        if unknown:
            raise FgError(f"unknown model config field(s): {', '.join(sorted(unknown))}")
        kwargs.update(overrides)
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the fields (for logs and frozen run configs)."""
        return dataclasses.asdict(self)


def _read_rope(data: dict[str, Any]) -> tuple[float, dict[str, Any] | None]:
    """(rope_theta, rope_scaling) from either HF form: 5.x `rope_parameters` or 4.x `rope_theta`+`rope_scaling`."""
    params = data.get("rope_parameters")
    if params and isinstance(params, dict) and not any(isinstance(v, dict) for v in params.values()):
        params = dict(params)
        theta = float(params.pop("rope_theta", data.get("rope_theta", 10000.0)))
    else:
        theta = float(data.get("rope_theta", 10000.0) or 10000.0)
        params = dict(data["rope_scaling"]) if data.get("rope_scaling") else {}
    if "type" in params and "rope_type" not in params:
        params["rope_type"] = params.pop("type")
    params.pop("type", None)
    if params.get("rope_type", "default") == "default":
        return theta, None
    return theta, params
