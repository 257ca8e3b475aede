"""Who may read a run: its owner only, unless the user asks to share it with their group.

Run dirs hold the config, the command line, a snapshot of the environment and the
checkpoints; on a shared GPU box none of that is other users' business. Dirs are
made 0700 and files 0600; `--share-group` (or FGTUI_SHARE_GROUP=1) makes them
0750 / 0640 so a team sharing a Unix group can read each other's runs. The ranks
inherit the umask, so everything they write (log stream, checkpoints) follows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SHARE_GROUP_ENV = "FGTUI_SHARE_GROUP"


@dataclass(frozen=True)
class RunPermissions:
    dir_mode: int
    file_mode: int
    umask: int

    def mkdir(self, path: Path, *, parents: bool = False, exist_ok: bool = False) -> None:
        """Create `path` with this mode (a directory that already exists keeps its own)."""
        existed = path.is_dir()
        path.mkdir(mode=self.dir_mode, parents=parents, exist_ok=exist_ok)
        if not existed:
            os.chmod(path, self.dir_mode)  # mkdir's mode is masked by the umask

    def write_text(self, path: Path, text: str) -> None:
        """Write a new file created with this mode from the start (no window with a wider one)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, self.file_mode)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(path, self.file_mode)


OWNER_ONLY = RunPermissions(dir_mode=0o700, file_mode=0o600, umask=0o077)
GROUP_READABLE = RunPermissions(dir_mode=0o750, file_mode=0o640, umask=0o027)


def run_permissions(share_group: bool | None = None) -> RunPermissions:
    """Owner-only, unless `share_group` (or, when it is None, FGTUI_SHARE_GROUP=1) says group-readable."""
    if share_group is None:
        share_group = os.environ.get(SHARE_GROUP_ENV, "").strip().lower() in ("1", "true", "yes", "on")
    return GROUP_READABLE if share_group else OWNER_ONLY
