"""Each RoPE scaling against its reference formula, written out per dimension in plain Python."""

from __future__ import annotations

import math

import pytest
import torch

from fgtui.engine.errors import FgError
from fgtui.engine.models import CausalLMConfig
from fgtui.engine.models.rope import RotaryEmbedding, apply_rotary, rope_inv_freq, validate_rope_scaling

D, THETA, L = 32, 10000.0, 64


def base(i: int, theta: float = THETA, d: int = D) -> float:
    return theta ** (-2 * i / d)


def check(scaling, expected, seq_len=None, expected_factor=1.0):
    scaling = validate_rope_scaling(scaling, L)
    inv_freq, factor = rope_inv_freq(D, THETA, scaling, L, seq_len=seq_len)
    assert inv_freq.dtype == torch.float32
    torch.testing.assert_close(inv_freq, torch.tensor(expected, dtype=torch.float32), rtol=1e-5, atol=0)
    assert factor == pytest.approx(expected_factor)


def test_default():
    check(None, [base(i) for i in range(D // 2)])


def test_linear_divides_every_frequency_by_factor():
    check({"rope_type": "linear", "factor": 4.0}, [base(i) / 4 for i in range(D // 2)])


def test_dynamic_ntk_rescales_base_only_beyond_trained_length():
    check({"rope_type": "dynamic", "factor": 2.0}, [base(i) for i in range(D // 2)], seq_len=L)
    s = 3 * L
    new_theta = THETA * ((2.0 * s / L) - 1.0) ** (D / (D - 2))
    check({"rope_type": "dynamic", "factor": 2.0}, [base(i, new_theta) for i in range(D // 2)], seq_len=s)


def test_yarn_blends_by_rotation_count():
    factor, original, fast, slow = 4.0, 32, 32, 1

    # YaRN: dimension pair i makes original * inv_freq_i / (2 pi) rotations over the original
    # context; pairs with more than beta_fast rotations keep their frequency, fewer than
    # beta_slow are fully interpolated, a linear ramp in i between.
    def dim_at(rot):
        return D * math.log(original / (rot * 2 * math.pi)) / (2 * math.log(THETA))

    low, high = max(math.floor(dim_at(fast)), 0), min(math.ceil(dim_at(slow)), D - 1)
    expected = []
    for i in range(D // 2):
        ramp = min(max((i - low) / (high - low), 0.0), 1.0)
        expected.append(base(i) * (1 - ramp) + base(i) / factor * ramp)
    check(
        {"rope_type": "yarn", "factor": factor, "original_max_position_embeddings": original},
        expected,
        expected_factor=0.1 * math.log(factor) + 1.0,
    )


def test_llama3_keeps_short_divides_long_and_smooths_between():
    factor, low_ff, high_ff, original = 8.0, 1.0, 4.0, 64
    expected = []
    for i in range(D // 2):
        f = base(i)
        wavelength = 2 * math.pi / f
        if wavelength < original / high_ff:
            expected.append(f)
        elif wavelength > original / low_ff:
            expected.append(f / factor)
        else:
            smooth = (original / wavelength - low_ff) / (high_ff - low_ff)
            expected.append((1 - smooth) * f / factor + smooth * f)
    assert len(set(expected) - {base(i) for i in range(D // 2)}) > 2  # the case exercises all three bands
    check(
        {
            "rope_type": "llama3",
            "factor": factor,
            "low_freq_factor": low_ff,
            "high_freq_factor": high_ff,
            "original_max_position_embeddings": original,
        },
        expected,
    )


@pytest.mark.parametrize(
    "scaling",
    [
        {"rope_type": "linear", "factor": 3.0},
        {"rope_type": "dynamic", "factor": 3.0},
        {"rope_type": "yarn", "factor": 3.0, "original_max_position_embeddings": 16, "beta_fast": 16},
        {
            "rope_type": "llama3",
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 16,
        },
    ],
)
def test_agrees_with_transformers_rope_init(scaling):
    from transformers import LlamaConfig
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    hf = LlamaConfig(
        hidden_size=D * 4,
        num_attention_heads=4,
        max_position_embeddings=L,
        rope_parameters={**scaling, "rope_theta": THETA},
    )
    theirs, their_factor = ROPE_INIT_FUNCTIONS[scaling["rope_type"]](hf, "cpu", seq_len=2 * L)
    ours, our_factor = rope_inv_freq(D, THETA, validate_rope_scaling(scaling, L), L, seq_len=2 * L)
    torch.testing.assert_close(ours, theirs.float(), rtol=1e-6, atol=0)
    assert our_factor == pytest.approx(their_factor)


def test_rotation_preserves_norm_and_relative_angle():
    rope = RotaryEmbedding(D, THETA)
    q, k = torch.randn(1, 1, 1, D), torch.randn(1, 1, 1, D)
    scores = []
    for shift in (0, 7):
        pos = torch.tensor([[3 + shift]]), torch.tensor([[1 + shift]])
        cq, sq = rope(pos[0], torch.float32)
        ck, sk = rope(pos[1], torch.float32)
        rq, _ = apply_rotary(q, q, cq, sq)
        _, rk = apply_rotary(k, k, ck, sk)
        torch.testing.assert_close(rq.norm(), q.norm())
        scores.append((rq * rk).sum())
    torch.testing.assert_close(scores[0], scores[1])  # depends only on the distance 3 - 1


def test_buffers_survive_meta_construction_and_dtype_moves():
    with torch.device("meta"):
        rope = RotaryEmbedding(D, THETA, {"rope_type": "linear", "factor": 2.0})
    assert rope.inv_freq.is_meta
    rope.to(torch.bfloat16).to_empty(device="cpu")
    expected, _ = rope_inv_freq(D, THETA, {"rope_type": "linear", "factor": 2.0}, 2048)
    assert rope.inv_freq.dtype == torch.float32
    torch.testing.assert_close(rope.inv_freq, expected, rtol=0, atol=0)
    assert "inv_freq" not in rope.state_dict()
    assert "inv_freq" in RotaryEmbedding(D, persistent=True).state_dict()


def test_unknown_scaling_type_is_one_clear_error():
    with pytest.raises(FgError, match="unknown RoPE scaling type 'ntk-by-parts'"):
        CausalLMConfig(hidden_size=64, num_attention_heads=4, rope_scaling={"rope_type": "ntk-by-parts", "factor": 2})


def test_missing_scaling_parameter_is_named():
    with pytest.raises(FgError, match="needs high_freq_factor"):
        validate_rope_scaling(
            {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "original_max_position_embeddings": 8192},
            2048,
        )
