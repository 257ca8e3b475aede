"""Activation checkpointing of decoder layers, full or selective.

Both modes wrap each chosen decoder layer's forward in non-reentrant
`torch.utils.checkpoint.checkpoint`, so between forward and backward a layer
keeps only its inputs and, in selective mode, the outputs of the ops the
policy saves.

- "full": everything inside the layer is recomputed in backward.
- "selective" (op-level, torchtitan's "per-op SAC"): outputs of matmuls and
  of the attention kernel are saved, cheap pointwise ops (norms, RoPE,
  SiLU, residual adds) are recomputed. The backward therefore redoes no
  matmul and no attention, at the memory cost of those outputs.
- `every_n` applies to both modes: only every n-th layer (0, n, 2n, ...) is
  wrapped, the rest keep all activations. every_n=1 wraps every layer.

`feedforward_chunks` (full mode; set by the trainer when `chunked_mlp` is on too) cuts
a pre-norm layer at the residual between its two halves: the attention half is
checkpointed as above, the feed-forward half runs as one chunked autograd node that
saves its input and recomputes once in backward (chunked_mlp.chunked_feedforward).
Under a whole-layer checkpoint the chunked MLP's forward ran three times; this way it
runs once, plus the gate and up projections again in backward, at the cost of one
more [tokens, hidden] tensor kept per layer (offloaded with the rest when offload is
on). Other layers (transformers' classes, subclasses that rewire a half) keep the
whole-layer checkpoint, as does a forward with a KV cache or hooks on the MLP or its norm.

The wrapping replaces the layer *instance's* forward, not the module, so
parameter names and state_dict keys do not change and the layer's own hooks
still run outside the checkpointed region. `remove_activation_checkpointing`
restores the original forwards.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import torch
from torch import nn
from torch.utils.checkpoint import CheckpointPolicy, checkpoint, create_selective_checkpoint_contexts

from fgtui.engine.errors import FgError

MODES = ("full", "selective")
_MARK = "_fgtui_checkpoint_forward"


def default_save_ops() -> set:
    """Ops whose outputs selective checkpointing keeps: matmuls and fused attention."""
    aten = torch.ops.aten
    names = [
        "mm",
        "addmm",
        "bmm",
        "_scaled_mm",
        "_scaled_dot_product_flash_attention",
        "_scaled_dot_product_efficient_attention",
        "_scaled_dot_product_cudnn_attention",
        "_scaled_dot_product_flash_attention_for_cpu",
        "_flash_attention_forward",
        "_efficient_attention_forward",
    ]
    ops = set()
    for name in names:
        packet = getattr(aten, name, None)
        if packet is not None:
            ops.add(packet.default)
    return ops


def _save_policy(save_ops: set):
    def policy(ctx, op, *args, **kwargs):
        # Random ops must replay identically in the recompute; saving them is
        # the simplest way, and dropout is off in LLM pretraining anyway.
        if op in save_ops or op is torch.ops.aten.native_dropout.default:
            return CheckpointPolicy.MUST_SAVE
        return CheckpointPolicy.PREFER_RECOMPUTE

    return policy


def find_decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The model's stack of decoder blocks.

    HF-named models keep them at `model.model.layers`; otherwise the largest
    ModuleList whose children are all the same class is taken, which is how a
    block stack looks in every decoder we know of.
    """
    inner = getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    if isinstance(layers, nn.ModuleList) and len(layers) > 0:
        return layers
    best: nn.ModuleList | None = None
    for module in model.modules():
        if isinstance(module, nn.ModuleList) and len(module) > 0:
            kinds = {type(child) for child in module}
            if len(kinds) == 1 and (best is None or len(module) > len(best)):
                best = module
    if best is None:
        raise FgError(
            f"cannot find the decoder layers of {type(model).__name__}",
            hint="activation checkpointing needs model.model.layers or a ModuleList of blocks",
        )
    return best


# The names transformers' decoder layers take a KV cache by (they differ across models and releases).
_CACHE_KWARGS = ("past_key_values", "past_key_value", "cache", "layer_past")


def _without_cache(kwargs: dict) -> dict:
    """A checkpointed layer must not write a KV cache: backward's replay would write it again
    (transformers 5.1 then fails the recompute check: the replay sees twice the keys).
    Training never reads that cache; transformers' own checkpointed layers drop it too."""
    if not any(kwargs.get(name) is not None for name in _CACHE_KWARGS) and not kwargs.get("use_cache"):
        return kwargs
    kwargs = dict(kwargs)
    for name in _CACHE_KWARGS:
        if kwargs.get(name) is not None:
            kwargs[name] = None
    if kwargs.get("use_cache"):
        kwargs["use_cache"] = False
    return kwargs


def _checkpointed_forward(layer: nn.Module, original, context_fn):
    from torch.utils.checkpoint import noop_context_fn

    @functools.wraps(original)
    def forward(*args, **kwargs):
        if not torch.is_grad_enabled():
            # Nothing will be saved for backward under no_grad (eval), so
            # checkpointing would only add overhead.
            return original(*args, **kwargs)
        kwargs = _without_cache(kwargs)
        # Full checkpointing passes no context_fn: dynamo (a compiled block) cannot trace
        # torch's noop_context_fn given as an argument, and the default is that function.
        extra = {} if context_fn is noop_context_fn else {"context_fn": context_fn}
        return checkpoint(original, *args, use_reentrant=False, preserve_rng_state=True, **extra, **kwargs)

    return forward


def _splittable(layer: nn.Module) -> bool:
    """Whether `layer` is fgtui's PreNormLayer with its own residual wiring: the split
    re-states `x + mlp(norm(x))`, so a subclass that rewires either half keeps the
    whole-layer checkpoint (its own forward stays what training runs)."""
    from fgtui.engine.models.layers import PreNormLayer

    cls = type(layer)
    return (
        isinstance(layer, PreNormLayer)
        and cls.forward is PreNormLayer.forward
        and cls.feedforward_block is PreNormLayer.feedforward_block
    )


def _has_hooks(module: nn.Module) -> bool:
    return bool(module._forward_hooks or module._forward_pre_hooks)


def _split_forward(layer: nn.Module, original, n_chunks: int):
    from torch.utils.checkpoint import noop_context_fn

    from fgtui.engine.memory.chunked_mlp import chunked_feedforward

    whole = _checkpointed_forward(layer, original, noop_context_fn)

    @functools.wraps(original)
    def forward(hidden_states, position_embeddings, mask, cache=None):
        norm, mlp = layer.post_attention_layernorm, layer.mlp
        if not torch.is_grad_enabled() or cache is not None or _has_hooks(norm) or _has_hooks(mlp):
            # The chunked node calls the MLP's parts itself, past hooks on the modules,
            # and a cache must see this forward's keys: the whole-layer path for those
            # (which, without gradients, runs the layer as it is).
            return whole(hidden_states, position_embeddings, mask, cache)
        hidden = checkpoint(
            layer.attention_block,
            hidden_states,
            position_embeddings,
            mask,
            use_reentrant=False,
            preserve_rng_state=True,
        )
        return hidden + chunked_feedforward(norm, mlp, hidden, n_chunks)

    return forward


def apply_activation_checkpointing(
    model: nn.Module,
    mode: str = "full",
    *,
    every_n: int = 1,
    save_ops: Iterable | None = None,
    layers: nn.ModuleList | None = None,
    feedforward_chunks: int | None = None,
) -> list[int]:
    """Checkpoint the decoder layers of `model` in place; returns the wrapped layer indices.

    `mode` is "full" or "selective"; `save_ops` overrides the aten ops whose
    outputs selective mode saves (default `default_save_ops()`); `layers`
    overrides the block stack found by `find_decoder_layers`; `feedforward_chunks`
    (full mode only) checkpoints only the attention half of layers that have two
    halves and runs their feed-forward half in that many chunks (module docstring).
    """
    if feedforward_chunks is not None and (mode != "full" or feedforward_chunks < 2):
        raise FgError("feedforward_chunks needs full activation checkpointing and at least 2 chunks")
    if mode not in MODES:
        raise FgError(f"unknown activation checkpointing mode {mode!r}", hint=f"choose one of {', '.join(MODES)}")
    if every_n < 1:
        raise FgError(f"activation checkpointing every_n must be ≥ 1, got {every_n}")
    if save_ops is not None and mode != "selective":
        raise FgError("save_ops only applies to selective activation checkpointing")
    blocks = layers if layers is not None else find_decoder_layers(model)
    if mode == "selective":
        policy = _save_policy(set(save_ops) if save_ops is not None else default_save_ops())
        context_fn = functools.partial(create_selective_checkpoint_contexts, policy)
    else:
        from torch.utils.checkpoint import noop_context_fn as context_fn
    wrapped = []
    for index, layer in enumerate(blocks):
        if index % every_n:
            continue
        if _MARK in layer.__dict__:
            raise FgError(f"decoder layer {index} is already checkpointed")
        # Instance attribute shadows the class forward; nn.Module.__call__ finds it.
        if feedforward_chunks and _splittable(layer):
            layer.forward = _split_forward(layer, layer.forward, feedforward_chunks)
            layer.__dict__[_MARK] = "split"
        else:
            layer.forward = _checkpointed_forward(layer, layer.forward, context_fn)
            layer.__dict__[_MARK] = "whole"
        wrapped.append(index)
    return wrapped


def remove_activation_checkpointing(model: nn.Module, layers: nn.ModuleList | None = None) -> None:
    """Undo `apply_activation_checkpointing`."""
    for layer in layers if layers is not None else find_decoder_layers(model):
        if layer.__dict__.pop(_MARK, None):
            del layer.forward


def is_checkpointed(layer: nn.Module) -> bool:
    return _MARK in layer.__dict__


def is_split(layer: nn.Module) -> bool:
    """Whether `layer` has the split checkpoint (`feedforward_chunks`), not the whole-layer one."""
    return layer.__dict__.get(_MARK) == "split"
