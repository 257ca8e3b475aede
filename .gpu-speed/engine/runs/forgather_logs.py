"""Runs written by Forgather itself, read as fgtui run dirs.

Forgather's trainer logs to `<output_dir>/runs/<logging dir>/`:

    trainer_logs.json            a JSON array, one object per log or evaluation:
                                 timestamp, global_step, epoch, and the metrics
                                 (loss, grad_norm, learning_rate, tokens, total_tokens,
                                 eval_loss ...); "[" ... "]" with the closing bracket
                                 written when training ends
    events.out.tfevents.*        TensorBoard events (train-loss, learning-rate ...)

and its checkpoints to `<output_dir>/checkpoints/checkpoint-N/`. This module turns the
JSON log into log-stream records (schema.py), so the runs list, monitor and `fgtui
logs` show a Forgather run beside fgtui's. A run dir holding only TensorBoard events
is read through TensorBoard's event reader when it is installed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

LOG_NAME = "trainer_logs.json"
EVENTS_PREFIX = "events.out.tfevents."
# Forgather's TensorBoard tags -> log-stream keys
TB_TAGS = {
    "train-loss": "loss",
    "learning-rate": "learning_rate",
    "grad-norm": "grad_norm",
    "eval-loss": "eval_loss",
    "tokens": "tokens",
}


def events_files(run_dir: Path) -> list[Path]:
    try:
        return sorted(p for p in run_dir.iterdir() if p.name.startswith(EVENTS_PREFIX))
    except OSError:
        return []


def is_forgather_run_dir(run_dir: Path) -> bool:
    """A dir Forgather logged to (and fgtui did not: its own log stream wins)."""
    if (run_dir / "metrics.jsonl").exists():
        return False
    return (run_dir / LOG_NAME).is_file() or bool(events_files(run_dir))


def parse_trainer_logs(text: str) -> tuple[list[dict[str, Any]], bool]:
    """The entries of a (possibly still open) trainer_logs.json, and whether it was closed.

    While training runs the array has no closing bracket and the last entry may be
    half-written; complete entries are kept, a partial last one waits for more.
    """
    body = text.strip()
    closed = body.endswith("]")
    if not body.startswith("["):
        return [], closed
    body = body[1:-1] if closed else body[1:]
    entries: list[dict[str, Any]] = []
    decoder = json.JSONDecoder()
    position = 0
    while True:
        while position < len(body) and body[position] in " \t\r\n,":
            position += 1
        if position >= len(body):
            break
        try:
            entry, position = decoder.raw_decode(body, position)
        except ValueError:
            break  # a half-written entry at the end
        if isinstance(entry, dict):
            entries.append(entry)
    return entries, closed


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def to_records(entries: list[dict[str, Any]], run_dir: Path, closed: bool) -> list[dict[str, Any]]:
    """Log-stream records for Forgather's entries: a start event, train/eval records, and
    an end event once the log is closed (Forgather closes it when training ends)."""
    start_time = _number(entries[0].get("timestamp")) if entries else None
    if start_time is None:
        start_time = (run_dir / LOG_NAME).stat().st_mtime if (run_dir / LOG_NAME).exists() else 0.0
    records: list[dict[str, Any]] = [
        {
            "type": "event",
            "event": "start",
            "time": start_time,
            "step": 0,
            "config": "",
            "world_size": 1,
            "max_steps": None,
            "run_name": run_dir.name,
            "job_id": "",
            "device": "",
            "n_params": 0,
            "format": "forgather",
        }
    ]
    tokens = 0
    previous_time, previous_step = start_time, 0
    for entry in entries:
        step = int(entry.get("global_step") or 0)
        when = _number(entry.get("timestamp")) or previous_time
        if "loss" in entry and _number(entry["loss"]) is not None:
            interval_tokens = int(entry.get("tokens") or 0)
            tokens = int(entry.get("total_tokens") or tokens + interval_tokens)
            elapsed, steps = max(1e-9, when - previous_time), max(1, step - previous_step)
            records.append(
                {
                    "type": "train",
                    "time": when,
                    "step": step,
                    "epoch": _number(entry.get("epoch")) or 0.0,
                    "tokens": tokens,
                    "loss": float(entry["loss"]),
                    "lr": _number(entry.get("learning_rate")) or 0.0,
                    "grad_norm": _number(entry.get("grad_norm")),
                    "tokens_per_s": interval_tokens / elapsed if interval_tokens else 0.0,
                    "mfu": None,
                    "peak_mem_gib": _number(entry.get("peak_mem_gib")),
                    "step_time_s": elapsed / steps,
                }
            )
            previous_time, previous_step = when, step
        if _number(entry.get("eval_loss")) is not None:
            records.append(
                {"type": "eval", "time": when, "step": step, "eval_loss": float(entry["eval_loss"]), "tokens": tokens}
            )
    if closed:
        last = records[-1]
        records.append(
            {
                "type": "event",
                "event": "end",
                "time": last["time"],
                "step": last["step"],
                "status": "completed",
                "exit_code": 0,
            }
        )
    return records


def records_from_tensorboard(run_dir: Path) -> list[dict[str, Any]]:
    """Entries rebuilt from TensorBoard scalars (a run whose JSON log is missing)."""
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError:
        return []
    by_step: dict[int, dict[str, Any]] = {}
    for path in events_files(run_dir):
        accumulator = EventAccumulator(str(path), size_guidance={"scalars": 0})
        accumulator.Reload()
        for tag in accumulator.Tags().get("scalars", []):
            key = TB_TAGS.get(tag)
            if key is None:
                continue
            for event in accumulator.Scalars(tag):
                entry = by_step.setdefault(event.step, {"global_step": event.step, "timestamp": event.wall_time})
                entry[key] = event.value
    return [by_step[step] for step in sorted(by_step)]


def read_records(run_dir: Path) -> list[dict[str, Any]]:
    """Every record of a Forgather run dir, as the log stream would hold them."""
    log = run_dir / LOG_NAME
    if log.is_file():
        try:
            entries, closed = parse_trainer_logs(log.read_text(errors="replace"))
        except OSError:
            entries, closed = [], False
        return to_records(entries, run_dir, closed)
    return to_records(records_from_tensorboard(run_dir), run_dir, closed=False)


class ForgatherLogReader:
    """LogStreamReader's interface over a Forgather run dir: `poll()` returns the records
    not yet returned. The JSON log is re-read whole when it changes (Forgather rewrites
    its tail when a resumed run truncates it, so byte offsets cannot be trusted);
    `state.offset` counts the bytes seen, for progress displays."""

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        from fgtui.engine.runs.reader import ReaderState

        self.run_dir = Path(run_dir)
        self.state = ReaderState()
        self._returned = 0
        self._stamp: tuple[int, int] | None = None
        self._records: list[dict[str, Any]] = []

    @property
    def bad_lines(self) -> int:
        return 0

    @property
    def resets(self) -> int:
        return self.state.resets

    @property
    def missing(self) -> bool:
        return not is_forgather_run_dir(self.run_dir)

    def _changed(self) -> bool:
        paths = [self.run_dir / LOG_NAME] if (self.run_dir / LOG_NAME).is_file() else events_files(self.run_dir)
        try:
            stamp = (sum(p.stat().st_size for p in paths), max((p.stat().st_mtime_ns for p in paths), default=0))
        except OSError:
            return False
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        self.state.offset = stamp[0]
        return True

    def poll(self) -> list[dict[str, Any]]:
        if self._changed():
            records = read_records(self.run_dir)
            if len(records) < self._returned:  # truncated by a resume: start over
                self._returned = 0
                self.state.resets += 1
            self._records = records
        fresh = self._records[self._returned :]
        self._returned = len(self._records)
        return fresh

    def at_end(self) -> bool:
        """Each poll reads the whole log, so after one everything on disk has been read."""
        return True

    @property
    def pending_partial(self) -> bool:
        return False
