"""What a training run runs on: the launcher's choices (`RunContext`), what `Trainer.setup`
builds from them (`Runtime`), and the process-level helpers behind it (distributed init,
device, dtypes, memory figures)."""

from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fgtui.engine.errors import FgError

if TYPE_CHECKING:
    from fgtui.engine.train.control_relay import ControlRelay
    from fgtui.engine.train.flops import FlopsModel
    from fgtui.engine.train.logstream import LogStreamWriter
    from fgtui.engine.train.parallel_setup import ParallelRuntime
    from fgtui.engine.train.sampler import ResumableBatchSampler

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


@dataclass(frozen=True)
class RunContext:
    """Where a run writes and what started it: the train entry builds one from what the
    launcher gave its process; a trainer used from Python makes its own (`Trainer.standalone_run`)."""

    run_dir: Path
    job_id: str | None = None  # the launcher's job (None outside `fgtui train`)
    resume: str | None = None  # overrides the config's resume_from_checkpoint (a requeued job)


@dataclass(frozen=True)
class Runtime:
    """Everything `Trainer.setup` builds for one run, fixed until it ends; the loop reads it."""

    run: RunContext
    resume: Any  # what to resume from: the run context's choice, else the config's; falsy: start fresh
    dist: DistInfo
    device: Any
    model: Any  # placed on the device, wrapped or split for the parallel layout
    parallel: ParallelRuntime
    n_params: int  # of the placed model, before any split
    optimizer: Any
    optim_in_backward: bool  # the optimizer steps inside backward; step() only closes the step
    clip_in_optimizer: bool  # max_grad_norm is applied inside the fused optimizer's step (grad_clip.py)
    lr_scheduler: Any  # None without a scheduler factory
    scaler: Any  # a GradScaler for fp16, else None
    loss_fn: Any  # the fused linear cross-entropy, else None (the model's own loss)
    offload: Any  # the activation-offload context, else None
    sampler: ResumableBatchSampler
    train_loader: Any
    eval_loader: Any  # None without an eval dataset
    seq_len: int
    flops: FlopsModel | None  # the coefficients each logged MFU is counted with, per batch
    peak_flops: float | None  # None off CUDA or on an unknown device
    control: ControlRelay
    log_writer: LogStreamWriter | None  # rank 0 only

    @property
    def rank(self) -> int:
        return self.dist.rank

    @property
    def world_size(self) -> int:
        return self.dist.world_size

    @property
    def flops_token(self) -> float | None:
        """FLOPs per token of unpacked rows of seq_len (None when the shape is unknown)."""
        return self.flops.per_token(self.seq_len) if self.flops is not None else None

    @property
    def run_dir(self) -> Path:
        return self.run.run_dir

    @property
    def pipeline(self) -> Any:
        """The PipelineRunner of a pipeline-parallel run, else None."""
        return self.parallel.pipeline


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
    """`device` is None when the memory ran out before setup had picked one (placing the
    model, say): the current CUDA device, which torchrun's local rank had set."""
    import torch

    detail = ""
    if device.type == "cuda" if device is not None else torch.cuda.is_available():
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
