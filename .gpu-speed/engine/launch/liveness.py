"""Whether a job's processes live: torchrun and each of its ranks.

torchrun starts every rank in a session of its own, so no one signal reaches them
all and torchrun's pid alone says nothing of the ranks. Each rank therefore
records itself in its run directory (`ranks/rank-N.json`: pid, start time, host)
and dies with torchrun (engine/train/rank_guard.py); a job is running while any
of its recorded processes lives. A pid is matched with its start time, so a pid
the kernel has given to another process since is not mistaken for the rank.

Dependency-free on purpose: the launcher, the job registry, the run-dir reader
and the ranks all import it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

RANKS_DIR = "ranks"


def process_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the parenthesised command name, which may itself hold spaces.
    fields = stat[stat.rfind(")") + 2 :].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def process_alive(pid: int, start_time: int | None = None) -> bool:
    """True while `pid` runs and is not a zombie; with `start_time`, only if it is still
    the same process (not a later one that was given the same pid)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process holds the pid now, or a rank run as another user
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return start_time is None  # no /proc (not Linux): the signal probe is all there is
    if stat[stat.rfind(")") + 2 : stat.rfind(")") + 3] == "Z":
        return False
    return start_time is None or process_start_time(pid) == start_time


def record_rank(run_dir: str | os.PathLike, rank: int) -> Path:
    """Write this process as rank `rank` of the run (replaced atomically)."""
    directory = Path(run_dir) / RANKS_DIR
    directory.mkdir(exist_ok=True)
    pid = os.getpid()
    record = {
        "rank": rank,
        "pid": pid,
        "start_time": process_start_time(pid),
        "host": socket.gethostname(),
        "recorded": time.time(),
    }
    path = directory / f"rank-{rank}.json"
    tmp = directory / f".rank-{rank}.{pid}.tmp"
    tmp.write_text(json.dumps(record))
    os.replace(tmp, path)
    return path


def rank_records(run_dir: str | os.PathLike) -> list[dict]:
    """The ranks a run recorded, by rank."""
    records = []
    for path in sorted(Path(run_dir, RANKS_DIR).glob("rank-*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and isinstance(record.get("pid"), int):
            records.append(record)
    return sorted(records, key=lambda record: record.get("rank", 0))


def live_pids(pid: int | None, run_dir: str | os.PathLike | None, host: str | None = None) -> list[int]:
    """The job's processes alive on this host: torchrun (`pid`) and every recorded rank.
    Processes on another host cannot be seen from here and are not counted."""
    here = socket.gethostname()
    alive = []
    if pid and (host in (None, "", here)) and process_alive(pid):
        alive.append(pid)
    if run_dir is not None:
        for record in rank_records(run_dir):
            if record.get("host") in (None, here) and process_alive(record["pid"], record.get("start_time")):
                alive.append(record["pid"])
    return alive


def terminate(pid: int | None, pgid: int | None, run_dir: str | os.PathLike | None, grace: float = 10.0) -> list[int]:
    """End every process of a job: SIGTERM to torchrun's group and to each rank's session,
    then SIGKILL to whatever still lives after `grace` seconds. Returns the pids signalled.
    Never this process (a caller inside the job, or a test standing in for one)."""

    def others() -> list[int]:
        return [target for target in live_pids(pid, run_dir) if target != os.getpid()]

    targets = others()
    if not targets:
        return []
    groups = {pgid} if pgid else set()
    groups |= {_pgid(target) for target in targets} - {None, 0}
    for group in groups:
        _signal_group(group, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not others():
            return targets
        time.sleep(0.1)
    for group in groups:
        _signal_group(group, signal.SIGKILL)
    for target in others():
        try:
            os.kill(target, signal.SIGKILL)
        except OSError:
            pass
    return targets


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _signal_group(pgid: int, signum: int) -> None:
    if pgid == os.getpgid(0):
        return  # never our own group (a test, or `fgtui` started inside the job)
    try:
        os.killpg(pgid, signum)
    except OSError:
        pass
