"""Writing the log stream (`metrics.jsonl`); the format is engine/runs/schema.py.

Rank 0 writes one JSON object per line and flushes after each, so a reader that
tails the file sees whole records as soon as they exist. TensorBoard scalars are
written alongside when the `tensorboard` package is installed.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from fgtui.engine.runs.schema import validate_record

SCALAR_KEYS = ("loss", "lr", "grad_norm", "tokens_per_s", "mfu", "peak_mem_gib", "step_time_s", "eval_loss")


def tensorboard_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


class LogStreamWriter:
    """Appends schema-conformant records to `metrics.jsonl` (and TensorBoard, optionally).

    `strict` validates every record against the schema before writing; the trainer
    runs with it on, so a record that drifts from the contract fails loudly in tests.
    """

    def __init__(self, path: str | os.PathLike, *, tensorboard_dir: str | None = None, strict: bool = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Line-buffered append: a resumed or restarted writer never truncates history.
        self._file = open(self.path, "a", buffering=1, encoding="utf-8")
        self.strict = strict
        self._tb = None
        if tensorboard_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(tensorboard_dir)

    def write(self, kind: str, step: int, **fields: Any) -> dict[str, Any]:
        """Write one record of type `kind` at optimizer step `step` and return it."""
        record = {"type": kind, "time": time.time(), "step": int(step), **fields}
        if self.strict:
            problems = validate_record(record)
            if problems:
                raise ValueError(f"log record breaks the schema: {problems}: {record}")
        self._file.write(json.dumps(record, default=str) + "\n")
        self._file.flush()
        if self._tb is not None:
            self._write_tensorboard(record)
        return record

    def event(self, name: str, step: int, **fields: Any) -> dict[str, Any]:
        return self.write("event", step, event=name, **fields)

    def _write_tensorboard(self, record: dict[str, Any]) -> None:
        step = record["step"]
        prefix = "eval" if record["type"] == "eval" else "train"
        for key in SCALAR_KEYS:
            value = record.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self._tb.add_scalar(f"{prefix}/{key}", value, step)
        if record["type"] == "sample":
            self._tb.add_text("samples", f"**{record['prompt']}**{record['text']}", step)
        self._tb.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
        if self._tb is not None:
            self._tb.close()
            self._tb = None

    def __enter__(self) -> "LogStreamWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
