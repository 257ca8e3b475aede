"""Starting a process that outlives whoever started it (closing the UI or SSH never kills a run)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def spawn_detached(
    argv: list[str],
    *,
    log_path: str | os.PathLike,
    env: dict[str, str],
    cwd: str | os.PathLike,
    umask: int = 0o077,
    keep_fds: tuple[int, ...] = (),
    log_mode: int = 0o600,
) -> subprocess.Popen:
    """Run `argv` in its own session (no controlling terminal, own process group),
    stdin from /dev/null, stdout and stderr appended to `log_path` (created `log_mode`).
    The process and its children create files under `umask`; `keep_fds` stay open in it
    (the output dir's lock, which it then holds for its life)."""
    fd = os.open(Path(log_path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, log_mode)
    with os.fdopen(fd, "ab") as log, open(os.devnull, "rb") as devnull:
        return subprocess.Popen(
            argv,
            stdin=devnull,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(cwd),
            start_new_session=True,
            close_fds=True,
            pass_fds=tuple(keep_fds),
            umask=umask,
        )
