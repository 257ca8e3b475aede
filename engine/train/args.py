"""`TrainingArguments`: the trainer's knobs, with transformers' names where they exist."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from fgtui.engine.errors import FgError
from fgtui.engine.memory.switches import MemorySwitches

SAVE_STRATEGIES = ("no", "steps", "epoch", "end")
MIXED_PRECISION = (None, "bf16", "fp16")
DTYPES = ("float32", "bfloat16", "float16")


@dataclass
class TrainingArguments:
    """What to train for, how often to log/eval/save, and which memory/speed switches to turn.

    Length of training: `max_steps` when > 0; else `total_tokens` (input tokens over
    all ranks, floor to whole steps, see budget.py); else `num_train_epochs`.

    Resuming: `resume_from_checkpoint` is True or "latest", a checkpoint name or path,
    or "if-any": the latest when there is one, else a fresh start (a requeued job).

    Precision: `dtype` is the parameters' dtype ("bfloat16" = pure bf16 training);
    `mixed_precision` autocasts the forward ("bf16", or "fp16" with a gradient scaler)
    over float32 parameters.
    """

    output_dir: str
    run_name: str | None = None
    per_device_train_batch_size: int = 8
    per_device_eval_batch_size: int | None = None
    gradient_accumulation_steps: int = 1
    max_steps: int = -1
    total_tokens: int | None = None
    num_train_epochs: float = 1.0
    learning_rate: float | None = None
    max_grad_norm: float | None = 1.0
    seed: int = 42
    dtype: str = "float32"
    mixed_precision: str | None = None
    device: str | None = None

    logging_steps: int = 10
    eval_steps: int | None = None
    max_eval_steps: int | None = None
    eval_on_start: bool = False
    save_strategy: str = "steps"
    save_steps: int = 500
    save_total_limit: int | None = 2
    keep_best_n: int = 0
    save_on_end: bool = True
    resume_from_checkpoint: str | bool | None = None

    gradient_checkpointing: bool = False
    memory: dict[str, Any] | MemorySwitches | None = None
    fuse_optim_with_backward: bool = False
    enable_activation_offloading: bool = False
    compile_blocks: bool = False
    # On CUDA, RMSNorm, RoPE, the GLU product and the loss each run as one compiled kernel
    # (engine/models/fused.py); False keeps them eager.
    fused_pointwise: bool = True
    # Multi-GPU layout (engine/train/mesh.py): data_parallel None = ddp when several ranks.
    data_parallel: str | None = None
    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1
    pipeline_schedule: str = "1f1b"
    pipeline_microbatches: int | None = None
    fsdp_reshard_after_forward: bool = True
    fsdp_param_dtype: str | None = None
    fsdp_reduce_dtype: str | None = None
    dataloader_num_workers: int = 0
    dataloader_drop_last: bool = True
    tensorboard: bool | None = None
    profile: bool = False
    profile_steps: tuple[int, int, int] = (2, 2, 3)

    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.save_strategy not in SAVE_STRATEGIES:
            raise FgError(f"save_strategy {self.save_strategy!r} is not one of {SAVE_STRATEGIES}")
        if self.mixed_precision not in MIXED_PRECISION:
            raise FgError(f"mixed_precision {self.mixed_precision!r} is not one of {MIXED_PRECISION}")
        if self.dtype not in DTYPES:
            raise FgError(f"dtype {self.dtype!r} is not one of {DTYPES}")
        if self.mixed_precision and self.dtype != "float32":
            raise FgError(
                f"mixed_precision {self.mixed_precision!r} needs float32 parameters, not {self.dtype}",
                hint="use dtype: bfloat16 alone for pure bf16, or mixed_precision over float32",
            )
        for name in ("per_device_train_batch_size", "gradient_accumulation_steps", "logging_steps"):
            if getattr(self, name) < 1:
                raise FgError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.max_steps <= 0 and not self.total_tokens and self.num_train_epochs <= 0:
            raise FgError("neither max_steps nor num_train_epochs is positive: nothing to train")
        self.profile_steps = tuple(self.profile_steps)
        self._check_parallel()
        self.memory = self._memory_switches()

    def _memory_switches(self) -> MemorySwitches:
        """`memory` as validated switches, with the older and Forgather spellings folded in:
        `gradient_checkpointing` = full checkpointing, `fuse_optim_with_backward` =
        optimizer_in_backward, `enable_activation_offloading` = activation_offload."""
        memory = self.memory
        if not isinstance(memory, MemorySwitches):
            if memory is not None and not isinstance(memory, dict):
                raise FgError(
                    f"memory must be a mapping of memory switches, not {type(memory).__name__}",
                    hint="e.g. memory: {activation_checkpointing: selective, fused_linear_ce: true}",
                )
            memory = MemorySwitches.from_dict(memory)
        if self.gradient_checkpointing and memory.activation_checkpointing == "none":
            memory.activation_checkpointing = "full"
        memory.optimizer_in_backward = memory.optimizer_in_backward or self.fuse_optim_with_backward
        memory.activation_offload = memory.activation_offload or self.enable_activation_offloading
        memory.validate(self.gradient_accumulation_steps, self.max_grad_norm)
        if memory.optimizer_in_backward and self.mixed_precision == "fp16":
            raise FgError(
                "optimizer_in_backward cannot be combined with mixed_precision fp16: the gradient "
                "scaler unscales and skips steps after backward, when the parameters are already updated",
                hint="use mixed_precision bf16 or dtype bfloat16, or turn optimizer_in_backward off",
            )
        return memory

    def _check_parallel(self) -> None:
        """Values alone; whether the sizes fit the world is checked at setup (mesh.py)."""
        from fgtui.engine.train.mesh import DATA_PARALLEL, PIPELINE_SCHEDULES

        if self.data_parallel is not None and self.data_parallel not in DATA_PARALLEL:
            raise FgError(f"data_parallel {self.data_parallel!r} is not one of {DATA_PARALLEL}")
        if self.pipeline_schedule not in PIPELINE_SCHEDULES:
            raise FgError(f"pipeline_schedule {self.pipeline_schedule!r} is not one of {PIPELINE_SCHEDULES}")
        for name in ("tensor_parallel_size", "pipeline_parallel_size"):
            if getattr(self, name) < 1:
                raise FgError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.pipeline_microbatches is not None and self.pipeline_microbatches < 1:
            raise FgError(f"pipeline_microbatches must be at least 1, not {self.pipeline_microbatches}")
        for name in ("fsdp_param_dtype", "fsdp_reduce_dtype"):
            value = getattr(self, name)
            if value is not None and value not in DTYPES:
                raise FgError(f"{name} {value!r} is not one of {DTYPES}")
        if (self.fsdp_param_dtype or self.fsdp_reduce_dtype) and self.data_parallel != "fsdp2":
            raise FgError("fsdp_param_dtype / fsdp_reduce_dtype need data_parallel: fsdp2")

    @property
    def eval_batch_size(self) -> int:
        return self.per_device_eval_batch_size or self.per_device_train_batch_size

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # the memory switches, a dataclass too, become a nested dict
