"""Callbacks: a small set of events the trainer raises, and the built-in callbacks.

Events (all optional, all receive the trainer first):

    on_train_begin(trainer)
    on_step_end(trainer, step, loss, grad_norm)   every step, delivered in groups at
                                                  logging boundaries so the hot loop
                                                  never waits on the device
    on_log(trainer, record)                        after a train record is written
    on_evaluate(trainer, eval_loss)
    on_save(trainer, path)
    on_train_end(trainer, status)
    after_step()                                   right after every optimizer step, not
                                                   grouped (a profiler's step)

What the run is built on (device, rank, run dir, the wrapped model, the log
stream) is `trainer.runtime`, set before on_train_begin.

A callback stops training by calling `trainer.request_stop(action, source)` or, for
a failure, by raising (the trainer records it as an error and exits non-zero).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from fgtui.engine.errors import FgError

EVENTS = ("on_train_begin", "on_step_end", "on_log", "on_evaluate", "on_save", "on_train_end", "after_step")


class TrainerCallback:
    """Base class; override the events you need."""

    def on_train_begin(self, trainer: Any) -> None: ...
    def on_step_end(self, trainer: Any, step: int, loss: float, grad_norm: float | None) -> None: ...
    def on_log(self, trainer: Any, record: dict[str, Any]) -> None: ...
    def on_evaluate(self, trainer: Any, eval_loss: float) -> None: ...
    def on_save(self, trainer: Any, path: Path) -> None: ...
    def on_train_end(self, trainer: Any, status: str) -> None: ...

    def after_step(self) -> None:
        """Right after every optimizer step, before logging (a profiler's step, say)."""


class DivergenceError(FgError):
    """Training diverged: a non-finite or spiking loss."""


class DivergenceGuard(TrainerCallback):
    """Stops the run at the first non-finite loss, or a loss above `spike_factor` x its
    running mean once `warmup_steps` steps have set that mean.

    The running mean is an exponential moving average with `ema_beta`; a spike must
    also exceed the mean by `min_delta` so that tiny losses near zero do not trip it.
    """

    def __init__(
        self, spike_factor: float | None = 3.0, warmup_steps: int = 20, ema_beta: float = 0.98, min_delta: float = 0.5
    ) -> None:
        self.spike_factor = spike_factor
        self.warmup_steps = warmup_steps
        self.ema_beta = ema_beta
        self.min_delta = min_delta
        self.ema: float | None = None
        self.seen = 0

    def on_step_end(self, trainer: Any, step: int, loss: float, grad_norm: float | None) -> None:
        if not math.isfinite(loss):
            raise DivergenceError(
                f"loss is {loss} at step {step}",
                hint="lower the learning rate, raise warmup, clip gradients (max_grad_norm),"
                " or train in bf16 instead of fp16",
            )
        if grad_norm is not None and not math.isfinite(grad_norm):
            raise DivergenceError(
                f"gradient norm is {grad_norm} at step {step}",
                hint="lower the learning rate or clip gradients (max_grad_norm)",
            )
        self.seen += 1
        if (
            self.spike_factor
            and self.ema is not None
            and self.seen > self.warmup_steps
            and loss > self.spike_factor * self.ema
            and loss - self.ema > self.min_delta
        ):
            raise DivergenceError(
                f"loss spiked to {loss:.4g} at step {step} (running mean {self.ema:.4g})",
                hint="lower the learning rate or raise warmup; resume from the last checkpoint",
            )
        self.ema = loss if self.ema is None else self.ema_beta * self.ema + (1 - self.ema_beta) * loss


class ProfilerCallback(TrainerCallback):
    """Runs torch.profiler over a few steps and writes a Chrome trace into the run dir.

    `schedule` is (wait, warmup, active) steps, as torch.profiler.schedule takes them.
    """

    def __init__(self, schedule: tuple[int, int, int] = (2, 2, 3)) -> None:
        self.schedule = schedule
        self.profiler = None

    def on_train_begin(self, trainer: Any) -> None:
        import torch.profiler as tp

        runtime = trainer.runtime
        if runtime.rank != 0:
            return
        out_dir = runtime.run_dir / "profile"
        out_dir.mkdir(parents=True, exist_ok=True)
        activities = [tp.ProfilerActivity.CPU]
        if runtime.device.type == "cuda":
            activities.append(tp.ProfilerActivity.CUDA)
        wait, warmup, active = self.schedule
        self.profiler = tp.profile(
            activities=activities,
            schedule=tp.schedule(wait=wait, warmup=warmup, active=active, repeat=1),
            on_trace_ready=lambda prof: prof.export_chrome_trace(str(out_dir / "trace.json")),
            record_shapes=True,
            profile_memory=True,
        )
        self.profiler.start()

    def after_step(self) -> None:
        if self.profiler is not None:
            self.profiler.step()

    def on_train_end(self, trainer: Any, status: str) -> None:
        if self.profiler is not None:
            self.profiler.stop()
            self.profiler = None
