"""A tiny Llama for memory-feature tests.

`tiny_llama` is `transformers.LlamaForCausalLM` from a config, `tiny_fgtui` fgtui's
own decoder in the same shape (same HF module names); nothing is downloaded.
"""

from __future__ import annotations

import torch


def tiny_llama(
    seed: int = 0,
    *,
    vocab: int = 96,
    hidden: int = 32,
    layers: int = 2,
    intermediate: int = 64,
    heads: int = 4,
    kv_heads: int = 2,
    dtype: torch.dtype = torch.float32,
) -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=256,
        tie_word_embeddings=False,
        attn_implementation="sdpa",
    )
    return LlamaForCausalLM(config).to(dtype)


def tiny_fgtui(seed: int = 0) -> torch.nn.Module:
    """fgtui's own decoder (engine/models) in the same tiny shape as `tiny_llama`."""
    from fgtui.engine.models import CausalLMConfig, build_causal_lm

    torch.manual_seed(seed)
    config = CausalLMConfig(
        vocab_size=96,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    return build_causal_lm(config, "cpu", torch.float32)


def batch(seed: int = 1, *, vocab: int = 96, length: int = 24, size: int = 2):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (size, length), generator=g)
    labels = ids.clone()
    labels[0, :3] = -100  # a few ignored positions, as packing/prompt masking produce
    return ids, labels


def hf_loss(model: torch.nn.Module, ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Plain path: full logits then shifted cross-entropy."""
    logits = model(input_ids=ids, use_cache=False).logits.float()
    return torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100
    )


def grads(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def assert_grads_close(a: dict, b: dict, *, rtol: float = 1e-4, atol: float = 1e-6) -> None:
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=rtol, atol=atol, msg=lambda m: f"{name}: {m}")
