"""A per-project cache of `fgtui ls` results, so listing a tree twice
renders nothing the second time.

Rendering and parsing every config is what `ls` costs (start-up aside);
the result depends only on files (and, for a relative `searchdir`, on the
working directory), so it is stored with a signature of every file it
could have read: the project's `meta.yaml`, the workspace's
`forgather_workspace/` and the user template directories (the inputs of
meta.yaml), every file on the project's search path (the inputs of its
configs), each as (path, mtime, size), plus fgtui's version; and with the
stamps of the files the listing did read, which covers templates reached
from outside those trees (a file of the project directory that meta.yaml
extends, an include by absolute path). Any change to any of them (an
edit, a new file that shadows another) re-lists the whole project. What no
file records — environment variables (`getenv`) or the clock — is not
tracked; `ls --no-cache` re-renders.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from fgtui.engine.project.listing import ConfigEntry, ProjectListing
from fgtui.engine.project.signatures import configs_signature, file_stamp, meta_signature

# A file written this close to the listing may change again within the file system's
# timestamp tick without its stamp changing (git's "racy" case): such a listing is not kept.
RACY_SECONDS = 2.0

_FORMAT = 4  # 4: whether every config was rendered (`checked`) or its name read quickly


def cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "fgtui" / "ls"


class ListingCache:
    """Reads and writes cached `ProjectListing`s under `cache_dir()`."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or cache_dir()

    def _file(self, project_dir: Path) -> Path:
        return self.directory / (hashlib.sha1(str(project_dir).encode()).hexdigest() + ".json")

    def load(
        self, project_dir: Path, checked: bool = True, trees: dict[str, str] | None = None
    ) -> ProjectListing | None:
        """The cached listing if nothing it depends on has changed; with `checked`,
        only one that rendered every config (not read names quickly). `trees`:
        the tree digests of this listing run (see _stamp_tree)."""
        try:
            data = json.loads(self._file(project_dir).read_text())
        except (OSError, ValueError):
            return None
        if checked and not data.get("checked"):
            return None
        if data.get("format") != _FORMAT or data.get("meta_signature") != meta_signature(project_dir, trees):
            return None
        if data.get("cwd") is not None and data["cwd"] != os.getcwd():
            return None  # a relative searchdir names other directories from here
        if data.get("configs_signature") != configs_signature(data.get("searchdir", []), trees):
            return None
        if any(file_stamp(path) != stamp for path, stamp in data.get("read", [])):
            return None
        listing = ProjectListing(
            project_dir,
            data["name"],
            data["description"],
            warnings=list(data.get("warnings", [])),
            cwd=data["cwd"],
            checked=data["checked"],
        )
        listing.entries = [ConfigEntry(**entry) for entry in data["entries"]]
        return listing

    def store(
        self,
        listing: ProjectListing,
        searchdir: list[str],
        meta_sig: str,
        configs_sig: str,
        read: list[str] = (),
        started: float | None = None,
    ) -> None:
        """Save a listing. The signatures are those taken *before* it was made,
        so a file edited while listing makes the next run list again; the files
        it read (`read`) are stamped now, and a listing that read a file modified
        since `started` (less RACY_SECONDS) is not saved."""
        if listing.error is not None:
            return
        stamps = [(path, file_stamp(path)) for path in read]
        if started is not None:
            for path, _ in stamps:
                try:
                    if os.stat(path).st_mtime > started - RACY_SECONDS:
                        return
                except OSError:
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
            "cwd": listing.cwd,
            "checked": listing.checked,
            "read": stamps,
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
