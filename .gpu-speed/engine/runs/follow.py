"""Following a run directory: new records, new stdout lines, the run's state.

`RunTail` owns the file readers of one run (log stream, stdout.log,
job.json). It is not thread-safe; the TUI's monitor polls it from one
exclusive worker at a time and hands each `TailBatch` to the UI thread as
plain data. Headless followers can poll it in a loop the same way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fgtui.engine.runs.reader import LogStreamReader
from fgtui.engine.runs.rundir import RunInfo, inspect_run

STDOUT_BACKLOG = 256 << 10  # bytes of stdout.log shown when a run is opened
MAX_POLL_BYTES = 32 << 20


@dataclass
class TailBatch:
    """What one poll found."""

    records: list[dict[str, Any]] = field(default_factory=list)
    log_lines: list[str] = field(default_factory=list)
    info: RunInfo | None = None
    bad_lines: int = 0
    deleted: bool = False
    reset: bool = False


class TextTail:
    """New lines of a plain text log; `\\r` progress updates count as lines."""

    def __init__(self, path: Path, backlog: int = STDOUT_BACKLOG) -> None:
        self.path = path
        self.offset: int | None = None
        self.backlog = backlog
        self._partial = ""

    def poll(self, limit: int = 1 << 20) -> list[str]:
        try:
            with open(self.path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if self.offset is None or size < self.offset:
                    self.offset = max(0, size - self.backlog)
                    self._partial = ""
                handle.seek(self.offset)
                data = handle.read(limit)
        except FileNotFoundError:
            return []
        self.offset += len(data)
        text = self._partial + data.decode("utf-8", errors="replace")
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        self._partial = lines.pop()
        return lines


class RunTail:
    """Readers for one run; `poll()` gathers everything new since the last call."""

    def __init__(self, run_dir: Path, reader: LogStreamReader | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.reader = reader or LogStreamReader(self.run_dir / "metrics.jsonl")
        self.stdout = TextTail(self.run_dir / "stdout.log")
        self.events: list[dict[str, Any]] = []
        self.last_train: dict[str, Any] | None = None
        self._resets = self.reader.resets

    def seed(self, events: list[dict[str, Any]], last_train: dict[str, Any] | None) -> None:
        """Events and the last train record already loaded by the bulk reader."""
        self.events = list(events)
        self.last_train = last_train

    def poll(self) -> TailBatch:
        batch = TailBatch()
        if not self.run_dir.exists():
            batch.deleted = True
            return batch
        read = 0
        while True:
            start = self.reader.state.offset
            batch.records.extend(self.reader.poll())
            read += max(0, self.reader.state.offset - start)
            if self.reader.at_end() or read >= MAX_POLL_BYTES:
                break
        if self.reader.resets != self._resets:
            self._resets = self.reader.resets
            batch.reset = True
            self.events, self.last_train = [], None
        for record in batch.records:
            if record["type"] == "event":
                self.events.append(record)
            elif record["type"] == "train":
                self.last_train = record
        batch.log_lines = self.stdout.poll()
        info = inspect_run(self.run_dir, records=self.events)
        info.last_train = self.last_train
        batch.info = info
        batch.bad_lines = self.reader.bad_lines
        return batch
