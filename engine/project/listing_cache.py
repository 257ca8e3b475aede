"""A per-project cache of `fgtui ls` results, so listing a tree twice
renders nothing the second time.

Rendering and parsing every config is what `ls` costs (start-up aside);
the result depends only on files, so it is stored with a signature of
every file it could have read: the project's `meta.yaml`, the workspace's
`forgather_workspace/` and the user template directories (the inputs of
meta.yaml), then every file on the project's search path (the inputs of
its configs), each as (path, mtime, size), plus fgtui's version. Any
change to any of them (an edit, a new file that shadows another) re-lists
the whole project. What no file records — environment variables
(`getenv`) or the clock — is not tracked; `ls --no-cache` re-renders.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from fgtui.engine.project.listing import ConfigEntry, ProjectListing
from fgtui.engine.project.workspace import META_NAME, WORKSPACE_DIR_NAME, find_workspace, user_template_dirs

_FORMAT = 2  # 2: meta read as data (static_values), never built
_SKIP = frozenset({"__pycache__", "node_modules", "output_models", "checkpoints", "runs", ".git"})


def cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "fgtui" / "ls"


def _stamp(path: Path, hasher: "hashlib._Hash") -> None:
    try:
        st = os.stat(path)
    except OSError:
        hasher.update(f"{path}|missing\n".encode())
        return
    hasher.update(f"{path}|{st.st_mtime_ns}|{st.st_size}\n".encode())


def _stamp_tree(root: Path, hasher: "hashlib._Hash") -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in _SKIP)
        for name in sorted(filenames):
            if not name.startswith("."):
                _stamp(Path(dirpath, name), hasher)


def _version() -> str:
    from fgtui import __version__

    return __version__


def meta_signature(project_dir: Path) -> str:
    """What meta.yaml's rendering can depend on."""
    hasher = hashlib.sha1(f"{_FORMAT}|{_version()}|{project_dir}\n".encode())
    _stamp(project_dir / META_NAME, hasher)
    workspace = find_workspace(project_dir)
    if workspace is not None:
        _stamp_tree(workspace / WORKSPACE_DIR_NAME, hasher)
    for directory in user_template_dirs():
        _stamp_tree(directory, hasher)
    return hasher.hexdigest()


def configs_signature(searchdir: list[str]) -> str:
    """What the configs' rendering can depend on: every file on the search path."""
    hasher = hashlib.sha1()
    for directory in searchdir:
        hasher.update(f"dir|{directory}|{os.path.isdir(directory)}\n".encode())
        _stamp_tree(Path(directory), hasher)
    return hasher.hexdigest()


class ListingCache:
    """Reads and writes cached `ProjectListing`s under `cache_dir()`."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or cache_dir()

    def _file(self, project_dir: Path) -> Path:
        return self.directory / (hashlib.sha1(str(project_dir).encode()).hexdigest() + ".json")

    def load(self, project_dir: Path) -> ProjectListing | None:
        """The cached listing if nothing it depends on has changed."""
        try:
            data = json.loads(self._file(project_dir).read_text())
        except (OSError, ValueError):
            return None
        if data.get("format") != _FORMAT or data.get("meta_signature") != meta_signature(project_dir):
            return None
        if data.get("configs_signature") != configs_signature(data.get("searchdir", [])):
            return None
        listing = ProjectListing(
            project_dir, data["name"], data["description"], warnings=list(data.get("warnings", []))
        )
        listing.entries = [ConfigEntry(**entry) for entry in data["entries"]]
        return listing

    def store(self, listing: ProjectListing, searchdir: list[str], meta_sig: str, configs_sig: str) -> None:
        """Save a listing; signatures are those taken *before* it was made,
        so a file edited while listing makes the next run list again."""
        if listing.error is not None:
            return
        entries: list[dict[str, Any]] = [
            {
                "name": e.name,
                "is_default": e.is_default,
                "title": e.title,
                "description": e.description,
                "config_class": e.config_class,
                "error": e.error,
            }
            for e in listing.entries
        ]
        data = {
            "format": _FORMAT,
            "meta_signature": meta_sig,
            "configs_signature": configs_sig,
            "searchdir": searchdir,
            "name": listing.name,
            "description": listing.description,
            "warnings": listing.warnings,
            "entries": entries,
        }
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            target = self._file(listing.project_dir)
            temporary = target.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_text(json.dumps(data))
            os.replace(temporary, target)
        except OSError:
            # A read-only or full cache directory only costs speed.
            pass
