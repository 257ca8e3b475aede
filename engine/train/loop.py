"""The outer loop of `Trainer`: steps, logging intervals, evaluation, saving, stopping.

Kept apart from trainer.py so the hot path (`train_step`, `forward_backward_step`)
and the bookkeeping around it each read in one sitting.
"""

from __future__ import annotations

import os
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fgtui.engine.errors import FgError
from fgtui.engine.launch import output_lock
from fgtui.engine.train import checkpoint as ckpt
from fgtui.engine.train.flops import mfu
from fgtui.engine.train.runtime import (
    RunContext,
    Runtime,
    all_reduce_sum,
    count_loss_tokens,
    out_of_memory_error,
    take_peak_memory_gib,
)

if TYPE_CHECKING:
    from fgtui.engine.train.args import TrainingArguments
    from fgtui.engine.train.callbacks import TrainerCallback
    from fgtui.engine.train.state import TrainerState

EXIT_CODES = {"completed": 0, "stopped": 0, "aborted": 3}


class TrainingLoop:
    """Mixin holding `train()`; the Trainer supplies `setup()` (which builds the runtime this
    loop reads), `train_step` and `compute_loss`."""

    # Supplied by the Trainer.
    args: TrainingArguments
    state: TrainerState
    callbacks: list[TrainerCallback]
    runtime: Runtime | None  # None until setup() has built it
    _last_status: dict[str, Any]  # the latest train record, for `fgtui control status`
    # The logging interval (setup starts it, each train record restarts it): its steps, when
    # it began, and the time inside it that evaluation and saving took.
    _interval: list[tuple[int, Any, Any, int, int, int]]
    _interval_start: float
    _excluded_time: float

    def train(self, run: RunContext | None = None) -> int:
        """Train to the end (or until stopped); returns the process exit code.
        `run` says where the run writes (`fgtui train` passes the launcher's; default:
        the trainer's standalone run). Failures are logged as an error event, then re-raised."""
        import torch

        status, exit_code = "failed", 1
        try:
            self.setup(run)
            self._callback("on_train_begin")
            status = self._run()
            exit_code = EXIT_CODES[status]
        except torch.OutOfMemoryError:
            error = out_of_memory_error(self.state.global_step, self.runtime.device if self.runtime else None)
            exit_code = error.exit_code
            self._log_error(error)
            raise error from None
        except BaseException as error:
            from fgtui.engine.compat.forgather.model_code import explain

            known = explain(error)  # Forgather's model code on a transformers too new for it
            if known is not None:
                exit_code = known.exit_code
                self._log_error(known)
                raise known from error
            exit_code = error.exit_code if isinstance(error, FgError) else 1
            self._log_error(error)
            raise
        finally:
            self._finish(status, exit_code)
        return exit_code

    def _run(self) -> str:
        args, state, rt = self.args, self.state, self.runtime
        self._reset_interval()
        if args.eval_on_start and rt.eval_loader is not None:
            self.evaluate()
        last_saved = state.global_step if rt.resume else -1
        while state.global_step < state.max_steps:
            request = rt.control.take()
            if request is not None:
                action, source = request
                self._flush_interval()
                self._log_event("stop_requested", action=action, source=source)
                self._print(f"{action} requested by {source} at step {state.global_step}")
                if action == "abort":
                    return "aborted"
                if action in ("save", "save_stop") or (action == "stop" and args.save_strategy != "no"):
                    self.save()
                    last_saved = state.global_step
                if action in ("stop", "save_stop"):
                    return "stopped"
            loss, grad_norm, tokens, input_tokens, area = self.train_step()
            epoch_done = state.batches_in_epoch >= len(rt.sampler)
            for callback in self.callbacks:
                callback.after_step()
            self._interval.append((state.global_step, loss, grad_norm, tokens, input_tokens, area))
            step = state.global_step
            if step % args.logging_steps == 0 or step == state.max_steps:
                self._flush_interval()
            if args.eval_steps and rt.eval_loader is not None and step % args.eval_steps == 0:
                self.evaluate()
            if (args.save_strategy == "steps" and step % args.save_steps == 0) or (
                args.save_strategy == "epoch" and epoch_done
            ):
                self.save()
                last_saved = step
        self._flush_interval()
        if args.save_on_end and args.save_strategy != "no" and last_saved != state.global_step:
            self.save()
        return "completed"

    # ---------------------------------------------------------------- logging
    def _reset_interval(self) -> None:
        self._interval = []
        self._interval_start = time.perf_counter()
        self._excluded_time = 0.0

    def _flush_interval(self) -> None:
        """Bring the interval's per-step figures to the host (one sync), check them,
        and write one train record."""
        import torch

        if not self._interval:
            return
        rt = self.runtime
        steps = [item[0] for item in self._interval]
        losses = torch.stack([item[1] for item in self._interval]).tolist()
        norms = torch.stack([item[2].float() for item in self._interval]).tolist()
        local_tokens = sum(item[3] for item in self._interval)
        local_inputs = sum(item[4] for item in self._interval)
        local_area = sum(item[5] for item in self._interval)
        elapsed = max(1e-9, time.perf_counter() - self._interval_start - self._excluded_time)
        summed = all_reduce_sum(losses + [local_tokens, local_inputs, local_area], rt.dist, rt.device)
        losses = [value / rt.world_size for value in summed[: len(losses)]]
        tokens, input_tokens, area = int(summed[-3]), int(summed[-2]), int(summed[-1])
        self._reset_interval()
        self.state.tokens += tokens
        self.state.input_tokens += input_tokens
        for step, loss, norm in zip(steps, losses, norms):
            self._callback("on_step_end", step, loss, norm)
        tokens_per_s = input_tokens / elapsed
        # FLOPs per token of this interval's own batches: packed rows attend within documents.
        flops_token = rt.flops.step_flops(input_tokens, area) / max(1, input_tokens) if rt.flops else None
        record = {
            "epoch": self._fractional_epoch(),
            "tokens": self.state.tokens,
            "loss": sum(losses) / len(losses),
            "lr": float(rt.optimizer.param_groups[0]["lr"]),
            "grad_norm": sum(norms) / len(norms),
            "tokens_per_s": tokens_per_s,
            "mfu": mfu(flops_token, tokens_per_s / rt.world_size, rt.peak_flops),
            "peak_mem_gib": take_peak_memory_gib(rt.device),
            "step_time_s": elapsed / len(steps),
        }
        if rt.log_writer is not None:
            written = rt.log_writer.write("train", self.state.global_step, **record)
            self._callback("on_log", written)
        self._last_status = {"step": self.state.global_step, "max_steps": self.state.max_steps, **record}
        self._print(
            f"step {self.state.global_step}/{self.state.max_steps} loss {record['loss']:.4f}"
            f" lr {record['lr']:.3g} grad_norm {record['grad_norm']:.3g}"
            f" tok/s {tokens_per_s:,.0f}"
        )

    def _fractional_epoch(self) -> float:
        return self.state.epoch + self.state.batches_in_epoch / len(self.runtime.sampler)

    def _log_event(self, name: str, **fields: Any) -> None:
        if self.runtime.log_writer is not None:
            self.runtime.log_writer.event(name, self.state.global_step, **fields)

    def _log_error(self, error: BaseException) -> None:
        """Record a failure in the log stream and print it. One raised before setup opened
        the stream only propagates: the caller reports it (the train entry prints it)."""
        if self.runtime is None:
            return
        message = str(error) if isinstance(error, FgError) else f"{type(error).__name__}: {error}"
        self._log_event("error", message=message, traceback=traceback.format_exc())
        self._print(f"error: {message}")

    def _print(self, text: str) -> None:
        # During setup (no runtime yet) the launcher's RANK says which process speaks.
        rank = self.runtime.rank if self.runtime is not None else int(os.environ.get("RANK", "0"))
        if rank == 0:
            print(text, flush=True)

    def _status(self, run: RunContext) -> dict[str, Any]:
        """What `fgtui control status` shows; read from the control thread."""
        return {"job_id": run.job_id or "", "run_dir": str(run.run_dir), **self._last_status}

    def _callback(self, event: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, event)(self, *args)

    def _finish(self, status: str, exit_code: int) -> None:
        rt = self.runtime
        if rt is not None:  # setup got as far as opening the log stream and the control relay
            rt.control.close()
            try:
                self._callback("on_train_end", status)
            finally:
                self._log_event("end", status=status, exit_code=exit_code)
                self._print(f"training {status} at step {self.state.global_step}")
                if rt.log_writer is not None:
                    rt.log_writer.close()
        output_lock.release(self.args.output_dir)  # a no-op where this process took no lock

    def request_stop(self, action: str = "stop", source: str = "callback") -> None:
        """Ask the loop to stop/save/abort at the next step (callbacks, tests)."""
        self.runtime.control.request(action, source)

    # ---------------------------------------------------------------- eval and save
    def _synchronize(self) -> None:
        import torch

        if self.runtime.device.type == "cuda":
            torch.cuda.synchronize(self.runtime.device)

    def evaluate(self) -> float:
        """Token-weighted mean loss over the eval set (up to `max_eval_steps` batches)."""
        import torch

        rt = self.runtime
        self._synchronize()
        started = time.perf_counter()
        rt.model.eval()
        total = torch.zeros((), dtype=torch.float64, device=rt.device)
        count = 0
        with torch.no_grad():
            for i, batch in enumerate(rt.eval_loader):
                if self.args.max_eval_steps and i >= self.args.max_eval_steps:
                    break
                n = count_loss_tokens(batch)
                batch = {k: v.to(rt.device) for k, v in batch.items()}
                with self.autocast():
                    loss = self.compute_loss(batch) if rt.pipeline is None else rt.pipeline.eval_loss(batch)
                    total += loss.double() * n
                count += n
        rt.model.train()
        loss_sum, token_sum = all_reduce_sum([float(total), count], rt.dist, rt.device)
        eval_loss = loss_sum / max(1, token_sum)
        step = self.state.global_step
        self.state.eval_losses[step] = eval_loss
        if rt.log_writer is not None:
            rt.log_writer.write("eval", step, eval_loss=eval_loss, tokens=self.state.tokens)
        self._print(f"step {step} eval_loss {eval_loss:.4f}")
        self._callback("on_evaluate", eval_loss)
        self._excluded_time += time.perf_counter() - started
        return eval_loss

    def save(self) -> Path:
        """Write a checkpoint of the current step (all ranks), rotate old ones, log it."""
        import torch

        rt = self.runtime
        self._flush_interval()
        self._synchronize()
        started = time.perf_counter()
        step = self.state.global_step
        eval_loss = self.state.eval_losses.get(step)
        barrier = torch.distributed.barrier if rt.dist.is_distributed else (lambda: None)
        path = ckpt.save_checkpoint(
            self.checkpoints_dir,
            self.state,
            model=rt.model,
            optimizer=rt.optimizer,
            scheduler=rt.lr_scheduler,
            scaler=rt.scaler,
            tokenizer=self.tokenizer,
            rank=rt.rank,
            barrier=barrier,
            eval_loss=eval_loss,
            sharding=rt.parallel.checkpointer,
            run_dir=rt.run_dir,
        )
        if rt.rank == 0:
            ckpt.rotate_checkpoints(self.checkpoints_dir, self.args.save_total_limit, self.args.keep_best_n)
            best = eval_loss is not None and eval_loss <= min(self.state.eval_losses.values())
            self._log_event("checkpoint", path=str(path), best=best)
            self._print(f"saved {path}")
        self._callback("on_save", path)
        self._excluded_time += time.perf_counter() - started
        return path
