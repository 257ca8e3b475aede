"""Next-token cross-entropy with HF's label convention."""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


def causal_lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of `logits[:, t]` against `labels[:, t + 1]` over tokens not equal to -100.

    `labels` are aligned with `input_ids` (the model shifts). Shifting the
    labels instead of slicing the logits avoids copying the [B, T, V] tensor.
    """
    shifted = F.pad(labels, (0, 1), value=IGNORE_INDEX)[:, 1:]
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), shifted.reshape(-1), ignore_index=IGNORE_INDEX)
