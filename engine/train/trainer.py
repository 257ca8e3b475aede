"""The trainer: one hot loop (`train_step` -> `forward_backward_step`) and everything around it.

Built by a config's `main` target (or directly from Python) and run with `.train()`,
which returns the process exit code. Optimizer and scheduler come as factories, as
Forgather injects them: `optimizer_factory(named_parameters)`, `lr_scheduler_factory(optimizer)`.
"""

from __future__ import annotations

import math
import os
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable

from fgtui.engine.errors import FgError
from fgtui.engine.launch import output_lock
from fgtui.engine.train import checkpoint as ckpt
from fgtui.engine.train import memory_setup
from fgtui.engine.train.args import TrainingArguments
from fgtui.engine.train.budget import steps_from_tokens, tokens_per_step
from fgtui.engine.train.callbacks import DivergenceGuard, ProfilerCallback, TrainerCallback
from fgtui.engine.train.control_relay import ControlRelay
from fgtui.engine.train.flops import device_peak_flops, flops_per_token
from fgtui.engine.train.logstream import LogStreamWriter, tensorboard_available
from fgtui.engine.train.loop import TrainingLoop
from fgtui.engine.train.runtime import (
    autocast_context,
    count_loss_tokens,
    device_name,
    init_distributed,
    torch_dtype,
)
from fgtui.engine.train.sampler import ResumableBatchSampler
from fgtui.engine.train.state import TrainerState


class Trainer(TrainingLoop):
    """Trains `model` (any nn.Module whose forward(**batch) returns an object with `.loss`)."""

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
        self.run_dir = Path(run_dir or os.environ.get("FGTUI_RUN_DIR") or self._default_run_dir())
        self.job_id = os.environ.get("FGTUI_JOB_ID", "")
        self.state = TrainerState()
        self.scaler = None

    def _default_run_dir(self) -> str:
        name = self.args.run_name or time.strftime("run-%Y%m%d-%H%M%S")
        return os.path.join(self.args.output_dir, "runs", name)

    @property
    def checkpoints_dir(self) -> Path:
        return Path(self.args.output_dir) / "checkpoints"

    @property
    def unwrapped_model(self) -> Any:
        return ckpt.unwrap(self.model)

    def autocast(self):
        return autocast_context(self.device, self.args.mixed_precision)

    # ---------------------------------------------------------------- setup
    def setup(self) -> None:
        """Place the model, turn switches, build optimizer/data, resume, open the log stream."""
        import torch
        from fgtui.engine.train import parallelize

        args = self.args
        self.dist, self.device = init_distributed(args.device)
        self.rank, self.world_size = self.dist.rank, self.dist.world_size
        torch.manual_seed(args.seed)
        memory_cap = args.memory.apply_memory_cap(self.device)
        self.model = memory_setup.place_model(self.model, args.memory, self.device, torch_dtype(args.dtype))
        self.n_params = sum(p.numel() for p in self.model.parameters())
        memory_done = [memory_cap] if memory_cap else []
        memory_done += args.memory.apply_to_model(self.model)
        if args.compile_blocks:
            parallelize.apply_block_compile(self.model)
        from fgtui.engine.train import parallel_setup

        self.model, self.parallel = parallel_setup.parallelize(
            self.model, args, self.dist, self.device, torch_dtype(args.dtype)
        )
        self.pipeline = self.parallel.pipeline
        self.model.train()
        self.optimizer = memory_setup.make_optimizer(
            self.unwrapped_model, args.memory, self.optimizer_factory, args.learning_rate, self.dist.is_distributed
        )
        self.optim_in_backward = args.memory.optimizer_in_backward
        self.loss_fn = memory_setup.make_loss(self.unwrapped_model, args.memory)
        self.offload = args.memory.make_offload(self.unwrapped_model)
        self.lr_scheduler = self.lr_scheduler_factory(self.optimizer) if self.lr_scheduler_factory else None
        if args.mixed_precision == "fp16":
            self.scaler = torch.amp.GradScaler(self.device.type)
        self._make_loaders()
        self._open_run_dir()
        self.control = ControlRelay(self.dist, self.device, rank=self.rank, status=self._status, run_dir=self.run_dir)
        self.seq_len = self._seq_len()
        self.flops_token = flops_per_token(self.parallel.full_model or self.unwrapped_model, self.seq_len)
        self.peak_flops = device_peak_flops(device_name(self.device)) if self.device.type == "cuda" else None
        self._log_event(
            "start",
            config=str(self.run_dir / "config.yaml"),
            world_size=self.world_size,
            max_steps=self._max_steps(),
            run_name=self.run_dir.name,
            job_id=self.job_id,
            device=device_name(self.device),
            n_params=self.n_params,
        )
        if self.offload is not None:
            memory_done.append(self.offload.status)
        if self.loss_fn is not None:
            memory_done.append(f"fused linear cross-entropy: {self.loss_fn.impl_reason}")
        if self.optim_in_backward:
            memory_done.append("optimizer fused into backward: one optimizer per parameter")
        for line in memory_done:
            self._print(line)
        self._resume()
        self.state.max_steps = self._max_steps()

    def _make_loaders(self) -> None:
        import torch

        if not hasattr(self.train_dataset, "__len__"):
            raise FgError(
                "the train dataset has no length",
                hint="exact resume needs a map-style dataset; materialise streaming data first",
            )
        self.sampler = ResumableBatchSampler(
            len(self.train_dataset),
            self.args.per_device_train_batch_size,
            seed=self.args.seed,
            rank=self.parallel.data_rank,
            world_size=self.parallel.data_world,
            drop_last=self.args.dataloader_drop_last,
        )
        if len(self.sampler) == 0:
            raise FgError(f"the train dataset ({len(self.train_dataset)} examples) is smaller than one batch")
        # An explicit generator keeps iterator creation from drawing on the global RNG,
        # which a resumed run would draw at a different point than the uninterrupted one.
        # Pinned batches make forward_backward_step's non_blocking copy really asynchronous:
        # from pageable memory the host would wait for the copy, i.e. for the GPU's queue.
        self.train_loader = torch.utils.data.DataLoader(
            self.train_dataset,
            batch_sampler=self.sampler,
            collate_fn=self.data_collator,
            num_workers=self.args.dataloader_num_workers,
            pin_memory=self.device.type == "cuda",
            generator=torch.Generator().manual_seed(self.args.seed),
        )
        self._batches = None
        self.eval_loader = None
        if self.eval_dataset is not None:
            eval_sampler = ResumableBatchSampler(
                len(self.eval_dataset),
                self.args.eval_batch_size,
                shuffle=False,
                rank=self.parallel.data_rank,
                world_size=self.parallel.data_world,
                drop_last=False,
            )
            self.eval_loader = torch.utils.data.DataLoader(
                self.eval_dataset, batch_sampler=eval_sampler, collate_fn=self.data_collator
            )

    def _open_run_dir(self) -> None:
        self.log_writer = None
        if self.rank != 0:
            return
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.checkpoints_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise FgError(
                f"cannot write the output directory: {error}", hint="set output_dir to a directory you can write"
            ) from None
        # One run per output dir: only the lock's holder may clear half-written saves there.
        output_lock.ensure_held(
            self.args.output_dir,
            os.environ.get("FGTUI_JOB_ID"),
            {"job_id": os.environ.get("FGTUI_JOB_ID"), "pid": os.getpid(), "run_dir": str(self.run_dir)},
        )
        ckpt.remove_partial(self.checkpoints_dir)
        use_tb = self.args.tensorboard if self.args.tensorboard is not None else tensorboard_available()
        self.log_writer = LogStreamWriter(
            self.run_dir / "metrics.jsonl", tensorboard_dir=str(self.run_dir / "tb") if use_tb else None
        )

    def _resume(self) -> None:
        spec = self.args.resume_from_checkpoint
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
            model=self.model,
            optimizer=self.optimizer,
            scheduler=self.lr_scheduler,
            scaler=self.scaler,
            rank=self.rank,
            sharding=self.parallel.checkpointer,
        )
        run = ckpt.checkpoint_run(path)
        self._log_event("resumed", path=str(path), **({"from_run": run} if run else {}))
        saved_by = f" (saved by run {run})" if run and run != self.run_dir.name else ""
        self._print(f"resumed from {path}{saved_by} at step {self.state.global_step}")

    def _max_steps(self) -> int:
        if self.args.max_steps > 0:
            return self.args.max_steps
        if self.args.total_tokens:
            step_tokens = tokens_per_step(
                self.seq_len,
                self.args.per_device_train_batch_size,
                self.args.gradient_accumulation_steps,
                self.parallel.data_world,
            )
            return steps_from_tokens(self.args.total_tokens, step_tokens).total_steps
        per_epoch = len(self.sampler) / self.args.gradient_accumulation_steps
        return max(1, math.ceil(self.args.num_train_epochs * per_epoch))

    def _seq_len(self) -> int:
        """Tokens per example, from one collated example (collators may pad or pack)."""
        return (
            int(self.train_loader.collate_fn([self.train_dataset[0]])["input_ids"].shape[-1])
            if self.data_collator
            else int(len(self.train_dataset[0]["input_ids"]))
        )

    # ---------------------------------------------------------------- hot loop
    def forward_backward_step(self, batch: dict[str, Any], weight: float) -> Any:
        """Forward and backward on one micro-batch; the loss is scaled by `weight`
        (its share of the step's loss tokens) so accumulation averages per token."""
        batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        if self.pipeline is not None:  # the schedule runs forward and backward over the stages
            with self.autocast():
                return self.pipeline.forward_backward(batch, weight)
        # Saved activations are offloaded while the forward records them; backward
        # (outside the context) brings them back through the same hooks.
        with self.autocast(), self.offload if self.offload is not None else nullcontext():
            loss = self.compute_loss(batch)
        scaled = loss * weight
        (self.scaler.scale(scaled) if self.scaler else scaled).backward()
        return loss.detach()

    def compute_loss(self, batch: dict[str, Any]) -> Any:
        """The mean next-token loss of one batch on the device: the model's own, or the
        fused linear cross-entropy over its final hidden states (same tokens, same mean)."""
        if self.loss_fn is None:
            return self.model(**batch).loss
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        hidden = self.model(**inputs, return_hidden_states=True).hidden_states
        return self.loss_fn(hidden, batch["labels"] if "labels" in batch else batch["input_ids"])

    def train_step(self) -> tuple[Any, Any, int, int]:
        """One optimizer step over `gradient_accumulation_steps` micro-batches.
        Returns (loss, grad_norm) as device tensors, and loss/input token counts."""
        import torch

        micro = [self._next_batch() for _ in range(self.args.gradient_accumulation_steps)]
        counts = [count_loss_tokens(b) for b in micro]
        total = max(1, sum(counts))
        loss = torch.zeros((), device=self.device)
        for i, batch in enumerate(micro):
            last = i == len(micro) - 1
            with self.parallel.gradient_sync(self.model, enabled=last):
                loss += self.forward_backward_step(batch, counts[i] / total).float() * (counts[i] / total)
        if self.optim_in_backward:
            # The parameters were updated in backward; step() only closes the step
            # and yields the norm of the gradients the hooks consumed.
            self.optimizer.step()
            norm = self.optimizer.last_grad_norm
            grad_norm = norm if norm is not None else torch.zeros((), device=self.device)
        else:
            grad_norm = self._clip_and_step()
        if self.lr_scheduler is not None:
            self.lr_scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.state.global_step += 1
        # Ranks of one TP group or pipeline share their batches: one of them counts the tokens.
        share = 1 if self.parallel.reports_data else 0
        return loss, grad_norm, share * sum(counts), share * sum(b["input_ids"].numel() for b in micro)

    def _clip_and_step(self) -> Any:

        if self.scaler:
            self.scaler.unscale_(self.optimizer)
        max_norm = self.args.max_grad_norm if self.args.max_grad_norm else float("inf")
        grad_norm = self.parallel.clip_grad_norm(self.model, max_norm)
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        return grad_norm

    def _next_batch(self) -> dict[str, Any]:
        while True:
            if self._batches is None:
                self.sampler.set_position(self.state.epoch, self.state.batches_in_epoch)
                self._batches = iter(self.train_loader)
            try:
                batch = next(self._batches)
            except StopIteration:
                self._batches = None
                self.state.epoch += 1
                self.state.batches_in_epoch = 0
                continue
            self.state.batches_in_epoch += 1
            return batch
