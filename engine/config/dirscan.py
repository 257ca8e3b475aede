"""The template files under a search-path directory, re-walked only when a directory changed.

The environment checks its search path before every render (the TUI's
keystroke, each config of `fgtui ls`), so walking the tree each time would
cost more than the render. Adding, removing or renaming an entry changes its
directory's mtime, so a tree whose directories all keep their mtimes still
holds the same files; only those stamps are checked. Edits to a file's
content do not show here (the index stats each file for that).

A directory modified within `RACY_SECONDS` of being listed is not trusted:
on filesystems with coarse timestamps a second change in the same tick
would keep the mtime (the "racy" case git also guards against). This assumes
the file system's clock agrees with ours to within that margin; `invalidate`
on the environment forgets every listing regardless.
"""

from __future__ import annotations

import os

# threading.Lock is _thread.allocate_lock; `threading` itself costs a cold `fgtui ls` 1% of its run.
import _thread
import time

from fgtui.engine.errors import FgError, SourceLocation

TEMPLATE_SUFFIXES = (".yaml", ".yml", ".jinja", ".j2", ".jinja2", ".tmpl")
SKIP_DIRS = frozenset({"__pycache__", "node_modules", "output_models", "checkpoints", "runs", "site-packages"})
MAX_FILES_PER_DIR = 5000
RACY_SECONDS = 2.0


class _Tree:
    __slots__ = ("root_stamp", "dirs", "files", "trusted")

    def __init__(
        self,
        root_stamp: tuple[int, int, int],
        dirs: list[tuple[str, int]],
        files: list[tuple[str, str]],
        trusted: bool,
    ) -> None:
        self.root_stamp = root_stamp  # (device, inode, mtime_ns) of the root, symlinks followed
        self.dirs = dirs  # (real directory, mtime_ns) of every directory walked
        self.files = files  # (name relative to the root, real path), depth first, sorted
        self.trusted = trusted


class TreeScanner:
    """`files(root)` -> [(relative name, real path)] of template files, cached per root."""

    def __init__(self) -> None:
        self._trees: dict[str, _Tree] = {}
        self._lock = _thread.allocate_lock()  # one scanner serves every environment of the process

    def files(self, root: str) -> list[tuple[str, str]]:
        # A root that is a symlink pointed elsewhere shows as another inode.
        try:
            st = os.stat(root)
            stamp = (st.st_dev, st.st_ino, st.st_mtime_ns)
        except OSError:
            stamp = (0, 0, 0)
        with self._lock:
            tree = self._trees.get(root)
        if tree is not None and tree.trusted and tree.root_stamp == stamp and _unchanged(tree.dirs):
            return tree.files
        tree = _scan(root, os.path.realpath(root), stamp)
        with self._lock:
            self._trees[root] = tree
        return tree.files

    def forget(self) -> None:
        with self._lock:
            self._trees.clear()


def _unchanged(dirs: list[tuple[str, int]]) -> bool:
    for path, mtime in dirs:
        try:
            if os.stat(path).st_mtime_ns != mtime:
                return False
        except OSError:
            return False
    return True


def _scan(root: str, real_root: str, root_stamp: tuple[int, int, int]) -> _Tree:
    listed_at = time.time_ns()
    dirs: list[tuple[str, int]] = []
    files: list[tuple[str, str]] = []
    _walk(root, real_root, "", frozenset(), dirs, files)
    racy = int(RACY_SECONDS * 1e9)
    trusted = all(listed_at - mtime > racy for _, mtime in dirs)
    return _Tree(root_stamp, dirs, files, trusted)


def _walk(
    path: str, real: str, rel: str, active: frozenset[str], dirs: list[tuple[str, int]], files: list[tuple[str, str]]
) -> None:
    """Depth first, entries sorted by name. The real path of an entry is its
    directory's real path plus its name unless it is a symlink, which alone
    is resolved; `active` stops a symlink back up the tree."""
    try:
        # The stamp is taken before listing, so a change during the walk shows next time.
        dirs.append((real, os.stat(real).st_mtime_ns))
        entries = sorted(os.scandir(path), key=lambda e: e.name)
    except OSError:
        return
    active = active | {real}
    for entry in entries:
        name = entry.name
        if name.startswith("."):
            continue
        entry_real = os.path.realpath(entry.path) if entry.is_symlink() else os.path.join(real, name)
        if entry.is_dir():
            if name not in SKIP_DIRS and entry_real not in active:
                _walk(entry.path, entry_real, f"{rel}{name}/", active, dirs, files)
        elif name.endswith(TEMPLATE_SUFFIXES):
            files.append((rel + name, entry_real))
            if len(files) > MAX_FILES_PER_DIR:
                raise FgError(
                    f"search path directory has more than {MAX_FILES_PER_DIR} template files",
                    hint="put templates in a `templates/` directory and point the search path there",
                    location=SourceLocation(real),
                )
