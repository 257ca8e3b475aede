"""Next-token cross-entropy with HF's label convention."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fgtui.engine.models import fused as fused_kernels

IGNORE_INDEX = -100


def causal_lm_loss(logits: torch.Tensor, labels: torch.Tensor, *, fused: bool = False) -> torch.Tensor:
    """Mean cross-entropy of `logits[:, t]` against `labels[:, t + 1]` over tokens not equal to -100.

    `labels` are aligned with `input_ids` (the model shifts). Shifting the
    labels instead of slicing the logits avoids copying the [B, T, V] tensor.
    `fused` runs it as one compiled kernel each way where that applies (CUDA, see
    fused.py): eagerly the float32 upcast, log-softmax and its gradient each pass over
    the whole [tokens, vocab] logits, the largest tensor of a small model's step.
    """
    if fused and fused_kernels.applies(logits):
        return fused_kernels.compiled(_causal_lm_loss_reference)(logits, labels)
    return _causal_lm_loss_reference(logits, labels)


def _causal_lm_loss_reference(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    shifted = F.pad(labels, (0, 1), value=IGNORE_INDEX)[:, 1:]
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), shifted.reshape(-1), ignore_index=IGNORE_INDEX)
