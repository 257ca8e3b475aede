"""The template files on a search path and the inline templates they define.

Inline templates are indexed when their file is indexed, so `-- include
'proj.callbacks'` works whether or not the file defining it has been
rendered yet. The index re-reads only files whose size or mtime changed, and
re-walks only directories whose mtime changed (`dirscan`), so refreshing it
before every render costs about one stat per file. Directory listings and
parsed files are shared by every index of the process: the projects that
`fgtui ls -r` opens all search the same template library.
"""

from __future__ import annotations

import os

# threading.Lock is _thread.allocate_lock; `threading` itself costs a cold `fgtui ls` 1% of its run.
import _thread

from fgtui.engine.config.dirscan import TreeScanner
from fgtui.engine.config.split import InlineTemplate, read_template_file, split_templates
from fgtui.engine.errors import FgError, SourceLocation


class _Entry:
    __slots__ = ("stamp", "inline")

    def __init__(self, stamp: tuple[int, int], inline: list[InlineTemplate]) -> None:
        self.stamp, self.inline = stamp, inline


# real path -> its inline templates as of a (mtime, size) stamp, for every index of the process
_parsed: dict[str, _Entry] = {}
_parsed_lock = _thread.allocate_lock()
_shared_scanner = TreeScanner()


def _parse(real: str, stamp: tuple[int, int]) -> _Entry:
    with _parsed_lock:
        entry = _parsed.get(real)
    if entry is None or entry.stamp != stamp:
        _, inline = split_templates(read_template_file(real))
        entry = _Entry(stamp, inline)
        with _parsed_lock:
            _parsed[real] = entry
    return entry


class InlineIndex:
    """Inline template name -> defining files, over the visible files of a search path."""

    # A plain class, not a dataclass: `fgtui ls` may index a search path, and
    # `dataclasses` costs a cold listing a tenth of its run.
    def __init__(self, searchpath: list[str]) -> None:
        self.searchpath = searchpath
        self._files: dict[str, _Entry] = {}
        self._names: dict[str, list[tuple[str, InlineTemplate]]] = {}
        self._scanner: TreeScanner = _shared_scanner

    def refresh(self) -> None:
        """Pick up added, removed and edited files."""
        seen: set[str] = set()
        visible: list[str] = []
        visible_set: set[str] = set()
        changed = False
        for root in self.searchpath:
            for rel, real in self._scanner.files(root):
                if rel in seen or real in visible_set:
                    continue  # shadowed by an earlier search-path entry, or the same file twice
                seen.add(rel)
                visible.append(real)
                visible_set.add(real)
                try:
                    st = os.stat(real)
                except OSError:
                    continue
                stamp = (st.st_mtime_ns, st.st_size)
                entry = self._files.get(real)
                if entry is None or entry.stamp != stamp:
                    self._files[real] = _parse(real, stamp)
                    changed = True
        gone = set(self._files) - visible_set
        for real in gone:
            del self._files[real]
        if changed or gone or not self._names and self._files:
            self._rebuild(visible)

    def invalidate(self, path: str) -> None:
        real = os.path.realpath(path)
        self._files.pop(real, None)
        with _parsed_lock:
            _parsed.pop(real, None)
        self._scanner.forget()  # an explicit invalidation must not depend on directory mtimes

    def _rebuild(self, order: list[str]) -> None:
        names: dict[str, list[tuple[str, InlineTemplate]]] = {}
        for real in order:
            for part in self._files[real].inline:
                names.setdefault(part.name, []).append((real, part))
        self._names = names

    def lookup(self, name: str, exclude: str | None = None) -> tuple[str, InlineTemplate] | None:
        """The file and text of inline template `name`, for a config that loads
        no file defining it; an error if two files define it (Forgather would
        not find it at all, and which one is meant cannot be told). Definitions
        in the file `exclude` are left out (its unsaved text stands for it)."""
        found = [entry for entry in self._names.get(name, ()) if entry[0] != exclude]
        if not found:
            return None
        if len(found) > 1:
            (file_a, part_a), (file_b, part_b) = found[0], found[1]
            raise FgError(
                f"inline template '{name}' is defined in {file_a}:{part_a.first_line - 1} "
                f"and {file_b}:{part_b.first_line - 1}, and this config loads neither file",
                hint="include or extend the file whose definition you mean before using it, or rename one",
                location=SourceLocation(file_b, part_b.first_line - 1),
            )
        return found[0]

    def parts_of(self, real: str) -> list[InlineTemplate]:
        """The inline templates of a file (parsed if it is not on the search path)."""
        entry = self._files.get(real)
        if entry is None:
            try:
                st = os.stat(real)
            except OSError:
                return []
            entry = _parse(real, (st.st_mtime_ns, st.st_size))
        return entry.inline

    def names(self) -> list[str]:
        return sorted(self._names)
