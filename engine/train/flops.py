"""Model FLOPs per token and MFU, the way PaLM (App. B) and torchtitan count them.

    flops/token = 6 * N_matmul + 12 * n_layers * n_heads * head_dim * seq_len

N_matmul counts the weights that take part in matmuls: every parameter except the
input embedding (a lookup, not a matmul), with a tied lm_head counted once. Causal
sparsity is not discounted and activation-checkpoint recompute is not counted (that
would be hardware FLOPs utilisation). MFU = flops/token * tokens/s / device peak.
Forgather used 18 N and so overstated MFU about 3x; we do not.

The attention term is really per (query, key) pair: 12 * n_layers * n_heads * head_dim
FLOPs for each pair a query may see, counted over the square of the span it attends
in. A row of T tokens holding one sequence has T^2 pairs, hence `* seq_len` per token.
A packed row attends only within each document, so its pairs are the sum of its
documents' squared lengths (`attention_area`); counting T^2 there credited a 64K
row of 2K documents with 32x the attention work it does (MFU above 1.0).
`FlopsModel.step_flops(tokens, area)` is the one count the trainer and every bench use.
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


@dataclass(frozen=True)
class FlopsModel:
    """A model's training FLOPs as two coefficients: `dense` per token (6 N_matmul) and
    `attention` per attended (query, key) pair (12 * layers * heads * head_dim)."""

    dense: float
    attention: float

    @classmethod
    def from_shape(cls, n_matmul: int, shape: ModelShape) -> "FlopsModel":
        return cls(6.0 * n_matmul, 12.0 * shape.n_layers * shape.n_heads * shape.head_dim)

    def per_token(self, seq_len: int) -> float:
        """FLOPs per token of rows that are one sequence of `seq_len` tokens each."""
        return self.dense + self.attention * seq_len

    def step_flops(self, tokens: int, area: int) -> float:
        """FLOPs of `tokens` input tokens whose rows attend over `area` (query, key) pairs."""
        return self.dense * tokens + self.attention * area


def attention_area(input_ids: Any, document_ids: Any = None) -> int:
    """The (query, key) pairs the attention term counts for one batch: per row, the sum of
    its documents' squared lengths; a row without document ids is one document of its
    full length. Padding (document id < 0) is no document: it trains nothing.
    Causality is not discounted here either (the convention above), so an unpacked
    [B, T] batch gives B * T^2 and `step_flops` equals `per_token(T)` per token."""
    rows, length = input_ids.shape[0], input_ids.shape[-1]
    if document_ids is None:
        return int(rows) * int(length) ** 2
    import torch

    # One pass over the whole batch (it runs every step): a run starts where the id
    # changes or a row begins; its length is the gap to the next start.
    width = document_ids.shape[-1]
    flat = document_ids.reshape(-1).cpu()
    starts = torch.ones(flat.numel(), dtype=torch.bool)
    starts[1:] = flat[1:] != flat[:-1]
    starts[::width] = True
    first = starts.nonzero().squeeze(-1)
    lengths = torch.diff(first, append=torch.tensor([flat.numel()]))
    lengths = lengths[flat[first] >= 0].to(torch.int64)
    return int((lengths * lengths).sum())


def document_ids_from_positions(position_ids: Any) -> Any:
    """Document ids of rows whose positions restart at 0 at each document (the packed form
    transformers reads), numbered from 0 per row."""
    return (position_ids == 0).long().cumsum(-1) - 1


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


def flops_model(model: Any) -> FlopsModel | None:
    """The model's FLOPs coefficients, or None when its shape is unknown.

    A model that knows its own count (`model.flops_per_token(seq_len)`, as fgtui's
    decoder does) is asked; that count is linear in seq_len, so its value at 0 is the
    dense part and its slope the attention coefficient. Otherwise the count is derived
    from the model's config.
    """
    own = getattr(model, "flops_per_token", None)
    if callable(own):
        dense = float(own(0))
        return FlopsModel(dense, float(own(1)) - dense)
    shape = model_shape(model)
    if shape is None:
        return None
    return FlopsModel.from_shape(matmul_params(model), shape)


def flops_per_token(model: Any, seq_len: int) -> float | None:
    """Training FLOPs per token of unpacked rows of `seq_len`, or None when the shape is unknown."""
    counted = flops_model(model)
    return counted.per_token(seq_len) if counted is not None else None


def mfu(flops_token: float | None, tokens_per_s: float, peak_flops: float | None) -> float | None:
    """Model FLOPs utilisation, or None when either the FLOPs or the peak is unknown."""
    if flops_token is None or peak_flops is None or peak_flops <= 0:
        return None
    return flops_token * tokens_per_s / peak_flops
