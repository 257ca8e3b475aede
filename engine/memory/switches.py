"""The memory switches as one config object, validated before anything is built.

`MemorySwitches` is what a template sets (`memory:` block) and the trainer
reads. `validate` runs at config time and refuses combinations that cannot
work; `cuda_alloc_conf_env` gives the launcher the environment that must be
in place before CUDA initialises; `apply_to_model` switches the model-side
features on. The optimizer-side ones (`optimizer_in_backward`,
`fused_linear_ce`) are built by the trainer through `make_optimizer` and
`make_loss`, because they need the optimizer factory and the lm_head.

This module imports torch only inside the functions that need it, so config
validation stays light.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from fgtui.engine.errors import FgError, SourceLocation

CHECKPOINTING = ("none", "full", "selective")
LINEAR_CE = ("auto", "ours", "liger", "cce")


@dataclass
class MemorySwitches:
    """Independent memory features; all off by default.

    - activation_checkpointing: "none" | "full" | "selective"
    - checkpoint_every_n: wrap only every n-th decoder layer (1 = all)
    - activation_offload: saved activations to pinned host memory (CUDA)
    - activation_offload_prefetch_mib: how far ahead backward brings offloaded tensors back
      (MiB; any positive value fetches at least the next one, hiding its copy behind
      the current layer's backward; 0 copies each back when backward reaches it)
    - optimizer_in_backward: per-parameter optimizer stepped in backward
    - optimizer_in_backward_clip_per_param: max L2 norm per parameter (None = no clipping)
    - fused_linear_ce: False | True (= "auto") | "auto" | "ours" | "liger" | "cce"
    - chunked_mlp: number of sequence chunks for SwiGLU MLPs (None = off)
    - meta_init: build parameters on meta, materialise on the device in its dtype
    - expandable_segments: PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
    - cuda_memory_cap_gib: cap this process's CUDA allocations (GiB), to rehearse a
      smaller card's run on a bigger one (torch.cuda.set_per_process_memory_fraction)
    """

    activation_checkpointing: str = "none"
    checkpoint_every_n: int = 1
    activation_offload: bool = False
    activation_offload_prefetch_mib: int = 0
    optimizer_in_backward: bool = False
    optimizer_in_backward_clip_per_param: float | None = None
    fused_linear_ce: bool | str = False
    chunked_mlp: int | None = None
    meta_init: bool = False
    expandable_segments: bool = False
    cuda_memory_cap_gib: float | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, location: SourceLocation | None = None) -> "MemorySwitches":
        """Build from a config mapping, refusing unknown keys (typos would otherwise be ignored)."""
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise FgError(
                f"unknown memory switch {unknown[0]!r}",
                hint=f"known switches: {', '.join(sorted(known))}",
                location=location,
            )
        switches = cls(**data)
        switches.check_values(location)
        return switches

    @property
    def linear_ce_impl(self) -> str | None:
        """The fused linear-CE backend asked for, or None when off."""
        if self.fused_linear_ce is False or self.fused_linear_ce is None:
            return None
        return "auto" if self.fused_linear_ce is True else str(self.fused_linear_ce)

    def check_values(self, location: SourceLocation | None = None) -> None:
        """Each switch on its own has a legal value."""

        def bad(message: str, hint: str) -> FgError:
            return FgError(message, hint=hint, location=location)

        if self.activation_checkpointing not in CHECKPOINTING:
            raise bad(
                f"activation_checkpointing must be one of {', '.join(CHECKPOINTING)}, "
                f"got {self.activation_checkpointing!r}",
                "full saves most memory, selective recomputes less",
            )
        if not isinstance(self.checkpoint_every_n, int) or self.checkpoint_every_n < 1:
            raise bad(
                f"checkpoint_every_n must be an integer ≥ 1, got {self.checkpoint_every_n!r}", "1 wraps every layer"
            )
        if self.linear_ce_impl is not None and self.linear_ce_impl not in LINEAR_CE:
            raise bad(
                f"fused_linear_ce must be true/false or one of {', '.join(LINEAR_CE)}, got {self.fused_linear_ce!r}",
                "auto picks an installed kernel or ours",
            )
        if self.chunked_mlp is not None and (not isinstance(self.chunked_mlp, int) or self.chunked_mlp < 2):
            raise bad(
                f"chunked_mlp must be a chunk count ≥ 2 or null, got {self.chunked_mlp!r}", "e.g. 8 at 64K tokens"
            )
        prefetch = self.activation_offload_prefetch_mib
        if isinstance(prefetch, bool) or not isinstance(prefetch, int) or prefetch < 0:
            raise bad(
                f"activation_offload_prefetch_mib must be a whole number of MiB ≥ 0, got {prefetch!r}",
                "0 fetches each tensor when backward needs it; e.g. 256 keeps the next layer input coming",
            )
        cap = self.cuda_memory_cap_gib
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, (int, float)) or cap <= 0):
            raise bad(
                f"cuda_memory_cap_gib must be a positive number of GiB or null, got {cap!r}",
                "e.g. 23.5 to rehearse a 24 GB card",
            )
        clip = self.optimizer_in_backward_clip_per_param
        if clip is not None and (not self.optimizer_in_backward or clip <= 0):
            raise bad(
                "optimizer_in_backward_clip_per_param needs optimizer_in_backward and a positive norm",
                "set optimizer_in_backward: true, or remove the clip",
            )

    def validate(
        self, gradient_accumulation_steps: int, max_grad_norm: float | None, location: SourceLocation | None = None
    ) -> None:
        """Refuse switch combinations that cannot work with these training settings."""
        self.check_values(location)
        if self.optimizer_in_backward:
            from fgtui.engine.memory.optim_in_backward import check_compatible

            try:
                check_compatible(gradient_accumulation_steps, max_grad_norm)
            except FgError as err:
                err.location = err.location or location
                raise
        if self.activation_checkpointing == "none" and self.checkpoint_every_n != 1:
            raise FgError(
                "checkpoint_every_n is set but activation_checkpointing is none",
                hint="set activation_checkpointing: full or selective",
                location=location,
            )

    def apply_to_model(self, model) -> list[str]:
        """Switch on the model-side features (checkpointing, chunked MLP); returns what was done."""
        done = []
        if self.chunked_mlp:
            from fgtui.engine.memory.chunked_mlp import apply_chunked_mlp

            n = apply_chunked_mlp(model, self.chunked_mlp)
            done.append(f"chunked MLP: {n} MLPs in {self.chunked_mlp} chunks")
        if self.activation_checkpointing != "none":
            from fgtui.engine.memory.checkpointing import (
                apply_activation_checkpointing,
                find_decoder_layers,
                is_split,
            )

            split = self.chunked_mlp if self.activation_checkpointing == "full" and _single_process() else None
            wrapped = apply_activation_checkpointing(
                model, self.activation_checkpointing, every_n=self.checkpoint_every_n, feedforward_chunks=split
            )
            note = f"{self.activation_checkpointing} activation checkpointing on {len(wrapped)} layers"
            n_split = sum(is_split(layer) for layer in find_decoder_layers(model)) if split else 0
            if n_split:
                note += f" ({n_split} with the feed-forward half recomputed per chunk, outside the layer's checkpoint)"
            done.append(note)
        return done

    def apply_memory_cap(self, device) -> str | None:
        """Cap CUDA allocations on `device` when asked; returns what was done (None when off).

        Must run before the model is placed: the allocator checks the fraction on
        each new segment, so memory taken earlier would not count against it.
        """
        if self.cuda_memory_cap_gib is None:
            return None
        if device.type != "cuda":
            return f"CUDA memory cap of {self.cuda_memory_cap_gib:g} GiB not applied: training on {device}"
        import torch

        total = torch.cuda.get_device_properties(device).total_memory
        fraction = min(1.0, self.cuda_memory_cap_gib * 2**30 / total)
        torch.cuda.set_per_process_memory_fraction(fraction, device)
        return f"CUDA memory capped at {self.cuda_memory_cap_gib:g} GiB ({fraction:.1%} of {total / 2**30:.1f} GiB)"

    def build_model(self, factory: Callable, device, dtype=None):
        """`factory()` built on meta and materialised on `device` when meta_init is on, else built then moved."""
        if not self.meta_init:
            return factory().to(device=device, dtype=dtype)
        from fgtui.engine.memory.meta_init import init_on_meta, materialize

        with init_on_meta():
            model = factory()
        return materialize(model, device, dtype)

    def make_offload(self, model):
        """The activation-offload context for the forward pass, or None when off."""
        if not self.activation_offload:
            return None
        from fgtui.engine.memory.offload import ActivationOffload

        return ActivationOffload(model, prefetch_bytes=self.activation_offload_prefetch_mib * 2**20)

    def make_optimizer(self, model, optimizer_factory: Callable):
        """The optimizer: per-parameter in backward when switched on, else `optimizer_factory(params)`."""
        if not self.optimizer_in_backward:
            return optimizer_factory([{"params": [p for p in model.parameters() if p.requires_grad]}])
        from fgtui.engine.memory.optim_in_backward import OptimizerInBackward

        return OptimizerInBackward(model, optimizer_factory, clip_per_param=self.optimizer_in_backward_clip_per_param)

    def make_loss(self, lm_head, *, shift: bool = True, ignore_index: int = -100):
        """The fused linear-CE loss module over `lm_head`, or None when off."""
        if self.linear_ce_impl is None:
            return None
        from fgtui.engine.memory.linear_ce import LinearCrossEntropyLoss

        return LinearCrossEntropyLoss(lm_head, impl=self.linear_ce_impl, shift=shift, ignore_index=ignore_index)


def cuda_alloc_conf_env(switches: MemorySwitches, current: str | None = None) -> dict[str, str]:
    """Environment for the launcher: PYTORCH_CUDA_ALLOC_CONF with expandable segments when asked.

    Must be set before the process initialises CUDA (the allocator reads it
    once). `current` is the user's existing value; its other options are kept.
    """
    if not switches.expandable_segments:
        return {}
    options = [o for o in (current or "").split(",") if o and not o.startswith("expandable_segments")]
    options.append("expandable_segments:True")
    return {"PYTORCH_CUDA_ALLOC_CONF": ",".join(options)}


def _single_process() -> bool:
    """Whether this run has one rank. The split checkpoint of the chunked feed-forward
    hands its parameters' gradients to autograd from its own backward; sharded and
    tensor-parallel parameters keep the whole-layer checkpoint, whose gradients their
    hooks already handle."""
    import torch.distributed as dist

    return not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1)
