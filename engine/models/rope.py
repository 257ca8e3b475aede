"""Rotary position embeddings (RoPE) and their context-extension variants.

Each scaling type maps the base inverse frequencies
`inv_freq[i] = theta ** (-2i / d)` (i = 0 .. d/2-1, d = head_dim):

- `linear` (position interpolation): `inv_freq / factor`.
- `dynamic` (dynamic NTK): for a sequence of length `s` longer than
  `max_position_embeddings` (L), the base becomes
  `theta * (factor * s / L - (factor - 1)) ** (d / (d - 2))`; shorter sequences
  use the plain frequencies.
- `yarn` (Peng et al. 2023): per-dimension blend of interpolated and original
  frequencies, ramped between the dimensions that make `beta_fast` and
  `beta_slow` full rotations over the original context, plus an attention
  temperature `0.1 * ln(factor) + 1` applied to cos/sin.
- `llama3`: long wavelengths (> L_orig / low_freq_factor) are divided by
  `factor`, short ones (< L_orig / high_freq_factor) kept, and the band between
  is interpolated smoothly.

The inverse frequencies are a non-persistent buffer (HF does the same, so HF
state dicts never carry them). Because such buffers are absent from
checkpoints, `RotaryEmbedding.reset_buffers()` recomputes them, and
`_apply` recomputes them on every device or dtype move so that `to_empty()`
after meta-device construction and `.to(torch.bfloat16)` both leave correct
float32 frequencies.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from fgtui.engine.errors import FgError
from fgtui.engine.models import fused as fused_kernels

ROPE_SCALING_TYPES = ("linear", "dynamic", "yarn", "llama3")
_REQUIRED = {
    "linear": ("factor",),
    "dynamic": ("factor",),
    "yarn": ("factor",),
    "llama3": ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"),
}
_OPTIONAL = {
    "linear": (),
    "dynamic": (),
    "yarn": (
        "original_max_position_embeddings",
        "beta_fast",
        "beta_slow",
        "attention_factor",
        "mscale",
        "mscale_all_dim",
        "truncate",
    ),
    "llama3": (),
}


def validate_rope_scaling(scaling: dict[str, Any] | None, max_position_embeddings: int) -> dict[str, Any] | None:
    """Check a `rope_scaling` dict and return it normalized (`rope_type` key, defaults filled).

    Raises FgError for an unknown type or a missing parameter.
    """
    if not scaling:
        return None
    scaling = dict(scaling)
    rope_type = scaling.pop("rope_type", None) or scaling.pop("type", None)
    scaling.pop("type", None)
    scaling.pop("rope_theta", None)
    if rope_type in (None, "default"):
        return None
    if rope_type not in ROPE_SCALING_TYPES:
        raise FgError(
            f"unknown RoPE scaling type {rope_type!r}",
            hint="use one of " + ", ".join(ROPE_SCALING_TYPES) + " (or null for plain RoPE)",
        )
    missing = [k for k in _REQUIRED[rope_type] if scaling.get(k) is None]
    if missing:
        raise FgError(f"RoPE scaling {rope_type!r} needs {', '.join(missing)}")
    unknown = set(scaling) - set(_REQUIRED[rope_type]) - set(_OPTIONAL[rope_type])
    if unknown:
        raise FgError(f"RoPE scaling {rope_type!r} does not take {', '.join(sorted(unknown))}")
    if float(scaling["factor"]) < 1.0:
        raise FgError(f"RoPE scaling factor must be >= 1, got {scaling['factor']}")
    if rope_type == "yarn":
        scaling.setdefault("original_max_position_embeddings", max_position_embeddings)
    return {"rope_type": rope_type, **scaling}


def default_inv_freq(head_dim: int, theta: float, device: torch.device | str | None = None) -> torch.Tensor:
    """`theta ** (-2i / head_dim)` for i in 0 .. head_dim/2 - 1, float32."""
    exponents = torch.arange(0, head_dim, 2, dtype=torch.int64, device=device).float() / head_dim
    return 1.0 / (theta**exponents)


def rope_inv_freq(
    head_dim: int,
    theta: float,
    scaling: dict[str, Any] | None,
    max_position_embeddings: int,
    seq_len: int | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, float]:
    """Inverse frequencies and the cos/sin multiplier (`attention_factor`) for one scaling type.

    `seq_len` matters only for `dynamic`, whose frequencies depend on the
    length of the sequence being processed.
    """
    rope_type = scaling["rope_type"] if scaling else "default"
    if rope_type == "default":
        return default_inv_freq(head_dim, theta, device), 1.0
    factor = float(scaling["factor"])
    if rope_type == "linear":
        return default_inv_freq(head_dim, theta, device) / factor, 1.0
    if rope_type == "dynamic":
        seq_len = max(seq_len or 0, max_position_embeddings)
        base = theta * ((factor * seq_len / max_position_embeddings) - (factor - 1)) ** (head_dim / (head_dim - 2))
        return default_inv_freq(head_dim, base, device), 1.0
    if rope_type == "yarn":
        return _yarn(head_dim, theta, scaling, device)
    if rope_type == "llama3":
        return _llama3(head_dim, theta, scaling, device), 1.0
    raise FgError(f"unknown RoPE scaling type {rope_type!r}")


def _yarn(head_dim: int, theta: float, s: dict[str, Any], device) -> tuple[torch.Tensor, float]:
    factor = float(s["factor"])
    original = s["original_max_position_embeddings"]
    beta_fast = s.get("beta_fast") or 32
    beta_slow = s.get("beta_slow") or 1

    def mscale(scale: float, m: float = 1.0) -> float:
        return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

    attention_factor = s.get("attention_factor")
    if attention_factor is None:
        if s.get("mscale") and s.get("mscale_all_dim"):
            attention_factor = mscale(factor, s["mscale"]) / mscale(factor, s["mscale_all_dim"])
        else:
            attention_factor = mscale(factor)

    # The dimension index whose wavelength fits `rotations` full turns into the original context.
    def dim_for(rotations: float) -> float:
        return head_dim * math.log(original / (rotations * 2 * math.pi)) / (2 * math.log(theta))

    low, high = dim_for(beta_fast), dim_for(beta_slow)
    if s.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, head_dim - 1)
    if low == high:
        high += 0.001
    ramp = ((torch.arange(head_dim // 2, dtype=torch.float32, device=device) - low) / (high - low)).clamp(0, 1)
    extrapolated = default_inv_freq(head_dim, theta, device)
    interpolated = extrapolated / factor
    # ramp 0 -> high-frequency dims keep their original frequency; 1 -> fully interpolated.
    inv_freq = extrapolated * (1 - ramp) + interpolated * ramp
    return inv_freq, float(attention_factor)


def _llama3(head_dim: int, theta: float, s: dict[str, Any], device) -> torch.Tensor:
    factor = float(s["factor"])
    low_ff, high_ff = float(s["low_freq_factor"]), float(s["high_freq_factor"])
    original = float(s["original_max_position_embeddings"])
    inv_freq = default_inv_freq(head_dim, theta, device)
    wavelen = 2 * math.pi / inv_freq
    smooth = (original / wavelen - low_ff) / (high_ff - low_ff)
    blended = (1 - smooth) * inv_freq / factor + smooth * inv_freq
    out = torch.where(wavelen > original / low_ff, inv_freq / factor, inv_freq)
    medium = (wavelen >= original / high_ff) & (wavelen <= original / low_ff)
    return torch.where(medium, blended, out)


def apply_rotary(
    q: torch.Tensor,
    k: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
    *,
    head_axis: int = 1,
    fused: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate queries and keys by position; cos/sin are [B, T, D].

    q/k are [B, H, T, D] (`head_axis=1`) or [B, T, H, D] (`head_axis=2`). `fused`
    runs the rotation as one compiled kernel where that applies (CUDA; see fused.py).
    """
    cos, sin = cos.unsqueeze(head_axis), sin.unsqueeze(head_axis)
    if fused and fused_kernels.applies(q):
        return fused_kernels.compiled(fused_kernels.rotary_reference)(q, k, cos, sin)
    return fused_kernels.rotary_reference(q, k, cos, sin)


class RotaryEmbedding(nn.Module):
    """Computes the (cos, sin) tables for given position ids; shared by all layers.

    `persistent=True` keeps `inv_freq` in the state dict (for checkpoint formats
    that want it); the default matches HF, where it is derived, not stored.
    """

    def __init__(
        self,
        head_dim: int,
        rope_theta: float = 10000.0,
        rope_scaling: dict[str, Any] | None = None,
        max_position_embeddings: int = 2048,
        persistent: bool = False,
    ) -> None:
        super().__init__()
        self.head_dim = head_dim
        self.rope_theta = rope_theta
        self.rope_scaling = validate_rope_scaling(rope_scaling, max_position_embeddings)
        self.max_position_embeddings = max_position_embeddings
        inv_freq, self.attention_factor = self._compute(None, None)
        self.register_buffer("inv_freq", inv_freq, persistent=persistent)

    def _compute(self, seq_len: int | None, device) -> tuple[torch.Tensor, float]:
        return rope_inv_freq(
            self.head_dim, self.rope_theta, self.rope_scaling, self.max_position_embeddings, seq_len, device
        )

    def reset_buffers(self, device: torch.device | str | None = None) -> None:
        """Recompute `inv_freq` (float32) on `device` (default: where it is now, unless that is meta)."""
        if device is None:
            device = self.inv_freq.device
        if torch.device(device).type == "meta":
            return
        inv_freq, self.attention_factor = self._compute(None, device)
        self.inv_freq = inv_freq

    def _apply(self, fn, recurse: bool = True):
        # Module moves (to_empty, .to(dtype), .cuda()) would otherwise leave
        # uninitialized or down-cast frequencies; they are cheap to rebuild.
        result = super()._apply(fn, recurse)
        self.reset_buffers()
        return result

    def forward(self, position_ids: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        inv_freq = self.inv_freq
        if self.rope_scaling and self.rope_scaling["rope_type"] == "dynamic":
            seq_len = int(position_ids.max()) + 1
            if seq_len > self.max_position_embeddings:
                inv_freq, _ = self._compute(seq_len, position_ids.device)
        # float32 angles: bf16 positions * frequencies lose whole radians at long context.
        angles = position_ids[..., None].float() * inv_freq.float()
        emb = torch.cat((angles, angles), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        if self.attention_factor != 1.0:
            cos, sin = cos * self.attention_factor, sin * self.attention_factor
        return cos.to(dtype), sin.to(dtype)


class NoPositionalEncoding(nn.Module):
    """NoPE: attention without positional rotation (a swap-in for experiments)."""

    def forward(self, position_ids: torch.Tensor, dtype: torch.dtype) -> None:
        return None
