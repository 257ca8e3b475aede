"""`forgather.ml.trainer`: Forgather's Trainer signature on fgtui's Trainer.

The adapter converts the arguments (args.py), takes the model from `model` or
`model_init`, and computes the loss as Forgather does (`compute_loss_func(logits,
labels)`, or the fused loss over hidden states); everything else — the loop,
the log stream, checkpoints, control, memory switches, DDP/FSDP — is fgtui's
Trainer unchanged.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

from fgtui.engine.compat.forgather.ml.trainer.args import TrainingArguments, to_fgtui
from fgtui.engine.compat.forgather.ml.trainer.callbacks import TBLogger
from fgtui.engine.compat.forgather.model_code import adapt_model
from fgtui.engine.errors import FgError
from fgtui.engine.train.runtime import RunContext, Runtime
from fgtui.engine.train.trainer import Trainer as FgTrainer

__all__ = ["Trainer", "TrainingArguments"]


def as_arguments(args: Any, cls: type = TrainingArguments) -> TrainingArguments:
    if isinstance(args, TrainingArguments):
        return args
    if isinstance(args, dict):
        return cls.from_dict(args)
    raise FgError(f"trainer args must be a mapping or TrainingArguments, not {type(args).__name__}")


class Trainer(FgTrainer):
    arguments_class = TrainingArguments
    # Forgather reads the train set in its order (datasets shuffle themselves when
    # their config asks); fgtui's exact-resume sampler keeps that order.
    shuffle_train_set = False

    def __init__(
        self,
        *,
        args: TrainingArguments | dict,
        model: Any = None,
        distributed_env: Any = None,
        data_collator: Callable | None = None,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        processing_class: Any = None,
        model_init: Callable | None = None,
        callbacks: list | None = None,
        compute_loss_func: Callable | None = None,
        optimizer_factory: Callable | None = None,
        optimizer_cls_and_kwargs: tuple | None = None,
        lr_scheduler_factory: Callable | None = None,
        enable_activation_checkpoint_fn: Callable | None = None,
        fused_loss_factory: Callable | None = None,
    ) -> None:
        forgather_args = as_arguments(args, self.arguments_class)
        if model is None and model_init is None:
            raise FgError("the trainer has neither a model nor a model_init", hint="give it model: or model_init:")
        if model is None:
            if forgather_args.seed >= 0:
                import torch

                # Forgather seeds, then opens a data-loader iterator (which draws one int64
                # from the global generator), then constructs the model; doing the same
                # gives the model the weights it would have under Forgather.
                torch.manual_seed(forgather_args.seed)
                torch.empty((), dtype=torch.int64).random_()
            model = model_init()
        # Forgather's generated model code, adapted to the installed transformers (model_code.py).
        adapt_model(model)
        no_accelerator = bool(getattr(distributed_env, "no_accelerator", False))
        fg_args, self.forgather_ignored = to_fgtui(forgather_args, no_accelerator=no_accelerator)
        self._resume_weights = _model_dir_resume(forgather_args, fg_args)
        callbacks = [c for c in (callbacks or []) if c is not None]
        if any(isinstance(c, TBLogger) for c in callbacks):
            fg_args.tensorboard = True
        if optimizer_factory is None:
            optimizer_factory = self._default_optimizer(forgather_args, optimizer_cls_and_kwargs)
        if forgather_args.float32_matmul_precision:
            import torch

            torch.set_float32_matmul_precision(forgather_args.float32_matmul_precision)
        if forgather_args.detect_anomaly:
            import torch

            torch.autograd.set_detect_anomaly(True)
        # Outside `fgtui train` (a script calling TrainingScript.run()), Forgather's
        # logging_dir is the run dir, as it is where Forgather writes its logs;
        # `fgtui train` hands train() the launcher's run dir instead.
        super().__init__(
            model,
            fg_args,
            train_dataset,
            data_collator=data_collator,
            eval_dataset=eval_dataset,
            optimizer_factory=optimizer_factory,
            lr_scheduler_factory=lr_scheduler_factory,
            callbacks=callbacks,
            tokenizer=processing_class,
            run_dir=forgather_args.logging_dir,
        )
        self.forgather_args = forgather_args
        self.distributed_env = distributed_env
        self.compute_loss_func = compute_loss_func
        self.fused_loss_factory = fused_loss_factory
        self.fused_loss = None
        self.enable_activation_checkpoint_fn = enable_activation_checkpoint_fn

    @staticmethod
    def _default_optimizer(args: TrainingArguments, cls_and_kwargs: tuple | None) -> Callable:
        """Forgather's default (transformers' too): AdamW from the learning-rate fields."""
        import torch

        if cls_and_kwargs:
            optimizer_cls, kwargs = cls_and_kwargs
            return functools.partial(optimizer_cls, **kwargs)
        return functools.partial(
            torch.optim.AdamW,
            lr=args.learning_rate,
            betas=(args.adam_beta1, args.adam_beta2),
            weight_decay=args.weight_decay,
            eps=args.adam_epsilon,
        )

    def _make_loaders(self, parallel: Any, device: Any) -> tuple[Any, Any, Any]:
        if _is_stream(self.train_dataset):
            args = self.forgather_args
            rows = None
            if args.max_steps >= 0 and not args.total_tokens:
                rows = args.max_steps * args.per_device_train_batch_size * args.gradient_accumulation_steps
                rows *= parallel.data_world
            self.train_dataset = self._read_stream(self.train_dataset, rows, "the train dataset")
        if _is_stream(self.eval_dataset):
            args = self.forgather_args
            rows = args.max_eval_steps * args.per_device_eval_batch_size * parallel.data_world
            self.eval_dataset = self._read_stream(
                self.eval_dataset, rows if args.max_eval_steps > 0 else None, "the eval dataset"
            )
        return super()._make_loaders(parallel, device)

    def _read_stream(self, dataset: Any, rows: int | None, what: str) -> list:
        """An iterable dataset, read in its order into a list: fgtui's exact resume and
        epoch accounting need a length. With a step budget only the rows it consumes are
        read (Forgather's run sees the same rows first), else the whole stream."""
        import itertools

        read = list(itertools.islice(iter(dataset), rows) if rows is not None else dataset)
        how = f"its first {len(read):,} rows (the run's step budget)" if rows is not None else f"all {len(read):,} rows"
        self._print(f"{what} is an iterable dataset: fgtui reads {how} into memory, in its order")
        return read

    def _max_steps(self) -> int:
        """Forgather's length: epochs x optimizer steps per epoch, capped by max_steps when >= 0."""
        args = self.forgather_args
        if args.total_tokens:
            return super()._max_steps()
        epoch_steps = len(self.runtime.sampler) // self.args.gradient_accumulation_steps
        steps = int(args.num_train_epochs * epoch_steps)
        return min(args.max_steps, steps) if args.max_steps >= 0 else steps

    def setup(self, run: RunContext | None = None) -> Runtime:
        runtime = super().setup(run)
        if self.forgather_ignored:
            self._print("Forgather trainer arguments fgtui does not use: " + ", ".join(self.forgather_ignored))
        if self.forgather_args.undefined:
            self._print(
                "trainer arguments Forgather's TrainingArguments does not define (ignored, as Forgather "
                "ignores them): " + ", ".join(self.forgather_args.undefined)
            )
        self._print(f"seed: {self.args.seed}")
        if self.enable_activation_checkpoint_fn is not None and self.forgather_args.gradient_checkpointing:
            self._print(
                "enable_activation_checkpoint_fn not called: fgtui checkpoints the decoder layers itself "
                "(gradient_checkpointing), dropping the KV cache inside them as transformers does"
            )
        if self._resume_weights is not None:
            from fgtui.engine.train import checkpoint as ckpt

            ckpt.load_model_weights(self._resume_weights, self.model)
            self._print(
                f"resume_from_checkpoint: no checkpoints yet; the model weights in {self._resume_weights} "
                "loaded instead, as Forgather does"
            )
        if self.fused_loss_factory is not None and runtime.loss_fn is None:
            model = self.unwrapped_model
            if _takes_hidden_states(model) and hasattr(model, "get_output_embeddings"):
                self.fused_loss = self.fused_loss_factory(model.get_output_embeddings())
            else:
                self._print(
                    f"fused loss not used: {type(model).__name__}.forward cannot return hidden states "
                    "without logits; the loss is computed on the logits"
                )
        return runtime

    def compute_loss(self, batch: dict[str, Any]) -> Any:
        model = self.runtime.model
        if self.runtime.loss_fn is not None or (self.compute_loss_func is None and self.fused_loss is None):
            return super().compute_loss(batch)  # fgtui's fused switch, or the model's own loss
        labels = batch["labels"] if "labels" in batch else batch["input_ids"]
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        if self.fused_loss is not None:
            hidden = model(**inputs, return_hidden_states=True).hidden_states
            return self.fused_loss(hidden, labels)
        outputs = model(**inputs)
        logits = outputs.logits if hasattr(outputs, "logits") else outputs[0] if isinstance(outputs, tuple) else outputs
        return self.compute_loss_func(logits, labels)

    # Forgather's TrainingScript calls these besides train().
    def save_model(self, output_dir: str | None = None) -> None:
        from pathlib import Path

        from fgtui.engine.train import checkpoint as ckpt

        target = Path(output_dir or self.forgather_args.output_dir)
        target.mkdir(parents=True, exist_ok=True)
        ckpt.save_model(self.unwrapped_model, target, self.tokenizer)


def _model_dir_resume(forgather_args: TrainingArguments, fg_args: Any) -> Any:
    """Forgather's `resume_from_checkpoint: true` with no checkpoints dir in output_dir
    resumes from output_dir itself when it holds a model (a fine-tune whose output dir
    is the model it starts from): its weights, with fresh training state. Returns that
    dir (and clears fgtui's resume), or None. fgtui makes the checkpoints dir at every
    start, so an empty one counts as none."""
    from pathlib import Path

    from fgtui.engine.train import checkpoint as ckpt

    output = Path(forgather_args.output_dir)
    if forgather_args.resume_from_checkpoint is not True or ckpt.latest_checkpoint(output / "checkpoints"):
        return None
    if not any(output.glob("*.safetensors")):
        return None  # fgtui's resume reports that there is nothing to resume from, as Forgather fails
    fg_args.resume_from_checkpoint = None
    return output


def _is_stream(dataset: Any) -> bool:
    """An iterable dataset without a length (datasets.IterableDataset, torch IterableDataset)."""
    return dataset is not None and not hasattr(dataset, "__len__") and hasattr(dataset, "__iter__")


def _takes_hidden_states(model: Any) -> bool:
    try:
        return "return_hidden_states" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False
