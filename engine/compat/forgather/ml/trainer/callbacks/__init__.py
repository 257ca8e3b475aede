"""`forgather.ml.trainer.callbacks`: Forgather's callbacks on fgtui's trainer events.

Several of Forgather's callbacks exist because its trainer leaves those jobs to
callbacks; fgtui's trainer does them itself, for every run:

    ProgressCallback         the trainer prints one progress line per logging interval
    JsonLogger               the log stream (metrics.jsonl) is always written
    TBLogger                 turns on the log stream's TensorBoard mirror (the run dir's tb/)
    ResumableSummaryWriter   names where Forgather would write TensorBoard events; fgtui writes them in tb/
    TrainerControlCallback   the control relay (fgtui control ..., the workbench keys) is always on

so these carry their settings into the trainer (see trainer.Trainer) and do no
second logging. The others act: InfoCallback prints what is about to train,
PeakMemory reports device memory, TextgenCallback samples text.
"""

from __future__ import annotations

from typing import Any

from fgtui.engine.train.callbacks import TrainerCallback
from fgtui.engine.train.textgen import TextgenCallback as FgTextgenCallback


class ProgressCallback(TrainerCallback):
    def __init__(
        self,
        use_tqdm: bool | None = None,
        output_stream: str | None = None,
        show_loss: bool = True,
        show_grad_norm: bool = True,
        show_learning_rate: bool = True,
        show_tokens: bool = True,
        show_epoch: bool = True,
        show_tokens_per_second: bool = True,
        peak_hardware_flops: float | None = None,
        show_peak_memory: bool = True,
        header_interval: int = 20,
    ) -> None:
        self.peak_hardware_flops = peak_hardware_flops


class InfoCallback(TrainerCallback):
    """Prints the model size, data and step budget when training begins."""

    def __init__(self, verbose: bool = False) -> None:
        self.verbose = verbose

    def on_train_begin(self, trainer: Any) -> None:
        runtime = trainer.runtime
        if runtime.rank != 0:
            return
        model = trainer.unwrapped_model
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        lines = [
            f"model: {type(model).__name__}, {runtime.n_params:,} parameters ({trainable:,} trainable)",
            f"train dataset: {len(trainer.train_dataset):,} examples; "
            f"eval dataset: {len(trainer.eval_dataset) if trainer.eval_dataset is not None else 0:,}",
            f"max steps: {trainer.state.max_steps}; batch {trainer.args.per_device_train_batch_size}"
            f" x {trainer.args.gradient_accumulation_steps} accumulation x {runtime.world_size} ranks",
            f"device: {runtime.device}; optimizer: {type(runtime.optimizer).__name__}",
        ]
        if self.verbose:
            lines.append(str(model))
        for line in lines:
            trainer._print(line)


class JsonLogger(TrainerCallback):
    """Forgather records `kwargs` (name, description, config) with its JSON log; fgtui's
    run dir already holds the frozen config, and the log stream the metrics."""

    def __init__(self, **kwargs: Any) -> None:
        self.experiment_info = kwargs


class ResumableSummaryWriter(TrainerCallback):
    def __init__(self, log_dir: str) -> None:
        self.log_dir = log_dir


class TBLogger(TrainerCallback):
    def __init__(self, summary_writer: Any, scalars: list | None = None, **kwargs: Any) -> None:
        self.summary_writer = summary_writer


class TrainerControlCallback(TrainerCallback):
    def __init__(self, job_id: str | None = None, port: int | None = None, enable_http: bool | None = None) -> None:
        self.job_id = job_id


class PeakMemory(TrainerCallback):
    """At the end, prints the peak device memory of the run (CUDA; on CPU it says so)."""

    def __init__(
        self,
        summary_writer: Any = None,
        show_details: bool = False,
        do_log: bool = False,
        enable_memory_snapshot: bool = False,
        file_prefix: str = "memory_snapshot",
    ) -> None:
        self.show_details = show_details

    def on_train_end(self, trainer: Any, status: str) -> None:
        import torch

        device = trainer.runtime.device
        if trainer.runtime.rank != 0:
            return
        if device.type != "cuda":
            trainer._print("peak memory: not measured on CPU")
            return
        peak = torch.cuda.max_memory_allocated(device) / 2**30
        trainer._print(f"peak memory allocated: {peak:.3f} GiB")
        if self.show_details:
            trainer._print(torch.cuda.memory_summary(device, abbreviated=True))


class TextgenCallback(FgTextgenCallback):
    """Samples each prompt every `generation_steps` steps (default: at each evaluation)."""

    def __init__(
        self,
        summary_writer: Any,
        prompts: list[str] | str,
        generation_config: dict | None = None,
        generation_steps: int | None = None,
        max_new_tokens: int = 200,
    ) -> None:
        config = dict(generation_config or {})
        super().__init__(
            prompts,
            max_new_tokens=max_new_tokens,
            temperature=float(config.get("temperature", 1.0)) if config.get("do_sample", True) else 0.0,
            top_k=config.get("top_k"),
        )
        self.generation_steps = generation_steps

    def on_step_end(self, trainer: Any, step: int, loss: float, grad_norm: float | None) -> None:
        if self.generation_steps and step % self.generation_steps == 0:
            self.evals = 0  # samples now, whatever the evaluation count
            super().on_evaluate(trainer, float("nan"))

    def on_evaluate(self, trainer: Any, eval_loss: float) -> None:
        if not self.generation_steps:
            super().on_evaluate(trainer, eval_loss)
