"""Model FLOPs per token and MFU, the way PaLM (App. B) and torchtitan count them.

    flops/token = 6 * N_matmul + 12 * n_layers * n_heads * head_dim * seq_len

N_matmul counts the weights that take part in matmuls: every parameter except the
input embedding (a lookup, not a matmul), with a tied lm_head counted once. Causal
sparsity is not discounted and activation-checkpoint recompute is not counted (that
would be hardware FLOPs utilisation). MFU = flops/token * tokens/s / device peak.
Forgather used 18 N and so overstated MFU about 3x; we do not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Dense bf16 tensor-core peaks (FLOP/s) from the vendors' data sheets. Matched by
# substring against torch.cuda.get_device_name(); more specific names first.
PEAK_BF16_FLOPS: tuple[tuple[str, float], ...] = (
    ("H200", 989e12),
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("H100", 989e12),
    ("A100", 312e12),
    ("RTX 4090", 165.2e12),
    ("RTX 3090", 71e12),
)


@dataclass(frozen=True)
class ModelShape:
    """What the attention term needs; read from the model or its config."""

    n_layers: int
    n_heads: int
    head_dim: int


def device_peak_flops(device_name: str) -> float | None:
    """Dense bf16 peak of a CUDA device by name, or None when unknown (or CPU)."""
    for key, peak in PEAK_BF16_FLOPS:
        if key in device_name:
            return peak
    return None


def matmul_params(model: Any) -> int:
    """Parameters that take part in matmuls: all but input embeddings, tied ones once."""
    import torch

    embedding_weights = {id(module.weight) for module in model.modules() if isinstance(module, torch.nn.Embedding)}
    seen: set[int] = set()
    total = 0
    # parameters() already yields a tied tensor once; the embedding id is what an
    # untied lm_head does not share, so a tied head (same tensor) is dropped with it
    # and must be added back: it is a matmul.
    for param in model.parameters():
        if id(param) in seen:
            continue
        seen.add(id(param))
        if id(param) not in embedding_weights:
            total += param.numel()
    output = _output_embedding(model)
    if output is not None and id(output.weight) in embedding_weights:
        total += output.weight.numel()
    return total


def _output_embedding(model: Any):
    getter = getattr(model, "get_output_embeddings", None)
    return getter() if callable(getter) else None


def model_shape(model: Any) -> ModelShape | None:
    """Layers, heads and head size, from our models or a transformers config."""
    shape = getattr(model, "shape_for_flops", None)
    if callable(shape):
        return shape()
    config = getattr(model, "config", None)
    if config is None:
        return None
    layers = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layers", None)
    heads = getattr(config, "num_attention_heads", None) or getattr(config, "n_heads", None)
    hidden = getattr(config, "hidden_size", None) or getattr(config, "d_model", None)
    if not (layers and heads and hidden):
        return None
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    return ModelShape(int(layers), int(heads), int(head_dim))


def flops_per_token(model: Any, seq_len: int) -> float | None:
    """Training FLOPs per token at `seq_len`, or None when the model's shape is unknown.

    A model that knows its own count (`model.flops_per_token(seq_len)`, as
    fgtui's decoder does) is asked; otherwise the count is derived from its config.
    """
    own = getattr(model, "flops_per_token", None)
    if callable(own):
        return float(own(seq_len))
    shape = model_shape(model)
    if shape is None:
        return None
    attention = 12 * shape.n_layers * shape.n_heads * shape.head_dim * seq_len
    return float(6 * matmul_params(model) + attention)


def mfu(flops_token: float | None, tokens_per_s: float, peak_flops: float | None) -> float | None:
    """Model FLOPs utilisation, or None when either the FLOPs or the peak is unknown."""
    if flops_token is None or peak_flops is None or peak_flops <= 0:
        return None
    return flops_token * tokens_per_s / peak_flops
