"""Process-level setup the trainer needs: distributed init, device, dtypes, memory figures."""

from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from fgtui.engine.errors import FgError

OOM_HINT = (
    "turn on gradient_checkpointing, lower per_device_train_batch_size (raise"
    " gradient_accumulation_steps to keep the global batch) or seq_len, train in"
    " dtype bfloat16, or set PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True"
)


@dataclass
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device_hint: str | None) -> tuple[DistInfo, Any]:
    """Read torchrun's environment, start the process group when there are several ranks,
    and pick this rank's device."""
    import torch

    info = DistInfo(
        int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    )
    if device_hint:
        device = torch.device(device_hint)
        if device.type == "cuda" and device.index is None:
            # "cuda" means this rank's GPU, as torchrun numbers them.
            device = torch.device("cuda", info.local_rank)
    elif torch.cuda.is_available():
        device = torch.device("cuda", info.local_rank)
    else:
        device = torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if info.is_distributed and not torch.distributed.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        torch.distributed.init_process_group(backend=backend)
    return info, device


def torch_dtype(name: str) -> Any:
    import torch

    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def autocast_context(device: Any, mixed_precision: str | None):
    import torch

    if mixed_precision is None:
        return nullcontext()
    dtype = torch.bfloat16 if mixed_precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def device_name(device: Any) -> str:
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return str(device)


def take_peak_memory_gib(device: Any) -> float | None:
    """Peak allocated device memory since the last call (GiB); None off CUDA."""
    import torch

    if device.type != "cuda":
        return None
    peak = torch.cuda.max_memory_allocated(device) / 2**30
    torch.cuda.reset_peak_memory_stats(device)
    return peak


def out_of_memory_error(step: int, device: Any) -> FgError:
    import torch

    detail = ""
    if device.type == "cuda":
        detail = f" ({torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB allocated at peak)"
    return FgError(f"out of memory at step {step}{detail}", hint=OOM_HINT)


def count_loss_tokens(batch: dict[str, Any]) -> int:
    """Positions that contribute to the loss: labels != -100 after the causal shift
    (HF convention: label i is predicted from positions < i, so the first label never is)."""
    labels = batch.get("labels")
    if labels is None:
        return int(batch["input_ids"][..., 1:].numel())
    return int((labels[..., 1:] != -100).sum())


def all_reduce_sum(values: list[float], info: DistInfo, device: Any) -> list[float]:
    import torch

    if not info.is_distributed:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    torch.distributed.all_reduce(tensor)
    return tensor.tolist()
