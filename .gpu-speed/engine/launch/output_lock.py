"""One run per output dir at a time.

Two runs writing one output dir would save `checkpoint-30` over each other, and
each start's clean-up of half-written checkpoints could delete the other's save
in progress. So a run holds an exclusive `flock` on `<output_dir>/.fgtui-run.lock`
for its whole life: the launcher takes it and hands the descriptor to torchrun,
which keeps it until the job ends (its ranks die with it; see train/rank_guard.py).
A rank 0 started without a launcher (SLURM, a direct `python -m ...entry`) takes
it itself. The kernel drops the lock when its holder dies, so a crashed run never
leaves a stale lock behind; the file's text (who holds it) is only for messages.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from fgtui.engine.errors import FgError

LOCK_NAME = ".fgtui-run.lock"
# Locks rank 0 took itself stay open for the life of the process.
_held: dict[str, int] = {}


def lock_path(output_dir: str | os.PathLike) -> Path:
    return Path(output_dir) / LOCK_NAME


def acquire(output_dir: str | os.PathLike, holder: dict) -> int:
    """Take the output dir's lock and write who holds it; returns the open descriptor
    (closing it, and every copy of it, releases the lock). Refuses, naming the running
    job, when another run holds it."""
    path = lock_path(output_dir)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        other = _read(fd)
        os.close(fd)
        raise busy_error(output_dir, other) from None
    describe(fd, holder)
    return fd


def describe(fd: int, holder: dict) -> None:
    """Say who holds the lock (read only for messages to a second launch)."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(holder).encode(), 0)


def holder(output_dir: str | os.PathLike) -> dict | None:
    """Who holds the output dir's lock now ({} when unknown), or None when it is free."""
    path = lock_path(output_dir)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read(fd)
        return None
    finally:
        os.close(fd)


def ensure_held(output_dir: str | os.PathLike, job_id: str | None, holder_info: dict) -> None:
    """In rank 0 at the start of training: the lock is this job's (taken by its launcher),
    or free and taken now for the life of this process; else another run writes here."""
    key = os.path.realpath(output_dir)
    if key in _held:
        return
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    try:
        _held[key] = acquire(output_dir, holder_info)
    except FgError:
        other = holder(output_dir) or {}
        if job_id is not None and other.get("job_id") == job_id:
            return  # our own launcher's torchrun holds it for us
        raise


def release(output_dir: str | os.PathLike) -> None:
    """Let go of a lock `ensure_held` took in this process (the run has ended)."""
    fd = _held.pop(os.path.realpath(output_dir), None)
    if fd is not None:
        os.close(fd)


def busy_error(output_dir: str | os.PathLike, other: dict | None) -> FgError:
    other = other or {}
    job = other.get("job_id") or "another run"
    where = f" (run dir {other['run_dir']}, pid {other.get('pid')})" if other.get("run_dir") else ""
    return FgError(
        f"output dir {output_dir} is in use by job {job}{where}",
        hint="wait for it to end or stop it (fgtui control stop JOB), or use another --output-dir",
    )


def _read(fd: int) -> dict:
    try:
        data = json.loads(os.pread(fd, 1 << 16, 0).decode() or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
