"""A rank belongs to its job: it records itself in the run dir and dies with torchrun.

torchrun starts each rank in a session of its own (so it can signal each one's
group), which also means a signal to torchrun's group never reaches them: after
`kill -9` of torchrun the ranks would train on as orphans, writing checkpoints
beside whatever resumes the run. The kernel's parent-death signal closes that
gap: when torchrun dies, for whatever reason, each rank gets SIGKILL. Writes in
progress are safe to cut: checkpoints are renamed into place only when whole.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path

from fgtui.engine.launch.liveness import record_rank

_PR_SET_PDEATHSIG = 1


def under_torchrun() -> bool:
    """True in a rank that torchrun's agent started (it sets TORCHELASTIC_RUN_ID)."""
    return "TORCHELASTIC_RUN_ID" in os.environ


def die_with_parent() -> bool:
    """Ask the kernel to SIGKILL this process when its parent (torchrun) dies.
    Returns False where the platform has no such request (not Linux)."""
    if not sys.platform.startswith("linux"):
        return False
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return False
    if os.getppid() != parent:  # torchrun died before the request took effect
        os._exit(1)
    return True


def bind_rank_to_job(run_dir: str | os.PathLike, rank: int) -> None:
    """Record this rank in the run dir and, under torchrun, tie its life to torchrun's."""
    if under_torchrun():
        die_with_parent()
    record_rank(Path(run_dir), rank)
