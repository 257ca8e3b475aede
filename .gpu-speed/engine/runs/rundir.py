"""Run directories: finding them and telling what state each run is in.

A run's state comes from three witnesses (see `schema.py`): the `end` event
in its log stream (how it finished, written by the trainer), `job.json`
(written by the launcher while the job exists) and whether that pid still
lives on this host. A job whose process is gone without an `end` event
crashed (killed, OOM-killed, machine lost); a run dir with neither witness,
or launched on another host, is `unknown` rather than guessed.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fgtui.engine.launch import slurm
from fgtui.engine.launch.liveness import live_pids
from fgtui.engine.runs.forgather_logs import is_forgather_run_dir, read_records  # runs Forgather itself wrote
from fgtui.engine.runs.reader import parse_lines

RUN_MARKERS = ("metrics.jsonl", "job.json", "command.json")
STATES = ("starting", "running", "completed", "stopped", "aborted", "failed", "crashed", "unknown")
FINISHED_STATES = frozenset({"completed", "stopped", "aborted", "failed", "crashed"})
_SKIP_DIRS = frozenset({".git", "__pycache__", "checkpoints", "code", "node_modules", ".venv"})


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and (any((path / marker).is_file() for marker in RUN_MARKERS) or is_forgather_run_dir(path))


def find_runs(root: str | os.PathLike[str], max_depth: int = 5) -> list[Path]:
    """Run directories under `root` (or `root` itself), newest first.

    Looks for `runs/<name>/` holding a run marker file, as the launcher
    writes them under a project's output directories.
    """
    root = Path(root)
    if is_run_dir(root):
        return [root]
    found: list[Path] = []

    def walk(directory: Path, depth: int) -> None:
        try:
            entries = [entry for entry in os.scandir(directory) if entry.is_dir(follow_symlinks=False)]
        except OSError:
            return
        for entry in entries:
            if entry.name in _SKIP_DIRS or entry.name.startswith("."):
                continue
            path = Path(entry.path)
            if directory.name == "runs" and is_run_dir(path):
                found.append(path)
            elif depth < max_depth:
                walk(path, depth + 1)

    walk(root, 0)
    # Path breaks ties: runs written in the same instant list in the same order every time.
    found.sort(key=lambda path: (_run_mtime(path), str(path)), reverse=True)
    return found


def _run_mtime(path: Path) -> float:
    try:
        return max((path / marker).stat().st_mtime for marker in RUN_MARKERS if (path / marker).exists())
    except ValueError:
        return 0.0


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from a file, or None when it is missing or unreadable.

    The launcher may be mid-write; a half-written job.json is treated as
    absent for this look and read again at the next poll.
    """
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def job_alive(job: dict[str, Any] | None) -> bool | None:
    """True/False for a job launched on this host (or a SLURM job squeue can see);
    None when it cannot be told."""
    if job and job.get("scheduler") == "slurm":
        import shutil

        if not job.get("slurm_job_id") or shutil.which("squeue") is None:
            return None
        return slurm.is_active(str(job["slurm_job_id"]))
    if not job or not isinstance(job.get("pid"), int):
        return None
    host = job.get("host")
    if host and host != socket.gethostname():
        return None
    # Alive while torchrun or any of its ranks lives (ranks outlive a killed torchrun
    # only for the moment the kernel takes to end them, but that moment is real).
    return bool(live_pids(job["pid"], job.get("run_dir"), host))


def state_from(events: list[dict[str, Any]], job: dict[str, Any] | None) -> str:
    """The run state from its events (oldest first) and its job.json."""
    last_start = last_end = None
    for record in events:
        name = record.get("event")
        if name == "start":
            last_start, last_end = record, None
        elif name == "end":
            last_end = record
    if last_end is not None:
        status = last_end.get("status")
        return status if status in STATES else "unknown"
    alive = job_alive(job)
    if alive is True:
        return "running" if last_start is not None else "starting"
    if alive is False:
        return "crashed"
    return "unknown"


def eta_seconds(step: int, max_steps: int | None, step_times: list[float]) -> float | None:
    """Seconds left from the recent optimizer-step time (eval time excluded)."""
    if not max_steps or step >= max_steps or not step_times:
        return None
    recent = [t for t in step_times[-20:] if t and t > 0]
    if not recent:
        return None
    return (max_steps - step) * (sum(recent) / len(recent))


@dataclass
class RunInfo:
    """What the run list shows: enough to pick a run without loading its log."""

    path: Path
    name: str
    state: str
    job: dict[str, Any] | None = None
    command: dict[str, Any] | None = None
    start: dict[str, Any] | None = None
    end: dict[str, Any] | None = None
    last_train: dict[str, Any] | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def step(self) -> int:
        return int(self.last_train["step"]) if self.last_train else 0

    @property
    def max_steps(self) -> int | None:
        return self.start.get("max_steps") if self.start else None

    @property
    def started(self) -> float | None:
        if self.start:
            return self.start.get("time")
        return self.job.get("started") if self.job else None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES


def _edge_records(path: Path, head: int = 64 << 10, tail: int = 256 << 10) -> list[dict[str, Any]]:
    """Records near both ends of a log stream, for a summary without a full read."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size <= head + tail:
                data = handle.read()
                lines = data[: data.rfind(b"\n") + 1].split(b"\n")
            else:
                first = handle.read(head)
                handle.seek(size - tail)
                last = handle.read(tail)
                # Drop the cut lines at the seams and any partial last line.
                lines = first[: first.rfind(b"\n")].split(b"\n")
                lines += last[last.find(b"\n") + 1 : last.rfind(b"\n")].split(b"\n")
    except OSError:
        return []
    records, _bad = parse_lines(lines)
    return records


def inspect_run(run_dir: str | os.PathLike[str], records: list[dict[str, Any]] | None = None) -> RunInfo:
    """Summarize a run directory; `records` (all its events, say) skips re-reading."""
    path = Path(run_dir)
    job = read_json(path / "job.json")
    command = read_json(path / "command.json")
    if records is None:
        records = read_records(path) if is_forgather_run_dir(path) else _edge_records(path / "metrics.jsonl")
    events = [r for r in records if r.get("type") == "event"]
    train = [r for r in records if r.get("type") == "train"]
    info = RunInfo(path=path, name=path.name, state=state_from(events, job), job=job, command=command)
    for record in events:
        name = record.get("event")
        if name == "start":
            info.start, info.end = record, None
        elif name == "end":
            info.end = record
        elif name == "error":
            info.errors.append(record)
    info.last_train = train[-1] if train else None
    return info


def elapsed_seconds(info: RunInfo, now: float | None = None) -> float | None:
    """Wall time since the start; a finished run stops its clock at the end event."""
    started = info.started
    if started is None:
        return None
    if info.end is not None and isinstance(info.end.get("time"), (int, float)):
        return info.end["time"] - started
    if info.finished and info.last_train:
        return info.last_train["time"] - started
    return (time.time() if now is None else now) - started
