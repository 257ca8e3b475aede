"""Speed and memory switches applied as functions over an unchanged model (torchtitan's shape).

Order, when several apply: tensor parallel -> activation checkpointing -> per-block
compile -> data parallel (DDP or FSDP2). Pipeline splitting is in pipeline.py; the
sizes and device mesh in mesh.py.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

from fgtui.engine.errors import FgError


def transformer_blocks(model: Any) -> list[Any]:
    """The repeated blocks: the ModuleList holding the most parameters."""
    import torch

    best, best_count = None, 0
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) > 1:
            count = sum(p.numel() for p in module.parameters())
            if count > best_count:
                best, best_count = module, count
    if best is None:
        raise FgError(
            f"cannot find the transformer blocks of {type(model).__name__}",
            hint="the model needs an nn.ModuleList of blocks for this switch",
        )
    return list(best)


def apply_activation_checkpointing(model: Any) -> None:
    """Recompute each block's activations in backward instead of storing them."""
    own = getattr(model, "enable_activation_checkpointing", None)
    if callable(own):
        own()
        return
    if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        return
    if hasattr(model, "gradient_checkpointing_enable"):
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        return
    from torch.utils.checkpoint import checkpoint

    # Patching forward per block keeps parameter names (and so checkpoints) unchanged,
    # which a wrapper module would not.
    for block in transformer_blocks(model):
        original = block.forward

        @functools.wraps(original)
        def forward(*args: Any, _original=original, **kwargs: Any) -> Any:
            return checkpoint(_original, *args, use_reentrant=False, **kwargs)

        block.forward = forward


def apply_block_compile(model: Any) -> None:
    """torch.compile each block in place: compile time of one block, names unchanged."""
    for block in transformer_blocks(model):
        block.compile()


def apply_ddp(model: Any, device: Any) -> Any:
    """Wrap in DistributedDataParallel (gradients all-reduced in backward)."""
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)


# ------------------------------------------------------------------ FSDP2, TP, grad norm
def apply_tp(model: Any, tp_mesh: Any) -> None:
    """Megatron-style tensor parallel over `tp_mesh`, in place (torchtitan's plan without
    sequence parallel): q/k/v and gate/up column-wise, o and down row-wise, so each block
    needs one all-reduce after attention and one after the MLP; the embedding is split by
    vocabulary rows and lm_head by vocabulary columns, both returning replicated tensors.

    Works on HF-named Llama modules (fgtui's CausalLM, transformers' LlamaForCausalLM).
    """
    from torch.distributed.tensor import Replicate
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

    size = tp_mesh.size()
    config = getattr(model, "config", None)
    _check_tp_divides(model, config, size)
    parallelize_module(
        model,
        tp_mesh,
        {
            "model.embed_tokens": RowwiseParallel(input_layouts=Replicate(), output_layouts=Replicate()),
            "lm_head": ColwiseParallel(output_layouts=Replicate()),
        },
    )
    for block in model.model.layers:
        plan = {f"self_attn.{n}": ColwiseParallel() for n in ("q_proj", "k_proj", "v_proj")}
        plan["self_attn.o_proj"] = RowwiseParallel()
        plan.update({f"mlp.{n}": ColwiseParallel() for n in ("gate_proj", "up_proj")})
        plan["mlp.down_proj"] = RowwiseParallel()
        parallelize_module(block, tp_mesh, plan)
        attention = block.self_attn
        # fgtui's attention reshapes by its head counts; after the column split each rank
        # holds 1/size of the heads (HF's attention reshapes with -1 and needs no change).
        for name in ("num_heads", "num_kv_heads"):
            if isinstance(getattr(attention, name, None), int):
                setattr(attention, name, getattr(attention, name) // size)


def _check_tp_divides(model: Any, config: Any, size: int) -> None:
    if not (hasattr(model, "model") and hasattr(model.model, "layers") and hasattr(model, "lm_head")):
        raise FgError(f"tensor parallel needs a Llama-style model (model.layers, lm_head), not {type(model).__name__}")
    if config is None:
        raise FgError("tensor parallel needs the model's config (head counts)")
    if getattr(config, "tie_word_embeddings", False):
        raise FgError(
            "tensor parallel with tied input/output embeddings is not supported",
            hint="set tie_word_embeddings: false in the model config, or use fsdp2",
        )
    sizes = {
        "num_attention_heads": config.num_attention_heads,
        "num_key_value_heads": getattr(config, "num_key_value_heads", None) or config.num_attention_heads,
        "intermediate_size": config.intermediate_size,
        "vocab_size": config.vocab_size,
    }
    bad = [f"{name} {value}" for name, value in sizes.items() if value % size]
    if bad:
        raise FgError(
            f"tensor_parallel_size {size} does not divide the model's " + ", ".join(bad),
            hint="pick a tensor_parallel_size that divides the head counts",
        )


def apply_fsdp(
    model: Any, dp_mesh: Any, *, param_dtype: Any = None, reduce_dtype: Any = None, reshard_after_forward: bool = True
) -> Any:
    """FSDP2: `fully_shard` each transformer block, then the root (embedding, norm, head).

    Per-block units let block i+1's all-gather overlap block i's compute. The last
    block keeps its parameters after forward: backward needs them at once.
    """
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    policy = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=reduce_dtype)
    blocks = transformer_blocks(model)
    for i, block in enumerate(blocks):
        fully_shard(
            block, mesh=dp_mesh, mp_policy=policy, reshard_after_forward=reshard_after_forward and i < len(blocks) - 1
        )
    fully_shard(model, mesh=dp_mesh, mp_policy=policy, reshard_after_forward=reshard_after_forward)
    return model


@contextlib.contextmanager
def gradient_sync(model: Any, enabled: bool) -> Iterator[None]:
    """Skip the gradient all-reduce / reduce-scatter while accumulating micro-batches."""
    if enabled:
        yield
    elif hasattr(model, "no_sync"):  # DDP
        with model.no_sync():
            yield
    elif hasattr(model, "set_requires_gradient_sync"):  # FSDP2
        model.set_requires_gradient_sync(False)
        try:
            yield
        finally:
            model.set_requires_gradient_sync(True)
    else:
        yield


def clip_grad_norm(parameters: list[Any], max_norm: float, pp_group: Any = None) -> Any:
    """Total L2 norm of the gradients over all shards and stages, clipped to `max_norm`;
    returns the norm before clipping as a plain tensor.

    DTensor gradients (FSDP2, TP) and plain ones (TP leaves norms unsharded) are
    normed in separate groups, as foreach kernels refuse mixing them; pipeline stages
    each hold some layers, so their squared norms are summed over `pp_group`.
    """
    import torch
    from torch.distributed.tensor import DTensor

    grads = [p.grad for p in parameters if p.grad is not None]
    groups: dict[Any, list[Any]] = {}
    for grad in grads:
        key = (grad.device_mesh, grad.placements) if isinstance(grad, DTensor) else None
        groups.setdefault(key, []).append(grad)
    squares = []
    for key, group in groups.items():
        norm = torch.nn.utils.get_total_norm(group, 2.0)
        if isinstance(norm, DTensor):
            norm = norm.full_tensor()
        squares.append(norm.float() ** 2)
    device = grads[0].device if grads else torch.device("cpu")
    total_sq = torch.stack(squares).sum() if squares else torch.zeros((), device=device)
    if pp_group is not None:
        torch.distributed.all_reduce(total_sq, group=pp_group)
    total = total_sq.sqrt()
    if max_norm != float("inf"):
        coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
        for group in groups.values():
            local = [g.to_local() if isinstance(g, DTensor) else g for g in group]
            torch._foreach_mul_(local, coef.to(local[0].device))
    return total
