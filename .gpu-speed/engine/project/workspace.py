"""Finding workspaces and projects on disk.

The layout is Forgather's, so existing trees open unchanged:

* a **project** is a directory holding `meta.yaml`;
* a **workspace** is the nearest ancestor directory holding a
  `forgather_workspace/` directory (`base_directories.yaml`,
  `meta_defaults.yaml`). Workspaces nest: the nearest one wins.

Nothing here renders a template; it only looks at the file system.
"""

from __future__ import annotations

import os
from pathlib import Path

from fgtui.engine.errors import FgError

WORKSPACE_DIR_NAME = "forgather_workspace"
META_NAME = "meta.yaml"


def _ancestors(path: str | os.PathLike) -> list[Path]:
    start = Path(path).expanduser().absolute()
    # normpath rather than resolve(): symlinked project trees keep the
    # paths the user typed, which is what appears in rendered configs.
    start = Path(os.path.normpath(start))
    return [start, *start.parents]


def find_workspace(path: str | os.PathLike) -> Path | None:
    """The nearest directory at or above `path` that holds `forgather_workspace/`."""
    for directory in _ancestors(path):
        if (directory / WORKSPACE_DIR_NAME).is_dir():
            return directory
    return None


def is_project_dir(path: str | os.PathLike) -> bool:
    return (Path(path) / META_NAME).is_file()


def find_project_dir(path: str | os.PathLike) -> Path | None:
    """The nearest directory at or above `path` that holds `meta.yaml`."""
    for directory in _ancestors(path):
        if (directory / META_NAME).is_file():
            return directory
    return None


def require_project_dir(path: str | os.PathLike | None = None) -> Path:
    """Like `find_project_dir`, but a user-facing error when there is none."""
    where = Path(path) if path is not None else Path.cwd()
    if not where.exists():
        raise FgError(
            f"project directory {str(where)!r} does not exist",
            hint="check the path given to -p",
        )
    found = find_project_dir(where)
    if found is None:
        raise FgError(
            f"{str(where)!r} is not inside a project (no meta.yaml here or above)",
            hint="cd into a project, pass -p DIR, or create one with `fgtui project create`",
        )
    return found


def bundled_templatelib() -> Path:
    """The templates shipped with fgtui (`<package>/templatelib`)."""
    import fgtui

    return Path(fgtui.__file__).resolve().parent / "templatelib"


def fgtui_dir() -> Path:
    """The installed fgtui package directory; workspaces record it as
    `ns.fgtui_dir` (and `ns.forgather_dir`, so Forgather templates that
    join paths onto it keep working)."""
    return bundled_templatelib().parent


def user_template_dirs() -> list[Path]:
    """Per-user template directories that exist, fgtui's first.

    `~/.config/forgather/templates` is searched too so that templates a
    user wrote for Forgather keep working.
    """
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    candidates = [config_home / "fgtui" / "templates", config_home / "forgather" / "templates"]
    return [path for path in candidates if path.is_dir()]


def find_projects(root: str | os.PathLike) -> list[Path]:
    """Every project directory at or below `root`, sorted, hidden dirs skipped.

    A project's own subtree is still searched: Forgather keeps sub-projects
    (e.g. a model project inside a training project) there.
    """
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(name for name in dirnames if not name.startswith(".") and name not in _SKIP_DIRS)
        if META_NAME in filenames:
            found.append(Path(dirpath))
    return sorted(found)


# Directories that never hold projects but can be huge (model outputs,
# virtual environments, caches); walking them would make `ls -r` slow.
_SKIP_DIRS = frozenset(
    {
        "__pycache__",
        "node_modules",
        "output_models",
        "checkpoints",
        "runs",
        ".venv",
        "venv",
        "site-packages",
        WORKSPACE_DIR_NAME,
    }
)
