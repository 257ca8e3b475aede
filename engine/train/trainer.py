"""The trainer: one hot loop (`train_step` -> `forward_backward_step`) and everything around it.

Built by a config's `main` target (or directly from Python) and run with `.train()`,
which returns the process exit code. Optimizer and scheduler come as factories, as
Forgather injects them: `optimizer_factory(named_parameters)`, `lr_scheduler_factory(optimizer)`.
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable

from fgtui.engine.errors import FgError
from fgtui.engine.launch import output_lock
from fgtui.engine.train import checkpoint as ckpt
from fgtui.engine.train import grad_clip
from fgtui.engine.train import memory_setup
from fgtui.engine.train.args import TrainingArguments
from fgtui.engine.train.budget import steps_from_tokens, tokens_per_step
from fgtui.engine.train.callbacks import DivergenceGuard, ProfilerCallback, TrainerCallback
from fgtui.engine.train.control_relay import ControlRelay
from fgtui.engine.train.flops import attention_area, device_peak_flops, flops_model
from fgtui.engine.train.logstream import LogStreamWriter, tensorboard_available
from fgtui.engine.train.loop import TrainingLoop
from fgtui.engine.train.runtime import (
    RunContext,
    Runtime,
    autocast_context,
    count_loss_tokens,
    device_name,
    init_distributed,
    torch_dtype,
)
from fgtui.engine.train.sampler import ResumableBatchSampler
from fgtui.engine.train.state import TrainerState


class Trainer(TrainingLoop):
    """Trains `model` (any nn.Module whose forward(**batch) returns an object with `.loss`).

    `model` stays the module given; `setup()` places and wraps it into `runtime.model`,
    the one that trains. `run_dir` is where a run started from Python writes.
    """

    # Every epoch in a fresh order drawn from the seed; off, the train set in its own order.
    shuffle_train_set = True
    # A pipeline run's stages: None cuts fgtui's CausalLM; a pipeline.Splitter cuts any model.
    pipeline_splitter: Any = None

    def __init__(
        self,
        model: Any,
        args: TrainingArguments | dict,
        train_dataset: Any,
        *,
        data_collator: Callable | None = None,
        eval_dataset: Any = None,
        optimizer_factory: Callable | None = None,
        lr_scheduler_factory: Callable | None = None,
        callbacks: list[TrainerCallback] = (),
        tokenizer: Any = None,
        run_dir: str | None = None,
        divergence_guard: DivergenceGuard | None = None,
    ) -> None:
        if model is None:
            raise FgError("the config builds no model", hint="define the model (a model template's block)")
        if train_dataset is None:
            raise FgError("the config builds no train dataset", hint="define train_dataset (a dataset template)")
        self.args = args if isinstance(args, TrainingArguments) else TrainingArguments(**args)
        self.model = model
        self.train_dataset, self.eval_dataset = train_dataset, eval_dataset
        self.data_collator, self.tokenizer = data_collator, tokenizer
        self.optimizer_factory, self.lr_scheduler_factory = optimizer_factory, lr_scheduler_factory
        self.callbacks = list(callbacks) + [divergence_guard or DivergenceGuard()]
        if self.args.profile:
            self.callbacks.append(ProfilerCallback(self.args.profile_steps))
        # Where a run started from Python writes; `fgtui train` hands `train()` its own.
        self.standalone_run = RunContext(Path(run_dir or self._default_run_dir()))
        self.state = TrainerState()
        self.runtime: Runtime | None = None  # built by setup()
        self._batches: Iterator | None = None  # the train loader's iterator, reopened each epoch
        self._last_status: dict[str, Any] = {}

    def _default_run_dir(self) -> str:
        name = self.args.run_name or time.strftime("run-%Y%m%d-%H%M%S")
        return os.path.join(self.args.output_dir, "runs", name)

    @property
    def checkpoints_dir(self) -> Path:
        return Path(self.args.output_dir) / "checkpoints"

    @property
    def unwrapped_model(self) -> Any:
        """The model without its parallel wrappers: the one training once setup has run,
        else the one given (a Forgather script that only saves never sets up)."""
        return ckpt.unwrap(self.runtime.model if self.runtime is not None else self.model)

    def autocast(self):
        return autocast_context(self.runtime.device, self.args.mixed_precision)

    # ---------------------------------------------------------------- setup
    def setup(self, run: RunContext | None = None) -> Runtime:
        """Place the model, turn switches, build optimizer/data, open the log stream and
        control, resume; returns the runtime, which the trainer keeps as `self.runtime`.
        `run` says where the run writes (default: `standalone_run`)."""
        self.runtime = None  # a failed setup leaves no runtime of an earlier run behind
        runtime, notes = self._build_runtime(run or self.standalone_run)
        self.runtime = runtime
        self._log_event(
            "start",
            config=str(runtime.run_dir / "config.yaml"),
            world_size=runtime.world_size,
            max_steps=self._max_steps(),
            run_name=runtime.run_dir.name,
            job_id=runtime.run.job_id or "",
            device=device_name(runtime.device),
            n_params=runtime.n_params,
        )
        for line in notes:
            self._print(line)
        self._resume()
        self.state.max_steps = self._max_steps()
        self._reset_interval()  # evaluate() and save() time themselves against it, before train() too
        return runtime

    def _build_runtime(self, run: RunContext) -> tuple[Runtime, list[str]]:
        """The runtime, and what the memory switches did (lines to print). The control relay
        and the log stream open last, once nothing else can fail."""
        import torch

        from fgtui.engine.train import parallel_setup, parallelize

        args, switches = self.args, self.args.memory
        dist, device = init_distributed(args.device)
        torch.manual_seed(args.seed)
        memory_cap = switches.apply_memory_cap(device)
        model = memory_setup.place_model(self.model, switches, device, torch_dtype(args.dtype))
        n_params = sum(p.numel() for p in model.parameters())
        notes = ([memory_cap] if memory_cap else []) + switches.apply_to_model(model)
        if args.fused_pointwise and device.type == "cuda":
            notes.append(memory_setup.fuse_pointwise(model))
        if args.compile_blocks:
            parallelize.apply_block_compile(model)
        model, parallel = parallel_setup.parallelize(
            model, args, dist, device, torch_dtype(args.dtype), splitter=self.pipeline_splitter
        )
        model.train()
        unwrapped = ckpt.unwrap(model)
        optimizer = memory_setup.make_optimizer(
            unwrapped, switches, self.optimizer_factory, args.learning_rate, dist.is_distributed
        )
        loss_fn = memory_setup.make_loss(unwrapped, switches)
        offload = switches.make_offload(unwrapped)
        lr_scheduler = self.lr_scheduler_factory(optimizer) if self.lr_scheduler_factory else None
        scaler = torch.amp.GradScaler(device.type) if args.mixed_precision == "fp16" else None
        sampler, train_loader, eval_loader = self._make_loaders(parallel, device)
        seq_len = self._seq_len(train_loader)
        flops = flops_model(parallel.full_model or unwrapped)
        peak_flops = device_peak_flops(device_name(device)) if device.type == "cuda" else None
        if offload is not None:
            notes.append(offload.status)
        if loss_fn is not None:
            notes.append(f"fused linear cross-entropy: {loss_fn.impl_reason}")
        if switches.optimizer_in_backward:
            notes.append("optimizer fused into backward: one optimizer per parameter")
        clip_in_optimizer = bool(
            args.max_grad_norm and scaler is None and parallel.plain_gradients and grad_clip.folds_clip(optimizer)
        )
        if clip_in_optimizer:
            notes.append(f"gradients clipped to norm {args.max_grad_norm:g} inside the fused optimizer step")
        status = functools.partial(self._status, run)
        control = ControlRelay(dist, device, rank=dist.rank, status=status, run_dir=run.run_dir)
        try:
            log_writer = self._open_run_dir(run, dist.rank)
        except BaseException:
            control.close()
            raise
        runtime = Runtime(
            run=run,
            resume=run.resume or args.resume_from_checkpoint,
            dist=dist,
            device=device,
            model=model,
            parallel=parallel,
            n_params=n_params,
            optimizer=optimizer,
            optim_in_backward=switches.optimizer_in_backward,
            clip_in_optimizer=clip_in_optimizer,
            lr_scheduler=lr_scheduler,
            scaler=scaler,
            loss_fn=loss_fn,
            offload=offload,
            sampler=sampler,
            train_loader=train_loader,
            eval_loader=eval_loader,
            seq_len=seq_len,
            flops=flops,
            peak_flops=peak_flops,
            control=control,
            log_writer=log_writer,
        )
        return runtime, notes

    def _make_loaders(self, parallel: Any, device: Any) -> tuple[ResumableBatchSampler, Any, Any]:
        """The train sampler, train loader and eval loader (None without an eval set)."""
        import torch

        if not hasattr(self.train_dataset, "__len__"):
            raise FgError(
                "the train dataset has no length",
                hint="exact resume needs a map-style dataset; materialise streaming data first",
            )
        sampler = ResumableBatchSampler(
            len(self.train_dataset),
            self.args.per_device_train_batch_size,
            seed=self.args.seed,
            shuffle=self.shuffle_train_set,
            rank=parallel.data_rank,
            world_size=parallel.data_world,
            drop_last=self.args.dataloader_drop_last,
        )
        if len(sampler) == 0:
            raise FgError(f"the train dataset ({len(self.train_dataset)} examples) is smaller than one batch")
        # An explicit generator keeps iterator creation from drawing on the global RNG,
        # which a resumed run would draw at a different point than the uninterrupted one.
        # Pinned batches make forward_backward_step's non_blocking copy really asynchronous:
        # from pageable memory the host would wait for the copy, i.e. for the GPU's queue.
        train_loader = torch.utils.data.DataLoader(
            self.train_dataset,
            batch_sampler=sampler,
            collate_fn=self.data_collator,
            num_workers=self.args.dataloader_num_workers,
            pin_memory=device.type == "cuda",
            generator=torch.Generator().manual_seed(self.args.seed),
        )
        self._batches = None
        eval_loader = None
        if self.eval_dataset is not None:
            eval_sampler = ResumableBatchSampler(
                len(self.eval_dataset),
                self.args.eval_batch_size,
                shuffle=False,
                rank=parallel.data_rank,
                world_size=parallel.data_world,
                drop_last=False,
            )
            eval_loader = torch.utils.data.DataLoader(
                self.eval_dataset, batch_sampler=eval_sampler, collate_fn=self.data_collator
            )
        return sampler, train_loader, eval_loader

    def _open_run_dir(self, run: RunContext, rank: int) -> LogStreamWriter | None:
        """Create the run dir, hold the output dir's lock, open the log stream (rank 0 only)."""
        if rank != 0:
            return None
        try:
            run.run_dir.mkdir(parents=True, exist_ok=True)
            self.checkpoints_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise FgError(
                f"cannot write the output directory: {error}", hint="set output_dir to a directory you can write"
            ) from None
        # One run per output dir: only the lock's holder may clear half-written saves there.
        output_lock.ensure_held(
            self.args.output_dir, run.job_id, {"job_id": run.job_id, "pid": os.getpid(), "run_dir": str(run.run_dir)}
        )
        ckpt.remove_partial(self.checkpoints_dir)
        use_tb = self.args.tensorboard if self.args.tensorboard is not None else tensorboard_available()
        return LogStreamWriter(
            run.run_dir / "metrics.jsonl", tensorboard_dir=str(run.run_dir / "tb") if use_tb else None
        )

    def _resume(self) -> None:
        rt = self.runtime
        spec = rt.resume
        if not spec:
            return
        if spec == "if-any":  # a requeued job: resume when a checkpoint was made, else start
            if ckpt.latest_checkpoint(self.checkpoints_dir) is None:
                self._print("no checkpoint to resume from yet: starting at step 0")
                return
            spec = "latest"
        path = ckpt.resolve_checkpoint(self.checkpoints_dir, spec)
        self.state = ckpt.load_checkpoint(
            path,
            model=rt.model,
            optimizer=rt.optimizer,
            scheduler=rt.lr_scheduler,
            scaler=rt.scaler,
            rank=rt.rank,
            sharding=rt.parallel.checkpointer,
        )
        run = ckpt.checkpoint_run(path)
        self._log_event("resumed", path=str(path), **({"from_run": run} if run else {}))
        saved_by = f" (saved by run {run})" if run and run != rt.run_dir.name else ""
        self._print(f"resumed from {path}{saved_by} at step {self.state.global_step}")

    def _max_steps(self) -> int:
        rt = self.runtime
        if self.args.max_steps > 0:
            return self.args.max_steps
        if self.args.total_tokens:
            step_tokens = tokens_per_step(
                rt.seq_len,
                self.args.per_device_train_batch_size,
                self.args.gradient_accumulation_steps,
                rt.parallel.data_world,
            )
            return steps_from_tokens(self.args.total_tokens, step_tokens).total_steps
        per_epoch = len(rt.sampler) / self.args.gradient_accumulation_steps
        return max(1, math.ceil(self.args.num_train_epochs * per_epoch))

    def _seq_len(self, train_loader: Any) -> int:
        """Tokens per example, from one collated example (collators may pad or pack)."""
        return (
            int(train_loader.collate_fn([self.train_dataset[0]])["input_ids"].shape[-1])
            if self.data_collator
            else int(len(self.train_dataset[0]["input_ids"]))
        )

    # ---------------------------------------------------------------- hot loop
    def forward_backward_step(self, batch: dict[str, Any], weight: float) -> Any:
        """Forward and backward on one micro-batch; the loss is scaled by `weight`
        (its share of the step's loss tokens) so accumulation averages per token."""
        rt = self.runtime
        batch = {k: v.to(rt.device, non_blocking=True) for k, v in batch.items()}
        if rt.pipeline is not None:  # the schedule runs forward and backward over the stages
            with self.autocast():
                return rt.pipeline.forward_backward(batch, weight)
        # Saved activations are offloaded while the forward records them; backward
        # (outside the context) brings them back through the same hooks.
        with self.autocast(), rt.offload if rt.offload is not None else nullcontext():
            loss = self.compute_loss(batch)
        scaled = loss * weight if weight != 1.0 else loss  # one micro-batch: no kernel for x * 1.0
        (rt.scaler.scale(scaled) if rt.scaler else scaled).backward()
        return loss.detach()

    def compute_loss(self, batch: dict[str, Any]) -> Any:
        """The mean next-token loss of one batch on the device: the model's own, or the
        fused linear cross-entropy over its final hidden states (same tokens, same mean)."""
        rt = self.runtime
        if rt.loss_fn is None:
            return rt.model(**batch).loss
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        hidden = rt.model(**inputs, return_hidden_states=True).hidden_states
        return rt.loss_fn(hidden, batch["labels"] if "labels" in batch else batch["input_ids"])

    def train_step(self) -> tuple[Any, Any, int, int, int]:
        """One optimizer step over `gradient_accumulation_steps` micro-batches.
        Returns (loss, grad_norm) as device tensors, loss/input token counts and the
        attention area (query, key pairs within documents) the MFU counts."""
        rt = self.runtime
        micro = [self._next_batch() for _ in range(self.args.gradient_accumulation_steps)]
        counts = [count_loss_tokens(b) for b in micro]
        total = max(1, sum(counts))
        loss = 0.0  # becomes a device tensor with the first micro-batch's share
        for i, batch in enumerate(micro):
            last = i == len(micro) - 1
            share = counts[i] / total
            with rt.parallel.gradient_sync(rt.model, enabled=last):
                micro_loss = self.forward_backward_step(batch, share).float()
            # The whole step in one micro-batch (share 1.0) is its loss as it is: 0.0 + x * 1.0
            # would be the same value for two more kernels each step.
            loss = micro_loss if share == 1.0 and len(micro) == 1 else loss + micro_loss * share
        if rt.optim_in_backward:
            # The parameters were updated in backward; step() only closes the step
            # and yields the norm of the gradients the hooks consumed.
            rt.optimizer.step()
            norm = rt.optimizer.last_grad_norm
            grad_norm = norm if norm is not None else loss.new_zeros(())
        else:
            grad_norm = self._clip_and_step()
        if rt.lr_scheduler is not None:
            rt.lr_scheduler.step()
        rt.optimizer.zero_grad(set_to_none=True)
        self.state.global_step += 1
        # Ranks of one TP group or pipeline share their batches: one of them counts the tokens.
        share = 1 if rt.parallel.reports_data else 0
        inputs = share * sum(b["input_ids"].numel() for b in micro)
        area = share * sum(attention_area(b["input_ids"], b.get("document_ids")) for b in micro)
        return loss, grad_norm, share * sum(counts), inputs, area

    def _clip_and_step(self) -> Any:
        rt = self.runtime
        max_norm = self.args.max_grad_norm or None
        if rt.clip_in_optimizer:
            # Measured here, clipped inside the fused optimizer's kernel (grad_clip.py).
            grad_norm = rt.parallel.clip_grad_norm(rt.model, None)
            grad_clip.step_with_clip(rt.optimizer, grad_norm, max_norm)
            return grad_norm
        if rt.scaler:
            rt.scaler.unscale_(rt.optimizer)
        grad_norm = rt.parallel.clip_grad_norm(rt.model, max_norm)
        if rt.scaler:
            rt.scaler.step(rt.optimizer)
            rt.scaler.update()
        else:
            rt.optimizer.step()
        return grad_norm

    def _next_batch(self) -> dict[str, Any]:
        rt = self.runtime
        while True:
            if self._batches is None:
                rt.sampler.set_position(self.state.epoch, self.state.batches_in_epoch)
                self._batches = iter(rt.train_loader)
            try:
                batch = next(self._batches)
            except StopIteration:
                self._batches = None
                self.state.epoch += 1
                self.state.batches_in_epoch = 0
                continue
            self.state.batches_in_epoch += 1
            return batch
