"""Starting a process that outlives whoever started it (closing the UI or SSH never kills a run)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path


def spawn_detached(argv: list[str], *, log_path: str | os.PathLike, env: dict[str, str],
                   cwd: str | os.PathLike) -> subprocess.Popen:
    """Run `argv` in its own session (no controlling terminal, own process group),
    stdin from /dev/null, stdout and stderr appended to `log_path`."""
    log_path = Path(log_path)
    with open(log_path, "ab") as log, open(os.devnull, "rb") as devnull:
        return subprocess.Popen(argv, stdin=devnull, stdout=log, stderr=subprocess.STDOUT, env=env,
                                cwd=str(cwd), start_new_session=True, close_fds=True)
