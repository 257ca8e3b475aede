"""Signatures of the files a project's listing or meta.yaml can depend on:
each file as (path, mtime, size), hashed. Kept apart from the listing cache so
that a command reopening its project (selection.open_project) need not load it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from fgtui.engine.project.workspace import META_NAME, WORKSPACE_DIR_NAME, find_workspace, user_template_dirs

_SKIP = frozenset({"__pycache__", "node_modules", "output_models", "checkpoints", "runs", ".git"})


def _stamp(path: Path, hasher: "hashlib._Hash") -> None:
    hasher.update(f"{path}|{file_stamp(path)}\n".encode())


def file_stamp(path: str | os.PathLike) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return "missing"
    return f"{st.st_mtime_ns}|{st.st_size}"


def _stamp_tree(root: Path, hasher: "hashlib._Hash", trees: dict[str, str] | None = None) -> None:
    """Stamp every file under `root`; `trees` keeps each tree's digest for one run
    (the projects of a listing share their template libraries)."""
    key = str(root)
    if trees is not None and key in trees:
        hasher.update(trees[key].encode())
        return
    tree = hashlib.sha1()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in _SKIP)
        for name in sorted(filenames):
            if not name.startswith("."):
                path = os.path.join(dirpath, name)
                tree.update(f"{path}|{file_stamp(path)}\n".encode())
    digest = tree.hexdigest()
    if trees is not None:
        trees[key] = digest
    hasher.update(digest.encode())


def _version() -> str:
    from fgtui import __version__

    return __version__


def signed_meta_dirs(project_dir: Path) -> list[Path]:
    """The directories whose every file `meta_signature` stamps."""
    workspace = find_workspace(project_dir)
    return ([workspace / WORKSPACE_DIR_NAME] if workspace is not None else []) + list(user_template_dirs())


def meta_signature(project_dir: Path, trees: dict[str, str] | None = None) -> str:
    """What meta.yaml's rendering can depend on (besides files elsewhere that
    it happens to extend or include: those are stamped as read)."""
    hasher = hashlib.sha1(f"{_version()}|{project_dir}\n".encode())
    _stamp(project_dir / META_NAME, hasher)
    for directory in signed_meta_dirs(project_dir):
        _stamp_tree(directory, hasher, trees)
    return hasher.hexdigest()


def configs_signature(searchdir: list[str], trees: dict[str, str] | None = None) -> str:
    """What the configs' rendering can depend on: every file on the search path."""
    hasher = hashlib.sha1()
    for directory in searchdir:
        hasher.update(f"dir|{directory}|{os.path.isdir(directory)}\n".encode())
        _stamp_tree(Path(directory), hasher, trees)
    return hasher.hexdigest()
