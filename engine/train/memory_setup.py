"""How the trainer turns on `TrainingArguments.memory` (see engine/memory/switches.py).

Kept out of trainer.py so the hot loop there reads in one sitting: this module
places the model (materialising a meta-device model when `meta_init` is on),
builds the optimizer (per-parameter, stepped in backward, when asked) and the
fused linear cross-entropy loss over the model's lm_head.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from fgtui.engine.errors import FgError
from fgtui.engine.memory.switches import MemorySwitches


def on_meta(model: Any) -> bool:
    """Whether any parameter of `model` lives on the meta device (built without storage)."""
    return any(p.device.type == "meta" for p in model.parameters())


def place_model(model: Any, switches: MemorySwitches, device: Any, dtype: Any) -> Any:
    """`model` on `device` in `dtype`.

    With `meta_init` the model must have been built on the meta device; each
    parameter is then allocated once, on the device and in the dtype, and
    initialised there (a 7B model never exists as an fp32 host copy). The
    caller seeds the RNG first, so the weights match those of a model built
    directly with the same seed.
    """
    meta = on_meta(model)
    if not switches.meta_init:
        if meta:
            raise FgError(
                "the model's parameters are on the meta device but memory.meta_init is off",
                hint="set memory: {meta_init: true}, or build the model on cpu",
            )
        return model.to(device=device, dtype=dtype)
    if not meta:
        raise FgError(
            "memory.meta_init is on but the model was built with real weights",
            hint="build the model on the meta device (model template variable device: meta)",
        )
    return materialize_meta(model, device, dtype)


def materialize_meta(model: Any, device: Any, dtype: Any) -> Any:
    """Allocate and initialise a meta-device model on `device`.

    fgtui's CausalLM knows how to re-tie and rebuild its derived buffers (RoPE
    frequencies are in no checkpoint) and is initialised as `build_causal_lm`
    does; any other module gets `engine.memory.meta_init.materialize` (GPT-style
    init, tied parameters kept tied, its buffers must be real).
    """
    from fgtui.engine.models.model import CausalLM

    if isinstance(model, CausalLM):
        from fgtui.engine.models.build import materialize
        from fgtui.engine.models.init import normal_init

        model.to(dtype=dtype)
        materialize(model, device)
        normal_init(model, std=model.config.initializer_range)
        return model
    from fgtui.engine.memory.meta_init import materialize as materialize_generic

    return materialize_generic(model, device, dtype)


def make_optimizer(
    model: Any,
    switches: MemorySwitches,
    optimizer_factory: Callable | None,
    learning_rate: float | None,
    distributed: bool,
) -> Any:
    """The optimizer over `model`'s named parameters: `optimizer_factory(named)` as Forgather
    injects it, or `OptimizerInBackward` calling the factory once per parameter."""
    import functools

    import torch

    if optimizer_factory is None:
        if learning_rate is None:
            raise FgError("no optimizer: give the trainer an optimizer_factory or a learning_rate")
        optimizer_factory = functools.partial(torch.optim.AdamW, lr=learning_rate)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not switches.optimizer_in_backward:
        return optimizer_factory(named)
    if distributed:
        # DDP all-reduces a gradient after its post-accumulate hook has fired, so the
        # step would use the local gradient; FSDP2 needs hooks on the sharded grads.
        raise FgError(
            "optimizer_in_backward is not supported with several processes yet",
            hint="train on one device, or turn optimizer_in_backward off",
        )
    from fgtui.engine.memory.optim_in_backward import OptimizerInBackward

    return OptimizerInBackward(named, optimizer_factory, clip_per_param=switches.optimizer_in_backward_clip_per_param)


def make_loss(model: Any, switches: MemorySwitches) -> Any:
    """The fused linear cross-entropy over `model.lm_head`, or None when the switch is off.

    The model must be able to skip its head (`forward(..., return_hidden_states=True)`),
    as fgtui's CausalLM does; otherwise the logits would be built anyway.
    """
    if switches.linear_ce_impl is None:
        return None
    head = getattr(model, "lm_head", None)
    try:
        accepts = "return_hidden_states" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        accepts = False
    if head is None or not accepts:
        raise FgError(
            f"fused_linear_ce needs a model whose forward takes return_hidden_states and that has "
            f"an lm_head; {type(model).__name__} does not",
            hint="use an fgtui model (templatelib/models) or turn fused_linear_ce off",
        )
    # shift=True: labels are aligned with input_ids and position t predicts t+1, as in
    # causal_lm_loss, so the mean runs over the same tokens as the plain path.
    return switches.make_loss(head, shift=True)


def fuse_pointwise(model: Any) -> str:
    """Switch on the fused pointwise kernels (engine/models/fused.py); returns what was done."""
    from fgtui.engine.models.fused import set_fused_pointwise

    count = set_fused_pointwise(model, True)
    if not count:
        return "fused pointwise kernels: none (the model has no fgtui RMSNorm, attention or GLU modules)"
    return f"fused pointwise kernels (RMSNorm, RoPE, GLU, the loss), compiled on first use: {count} modules"
