"""`forgather.ml.trainer.callbacks`: Forgather's callbacks on fgtui's trainer events.

Several of Forgather's callbacks exist because its trainer leaves those jobs to
callbacks; fgtui's trainer does them itself, for every run:

    ProgressCallback         the trainer prints one progress line per logging interval
    JsonLogger               also writes Forgather's trainer_logs.json in logging_dir
    TBLogger                 turns on the log stream's TensorBoard mirror (the run dir's tb/)
    ResumableSummaryWriter   names where Forgather would write TensorBoard events; fgtui writes them in tb/
    TrainerControlCallback   the control relay (fgtui control ..., the workbench keys) is always on

so these carry their settings into the trainer (see trainer.Trainer). The others act:
JsonLogger writes the JSON log Forgather's tools read, InfoCallback prints what is
about to train, PeakMemory reports device memory, TextgenCallback samples text.
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
        # A pipeline rank holds only its stages: count the unsplit model (on the meta device).
        whole = runtime.parallel.full_model if runtime.parallel.full_model is not None else model
        trainable = sum(p.numel() for p in whole.parameters() if p.requires_grad)
        lines = [
            f"model: {type(model).__name__}, {runtime.n_params:,} parameters ({trainable:,} trainable)",
            f"train dataset: {len(trainer.train_dataset):,} examples; "
            f"eval dataset: {len(trainer.eval_dataset) if trainer.eval_dataset is not None else 0:,}",
            f"max steps: {trainer.state.max_steps}; batch {trainer.args.per_device_train_batch_size}"
            f" x {trainer.args.gradient_accumulation_steps} accumulation"
            f" x {runtime.parallel.data_world} data-parallel of {runtime.world_size} ranks",
            f"device: {runtime.device}; optimizer: {type(runtime.optimizer).__name__}",
        ]
        if self.verbose:
            lines.append(str(model))
        for line in lines:
            trainer._print(line)


class JsonLogger(TrainerCallback):
    """Writes Forgather's `trainer_logs.json` in the trainer's `logging_dir` (when it has
    one), beside fgtui's own log stream: a JSON array, one object per logging interval
    (timestamp, global_step, epoch, loss, grad_norm, learning_rate, tokens, total_tokens)
    and per evaluation (eval_loss), closed when training ends. A resumed run rewrites the
    file keeping the entries up to the step it resumes from, as Forgather's does.

    `kwargs` (name, description, config) are what Forgather records about the experiment;
    fgtui's run dir holds the frozen config, so they are kept but not written."""

    def __init__(self, **kwargs: Any) -> None:
        self.experiment_info = kwargs
        self.file = None
        self.path = None
        self._last_total = 0

    def on_train_begin(self, trainer: Any) -> None:
        import json
        import os

        from fgtui.engine.runs.forgather_logs import LOG_NAME, parse_trainer_logs

        logging_dir = getattr(getattr(trainer, "forgather_args", None), "logging_dir", None)
        if trainer.runtime.rank != 0 or not logging_dir:
            return
        os.makedirs(logging_dir, exist_ok=True)
        self.path = os.path.join(logging_dir, LOG_NAME)
        step = trainer.state.global_step
        kept = []
        if os.path.exists(self.path):
            with open(self.path) as old:
                kept = [e for e in parse_trainer_logs(old.read())[0] if e.get("global_step", 0) <= step]
        self.file = open(self.path, "w")
        self.file.write("[\n" + ",\n".join(json.dumps(entry) for entry in kept))
        self._separator = ",\n" if kept else ""
        self._last_total = trainer.state.tokens

    def _write(self, entry: dict[str, Any]) -> None:
        import json

        self.file.write(self._separator + json.dumps(entry))
        self._separator = ",\n"
        self.file.flush()

    def on_log(self, trainer: Any, record: dict[str, Any]) -> None:
        if self.file is None:
            return
        total = record.get("tokens", 0)
        self._write(
            {
                "timestamp": record["time"],
                "global_step": record["step"],
                "epoch": record.get("epoch"),
                "loss": record.get("loss"),
                "grad_norm": record.get("grad_norm"),
                "learning_rate": record.get("lr"),
                "tokens": total - self._last_total,
                "total_tokens": total,
            }
        )
        self._last_total = total

    def on_evaluate(self, trainer: Any, eval_loss: float) -> None:
        import time

        if self.file is None:
            return
        self._write(
            {
                "timestamp": time.time(),
                "global_step": trainer.state.global_step,
                "epoch": trainer._fractional_epoch(),
                "eval_loss": eval_loss,
            }
        )

    def on_train_end(self, trainer: Any, status: str) -> None:
        if self.file is not None:
            self.file.write("\n]")
            self.file.close()
            self.file = None


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


class DiLoCoCallback(TrainerCallback):
    """Forgather's DiLoCo worker hook. Without a server (no `server_addr` and no
    DILOCO_SERVER in the environment) it does nothing, as in Forgather: that is how its
    callback template is used by default. Syncing with a DiLoCo server is not provided
    by fgtui, so a server address is refused when the callback is built."""

    def __init__(
        self,
        server_addr: str | None = None,
        sync_every: int | None = None,
        worker_id: str | None = None,
        bf16_comm: bool | None = None,
        dylu: bool | None = None,
        heartbeat_interval: float | None = None,
        num_fragments: int | None = None,
        timeout: float = 600,
        max_sync_retries: int = 3,
    ) -> None:
        import os

        from fgtui.engine.errors import FgError

        self.server_addr = server_addr or os.environ.get("DILOCO_SERVER", "")
        if self.server_addr:
            raise FgError(
                f"DiLoCoCallback: training against the DiLoCo server {self.server_addr} is not provided by fgtui",
                hint="leave diloco_server (and DILOCO_SERVER) unset, or train this config with Forgather",
            )
