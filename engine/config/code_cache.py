"""Compiled templates shared by every environment of a process and kept on disk.

Jinja compiles a template (lex, parse, generate Python, `compile`) in a few
milliseconds, and `fgtui ls` or `pp` would otherwise pay that for every
template in every process, and again for each project's environment. The
translated source of a file is the same everywhere (origin markers name
files by a hash of their path, see `sugar.file_key`), so its code object can
be reused: from memory within a process, and from a bytecode file under the
user cache directory across processes.

A cached entry is found by template name and file, and used only when the
checksum of (environment options, translated source) matches, so an edited
file or a different Jinja configuration simply compiles again. Unsaved text
(the editor's overlay) is compiled but never cached: it changes per
keystroke, and writing it would replace the saved file's entry.

    FGTUI_TEMPLATE_CACHE=0     keep nothing on disk (memory sharing stays)
    FGTUI_CACHE_DIR            where `templates-*` goes (else $XDG_CACHE_HOME/fgtui,
                               else ~/.cache/fgtui: the user cache dir, as for datasets)
"""

from __future__ import annotations

import os
import pickle
import sys
import threading
import time
import weakref
from collections import OrderedDict
from pathlib import Path

import jinja2
from jinja2.bccache import Bucket, BytecodeCache

MEMORY_ENTRIES = 1024  # code objects kept per process (a template is a few kB)
# Files are named by template path, so the directory grows with every path ever
# rendered (temporary directories included). Files not rewritten for MAX_AGE are
# deleted, checked at most once per PRUNE_EVERY; a deleted entry only costs a compile.
MAX_AGE_SECONDS = 30 * 24 * 3600
PRUNE_EVERY_SECONDS = 24 * 3600
DISABLE_VARIABLE = "FGTUI_TEMPLATE_CACHE"


def cache_dir() -> Path:
    """Where bytecode files go; the name changes with Jinja and Python, whose
    generated code and marshal format must match, and with fgtui, whose filters
    Jinja's optimizer may have called while compiling."""
    from fgtui import __version__

    root = os.environ.get("FGTUI_CACHE_DIR")
    if not root:
        root = os.path.join(os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache"), "fgtui")
    version = f"templates-{__version__}-jinja{jinja2.__version__}-py{sys.version_info[0]}{sys.version_info[1]}"
    return Path(root) / version


def disk_enabled() -> bool:
    return os.environ.get(DISABLE_VARIABLE, "1").strip().lower() not in ("0", "no", "off", "false")


_fingerprints: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _fingerprint(environment: jinja2.Environment) -> str:
    """What besides the source decides the compiled code: class, syntax options,
    and the filters and tests the optimizer may fold constants with. Taken once
    per environment: ours are configured before their first template loads."""
    found = _fingerprints.get(environment)
    if found is None:
        found = _fingerprints[environment] = _options(environment)
    return found


def _options(environment: jinja2.Environment) -> str:
    return repr(
        (
            type(environment).__module__,
            type(environment).__qualname__,
            environment.optimized,
            environment.block_start_string,
            environment.variable_start_string,
            environment.comment_start_string,
            environment.line_statement_prefix,
            environment.line_comment_prefix,
            environment.trim_blocks,
            environment.lstrip_blocks,
            environment.newline_sequence,
            environment.keep_trailing_newline,
            sorted(environment.extensions),
            sorted(environment.filters),
            sorted(environment.tests),
        )
    )


class TemplateCodeCache(BytecodeCache):
    """A Jinja bytecode cache: an LRU of code objects in memory over bytecode files on disk.

    `directory` None means `cache_dir()` at the time of each read or write,
    so the environment variables are honoured as they are then; `persist=False` keeps code
    in memory only. A template whose source is the editor's unsaved text
    (in the environment's overlay) is neither looked up nor stored.
    """

    def __init__(self, directory: Path | None = None, persist: bool = True) -> None:
        self.directory = directory
        self.persist = persist
        self._memory: OrderedDict[tuple[str, str], object] = OrderedDict()
        self._lock = threading.Lock()

    # -- Jinja's BytecodeCache interface -----------------------------------

    def get_bucket(self, environment, name, filename, source):  # noqa: D102 - Jinja's signature
        # A template translated with and without origin markers (TemplateEnvironment's
        # `markers`) is kept in two entries, so `pp` and the commands that map lines
        # back to templates do not replace each other's on disk.
        variant = getattr(environment, "fg_code_variant", "")
        bucket = Bucket(
            environment,
            self.get_cache_key(name, filename) + variant,
            self.get_source_checksum(_fingerprint(environment) + "\0" + source),
        )
        bucket.transient = _is_transient(environment, name)
        if not bucket.transient:
            self.load_bytecode(bucket)
        return bucket

    def load_bytecode(self, bucket: Bucket) -> None:
        with self._lock:
            code = self._memory.get((bucket.key, bucket.checksum))
            if code is not None:
                self._memory.move_to_end((bucket.key, bucket.checksum))
        if code is None and self._on_disk():
            try:
                with open(self._file(bucket.key), "rb") as handle:
                    bucket.load_bytecode(handle)
            except (OSError, EOFError, ValueError, TypeError, pickle.UnpicklingError):
                bucket.reset()  # missing or damaged: compile again and rewrite it
            code = bucket.code
            if code is not None:
                self._remember(bucket.key, bucket.checksum, code)
        bucket.code = code

    def dump_bytecode(self, bucket: Bucket) -> None:
        if getattr(bucket, "transient", False) or bucket.code is None:
            return
        self._remember(bucket.key, bucket.checksum, bucket.code)
        if not self._on_disk():
            return
        target = self._file(bucket.key)
        temporary = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(temporary, "wb") as handle:
                bucket.write_bytecode(handle)
            os.replace(temporary, target)  # readers see the old file or the new one, never half
            self._prune(target.parent)
        except OSError:
            # A read-only or full cache directory costs speed only; the code is in memory.
            try:
                os.unlink(temporary)
            except OSError:
                pass

    def clear(self) -> None:
        """Forget every entry, in memory and on disk."""
        with self._lock:
            self._memory.clear()
        directory = self._directory()
        if directory.is_dir():
            for path in directory.glob("*.cache"):
                try:
                    path.unlink()
                except OSError:
                    pass

    # -- internals ---------------------------------------------------------

    def _prune(self, directory: Path) -> None:
        stamp = directory / "last-pruned"
        now = time.time()
        try:
            if now - stamp.stat().st_mtime < PRUNE_EVERY_SECONDS:
                return
        except FileNotFoundError:
            pass
        stamp.touch()
        for path in directory.glob("*.cache"):
            try:
                if now - path.stat().st_mtime > MAX_AGE_SECONDS:
                    path.unlink()
            except OSError:
                continue  # another process pruned or rewrote it

    def _remember(self, key: str, checksum: str, code: object) -> None:
        with self._lock:
            self._memory[(key, checksum)] = code
            self._memory.move_to_end((key, checksum))
            while len(self._memory) > MEMORY_ENTRIES:
                self._memory.popitem(last=False)

    def _on_disk(self) -> bool:
        return self.persist and disk_enabled()

    def _directory(self) -> Path:
        return self.directory if self.directory is not None else cache_dir()

    def _file(self, key: str) -> Path:
        return self._directory() / f"{key}.cache"


def _is_transient(environment: jinja2.Environment, name: str) -> bool:
    local = getattr(environment, "fg_local", None)
    overlay = getattr(local, "overlay", None) if local is not None else None
    if not overlay:
        return False
    if name in overlay:
        return True
    # The unsaved text's inline templates (they may be replaced by a saved file's
    # of the same name, which is then not kept either: a cache miss, nothing more).
    file, parts = getattr(local, "overlay_parts", None) or (None, ())
    return any(part.name == name for part in parts)


_shared: TemplateCodeCache | None = None
_shared_lock = threading.Lock()


def shared_cache() -> TemplateCodeCache:
    """The cache every `TemplateEnvironment` of the process uses."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = TemplateCodeCache()
        return _shared
