"""Forgather's training arguments, and how each becomes an fgtui `TrainingArguments` field.

Forgather's names follow transformers'. Fields fgtui honours map onto its own;
fields that only tune Forgather's trainer internals (compile modes, gc thresholds,
pinned memory ...) are kept in `extra` and named once when training starts, so a
user sees which settings had no effect rather than losing them silently.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from dataclasses import dataclass, field, fields
from typing import Any

from fgtui.engine.errors import FgError


@dataclass(kw_only=True)
class TrainingArguments:
    output_dir: str = "output_dir"
    logging_dir: str | None = None
    per_device_eval_batch_size: int = 16
    per_device_train_batch_size: int = 16
    num_train_epochs: float = 1
    device: Any = None
    seed: int = -1
    use_cpu: bool = False
    epoch_train_steps: int = 100000
    max_steps: int = -1
    dataloader_num_workers: int = 0
    dataloader_pin_memory: bool = True
    dataloader_persistent_workers: bool = False
    dataloader_prefetch_factor: int | None = None
    dataloader_drop_last: bool = False
    eval_strategy: str = "no"
    eval_steps: int = 100
    eval_delay: int = 0
    logging_strategy: str = "steps"
    logging_steps: int = 50
    logging_first_step: bool = False
    torch_compile: bool = False
    torch_compile_backend: str | None = None
    torch_compile_mode: str | None = "default"
    torch_compile_dynamic: bool = True
    torch_compile_full_graph: bool = False
    max_grad_norm: float | None = None
    gradient_accumulation_steps: int = 1
    save_strategy: str = "steps"
    save_steps: int = 1000
    save_total_limit: int = 2
    save_safetensors: bool = True
    save_on_each_node: bool = False
    overwrite_output_dir: bool = False
    resume_from_checkpoint: bool | str = False
    load_best_model_at_end: bool = False
    metric_for_best_model: str = "loss"
    greater_is_better: bool | None = None
    lr_scheduler_type: str = "linear"
    lr_scheduler_kwargs: dict | None = None
    warmup_steps: int = 0
    learning_rate: float = 5e-5
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1.0e-8
    gradient_checkpointing: bool = False
    # BaseTrainingArguments
    default_dtype: str | None = None
    max_eval_steps: int = -1
    preserve_best_model: bool = False
    best_model_metric: str = "loss"
    best_model_greater_is_better: bool | None = None
    preserve_n_best: int = 1
    eval_on_save: bool = False
    enable_activation_offloading: bool = False
    detect_anomaly: bool = False
    sdpa_backend: Any = None
    sdpa_set_priority: bool = False
    float32_matmul_precision: str | None = None
    dynamo_recompile_limit: int | None = None
    mixed_precision: str | None = None
    # Trainer's TrainingArguments
    gc_threshold: float = 0.5
    construct_model_on: str = "default"
    activation_memory_budget: float | None = None
    fuse_optim_with_backward: bool = False
    speed_metrics_start_step: int = 1
    set_dataset_epoch: bool = True
    # fgtui's own switches may be given too (a Forgather config extended for fgtui)
    memory: dict | None = None
    total_tokens: int | None = None
    extra: dict = field(default_factory=dict)

    # Keys of the config's mapping that no field takes (see from_dict).
    undefined: list = field(default_factory=list)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainingArguments":
        """Forgather builds its arguments with dacite, which drops keys no field takes
        (configs carry some, e.g. save_optimizer_state); they are dropped here too and
        named when training starts, so a misspelt key is seen rather than lost."""
        known = {f.name for f in fields(cls)} - {"undefined"}
        undefined = sorted(set(values) - known)
        return cls(**{k: v for k, v in values.items() if k in known}, undefined=undefined)


# Forgather fields whose meaning fgtui's trainer carries out (directly or below).
HONOURED = {
    "output_dir",
    "logging_dir",
    "per_device_eval_batch_size",
    "per_device_train_batch_size",
    "num_train_epochs",
    "device",
    "seed",
    "use_cpu",
    "max_steps",
    "dataloader_num_workers",
    "dataloader_drop_last",
    "eval_strategy",
    "eval_steps",
    "logging_steps",
    "max_grad_norm",
    "gradient_accumulation_steps",
    "save_strategy",
    "save_steps",
    "save_total_limit",
    "resume_from_checkpoint",
    "learning_rate",
    "weight_decay",
    "adam_beta1",
    "adam_beta2",
    "adam_epsilon",
    "gradient_checkpointing",
    "default_dtype",
    "max_eval_steps",
    "preserve_best_model",
    "preserve_n_best",
    "enable_activation_offloading",
    "float32_matmul_precision",
    "mixed_precision",
    "fuse_optim_with_backward",
    "memory",
    "total_tokens",
    "extra",
    "undefined",
    "detect_anomaly",
    "torch_compile",
}
DTYPE_NAMES = {
    "float32": "float32",
    "fp32": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
}


def to_fgtui(args: TrainingArguments, *, no_accelerator: bool = False) -> tuple[Any, list[str]]:
    """fgtui's TrainingArguments for `args`, and the names of the fields it leaves unused."""
    from fgtui.engine.train.args import TrainingArguments as FgArgs

    defaults = {f.name: f.default for f in fields(TrainingArguments) if f.default is not dataclasses.MISSING}
    ignored = sorted(name for name in defaults if name not in HONOURED and getattr(args, name) != defaults[name])
    if args.save_strategy not in ("no", "steps", "epoch"):
        raise FgError(f"save_strategy {args.save_strategy!r} is not one of no, steps, epoch")
    if args.eval_strategy not in ("no", "steps", "epoch"):
        raise FgError(f"eval_strategy {args.eval_strategy!r} is not one of no, steps, epoch")
    if args.eval_strategy == "epoch":
        ignored.append("eval_strategy (epoch: fgtui evaluates every eval_steps only)")
    dtype = DTYPE_NAMES.get(args.default_dtype or "float32")
    if dtype is None:
        raise FgError(f"default_dtype {args.default_dtype!r} is not one of {', '.join(DTYPE_NAMES)}")
    device = "cpu" if (args.use_cpu or no_accelerator) else (str(args.device) if args.device else None)
    converted = FgArgs(
        output_dir=args.output_dir,
        run_name=os.path.basename(args.logging_dir.rstrip("/")) if args.logging_dir else None,
        per_device_train_batch_size=args.per_device_train_batch_size,
        per_device_eval_batch_size=args.per_device_eval_batch_size,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        max_steps=args.max_steps,
        total_tokens=args.total_tokens,
        num_train_epochs=float(args.num_train_epochs),
        learning_rate=args.learning_rate,
        max_grad_norm=args.max_grad_norm,
        # Forgather's -1 means "do not seed": a fresh seed each run, written to the log below.
        seed=args.seed if args.seed >= 0 else secrets.randbelow(2**31),
        dtype=dtype,
        mixed_precision=None if args.mixed_precision in (None, "no") else args.mixed_precision,
        device=device,
        logging_steps=args.logging_steps,
        eval_steps=args.eval_steps if args.eval_strategy == "steps" else None,
        max_eval_steps=args.max_eval_steps if args.max_eval_steps > 0 else None,
        save_strategy=args.save_strategy,
        save_steps=args.save_steps,
        save_total_limit=args.save_total_limit,
        keep_best_n=args.preserve_n_best if args.preserve_best_model else 0,
        resume_from_checkpoint=args.resume_from_checkpoint or None,
        gradient_checkpointing=args.gradient_checkpointing,
        memory=args.memory,
        fuse_optim_with_backward=args.fuse_optim_with_backward,
        enable_activation_offloading=args.enable_activation_offloading,
        compile_blocks=args.torch_compile,
        dataloader_num_workers=args.dataloader_num_workers,
        dataloader_drop_last=args.dataloader_drop_last,
        extra={"forgather": {name: getattr(args, name) for name in ignored}, **args.extra},
    )
    return converted, ignored
