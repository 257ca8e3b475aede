"""The long-lived template environment: search path, sugar, sandboxed Jinja.

One `TemplateEnvironment` serves many renders; compiled templates stay
cached and are recompiled only when their file changes, which keeps the
TUI's re-render per keystroke fast. Compiled code is also shared between
environments and processes (`code_cache`). Rendering is sandboxed, undefined
variables are errors, and nothing here imports an ML library.
"""

from __future__ import annotations

import functools
import os
import threading
from collections import deque
from typing import Any, Callable

from jinja2 import BaseLoader, StrictUndefined, TemplateNotFound
from jinja2.sandbox import SandboxedEnvironment

from fgtui.engine.config import errors
from fgtui.engine.config.jinja_globals import default_filters, default_globals
from fgtui.engine.config.code_cache import TemplateCodeCache, shared_cache
from fgtui.engine.config.index import InlineIndex, read_template_file
from fgtui.engine.config.split import InlineTemplate, split_templates
from fgtui.engine.config.sugar import file_key, preprocess, strip_markers
from fgtui.engine.errors import FgError
from fgtui.engine.record import Record

# Each project's environment translates the shared library templates (config_type.yaml, ...)
# again; the translation depends only on (text, file key, first line).
_translate = functools.lru_cache(maxsize=256)(preprocess)


class RenderedConfig(Record):
    """The outcome of rendering one config.

    `text` is the preprocessed YAML; `templates` every template file pulled
    in (root first); `source` the root template's file; `line_map` the
    template (file, line) of each line of `text`; `edges` (parent, child)
    template-name pairs for extends, include and import.
    """

    _fields = ("text", "templates", "source", "name", "line_map", "edges", "files_by_name", "warnings")

    def __init__(
        self,
        text: str,
        templates: list[str],
        source: str,
        name: str = "",
        line_map: list[tuple[str, int] | None] | None = None,
        edges: list[tuple[str, str]] | None = None,
        files_by_name: dict[str, str] | None = None,
        warnings: list[str] | None = None,
    ) -> None:
        self.text = text
        self.templates = templates
        self.source = source
        self.name = name
        self.line_map: list[tuple[str, int] | None] = [] if line_map is None else line_map
        self.edges: list[tuple[str, str]] = [] if edges is None else edges
        self.files_by_name: dict[str, str] = {} if files_by_name is None else files_by_name
        self.warnings: list[str] = [] if warnings is None else warnings

    def chain_to(self, file: str | None) -> list[str]:
        """Template names from the root to the first template living in `file`."""
        return _chain(self.name, self.edges, self.files_by_name, file)


def _chain(root: str, edges: list[tuple[str, str]], files: dict[str, str], file: str | None) -> list[str]:
    if file is None or files.get(root) == file:
        return []
    children: dict[str, list[str]] = {}
    for parent, child in edges:
        children.setdefault(parent, []).append(child)
    previous: dict[str, str | None] = {root: None}
    queue = deque([root])
    while queue:
        name = queue.popleft()
        if files.get(name) == file:
            path = []
            step: str | None = name
            while step is not None:
                path.append(step)
                step = previous[step]
            return list(reversed(path))
        for child in children.get(name, []):
            if child not in previous:
                previous[child] = name
                queue.append(child)
    return []


class _Trace:
    def __init__(self) -> None:
        self.edges: list[tuple[str, str]] = []
        self.names: list[str] = []

    def record(self, parent: str | None, name: str) -> None:
        if name not in self.names:
            self.names.append(name)
        if parent is not None and (parent, name) not in self.edges:
            self.edges.append((parent, name))


class _Registry:
    """Inline templates registered during one render, as Forgather registers them.

    Forgather registers a file's inline templates when it loads the file,
    a later registration of a name replaces an earlier one, and a
    registered name is found before any file of that name. So which of two
    definitions a config gets depends on the order its templates load in:
    `used` notes each name looked up while two loaded files define it.
    """

    def __init__(self) -> None:
        self.names: dict[str, tuple[str, InlineTemplate]] = {}
        self.loaded: set[str] = set()
        self.shadowed: dict[str, list[tuple[str, InlineTemplate]]] = {}
        self.warnings: list[str] = []
        self.paths: dict[str, str | None] = {}  # template name -> file on the search path

    def register(self, real: str, parts: list[InlineTemplate]) -> None:
        if real in self.loaded:
            return
        self.loaded.add(real)
        for part in parts:
            earlier = self.names.get(part.name)
            if earlier is not None and earlier[0] != real:
                self.shadowed.setdefault(part.name, []).append(earlier)
            self.names[part.name] = (real, part)

    def used(self, name: str) -> None:
        earlier = self.shadowed.get(name)
        if not earlier:
            return
        real, part = self.names[name]
        first_file, first_part = earlier[-1]
        message = (
            f"inline template '{name}' is defined in {first_file}:{first_part.first_line - 1} and "
            f"{real}:{part.first_line - 1}; the one loaded last ({real}) is used, as in Forgather "
            f"— rename one of them if the other was meant"
        )
        if message not in self.warnings:
            self.warnings.append(message)


class _Jinja(SandboxedEnvironment):
    """Jinja that records which template pulled in which (for chains and trefs),
    and registers each loaded file's inline templates in load order."""

    fg_local: threading.local  # per-thread render state: `trace`, `overlay`, `registry`
    fg_owner: "TemplateEnvironment"
    fg_code_variant: str  # told apart in code_cache: "" with origin markers, "-plain" without

    def get_template(self, name, parent=None, globals=None):  # noqa: A002 - Jinja's signature
        trace = getattr(self.fg_local, "trace", None)
        if trace is not None and isinstance(name, str):
            trace.record(parent, name)
            self.fg_owner._note_load(name)
        return super().get_template(name, parent, globals)


class _Loader(BaseLoader):
    def __init__(self, owner: "TemplateEnvironment") -> None:
        self.owner = owner

    def get_source(self, environment, template):
        return self.owner._source(template)


def _uptodate(path: str) -> Callable[[], bool]:
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError:
        return lambda: False

    def check() -> bool:
        try:
            return os.stat(path).st_mtime_ns == stamp
        except OSError:
            return False

    return check


class TemplateEnvironment:
    """Renders configs from templates on `searchpath` (first match wins).

    `globals` are added to the default globals (paths, time, env, ...).
    `code_cache` holds compiled templates (default: the process's shared one).
    `markers`: translate templates with origin markers, which map each line of
    the rendered text to its template line (`RenderedConfig.line_map`, the
    origins of graph nodes). Without them a render yields the same text and
    the same render errors (those are located from Jinja's frames), no line
    map, and costs a cold `fgtui pp` 5% less: the markers make the source
    Jinja compiles about a third larger.
    """

    def __init__(
        self,
        searchpath: list[str],
        globals: dict[str, Any] | None = None,  # noqa: A002
        code_cache: TemplateCodeCache | None = None,
        markers: bool = True,
    ) -> None:
        self.markers = markers
        self.searchpath = [os.path.abspath(p) for p in searchpath if os.path.isdir(p)]
        self._real_roots = [os.path.realpath(p) for p in self.searchpath]
        self._index = InlineIndex(self.searchpath)
        self._files: dict[str, str] = {}  # file key in origin markers -> file
        self._file_of: dict[str, str] = {}
        # No constant folding: it makes compiling (the per-keystroke cost) ~8% slower for
        # no measurable render gain, and a folded filter call would bake the filter's
        # output into compiled code that `code_cache` keeps on disk.
        self._jinja = _Jinja(
            loader=_Loader(self),
            undefined=StrictUndefined,
            trim_blocks=True,
            auto_reload=True,
            optimized=False,
            bytecode_cache=code_cache if code_cache is not None else shared_cache(),
        )
        # Render state is per thread, so a UI worker and the main thread can share one environment.
        self._jinja.fg_local = self._local = threading.local()
        self._jinja.fg_owner = self
        self._jinja.fg_code_variant = "" if markers else "-plain"  # code_cache keeps both
        self._lock = threading.Lock()  # guards the index and the file-id table
        self._jinja.globals.update(default_globals())
        self._jinja.globals.update(globals or {})
        self._jinja.filters.update(default_filters())

    @property
    def globals(self) -> dict[str, Any]:
        """The globals every template sees; the project layer adds `project_dir` here."""
        return self._jinja.globals

    # -- public API --------------------------------------------------------

    def render(self, name_or_path: str, variables: dict[str, Any] | None = None) -> RenderedConfig:
        """Render a template by search-path name or by file path."""
        return self._render(self.template_name(name_or_path), variables)

    def render_string(
        self, text: str, variables: dict[str, Any] | None = None, name: str = "<string>"
    ) -> RenderedConfig:
        """Render unsaved text as if it were template `name` (a path or search-path name).

        The text may extend and include templates on the search path, and
        its inline templates take precedence over those indexed on disk.
        """
        template_name = self.template_name(name)
        found = self._find_file(template_name)
        file = os.path.realpath(found) if found else name
        main, parts = split_templates(text.replace("\r\n", "\n"))
        # The text's inline templates are registered when the root loads, as the saved
        # file's would be: a file loaded later that defines a name again replaces it.
        self._local.overlay = {template_name: (main, file, 1)}
        self._local.overlay_parts = (file, parts)
        try:
            return self._render(template_name, variables)
        finally:
            self._local.overlay = {}
            self._local.overlay_parts = None

    def invalidate(self, path: str) -> None:
        """Forget what is cached for `path` (changes are also noticed by mtime)."""
        real = os.path.realpath(path)
        with self._lock:
            self._index.invalidate(real)
        cache = self._jinja.cache
        if cache is not None:
            for key, template in list(cache.items()):
                if template.filename == real:
                    del cache[key]

    def template_name(self, name_or_path: str) -> str:
        """The search-path name of a template file, or the absolute path if it lies outside."""
        if os.path.isfile(name_or_path) and (os.path.isabs(name_or_path) or not self._find_file(name_or_path)):
            real = os.path.realpath(name_or_path)
            for root in self._real_roots:
                rel = os.path.relpath(real, root)
                if not rel.startswith(".."):
                    return rel.replace(os.sep, "/")
            return real
        return name_or_path

    def inline_template_names(self) -> list[str]:
        with self._lock:
            self._index.refresh()
            return self._index.names()

    def translated_source(self, name: str) -> str:
        """A template after the line sugar, as Jinja sees it (for `pp --debug`)."""
        source, _, _ = self._source(name)
        text, _ = strip_markers(source, self._files)
        return text

    # -- internals ---------------------------------------------------------

    def _marker_id(self, path: str) -> str | None:
        """The file id origin markers name `path` by, None without markers; the file is
        known either way (render errors are located in the files it knows)."""
        key = self._file_id(path)
        return key if self.markers else None

    def _file_id(self, path: str) -> str:
        key = file_key(path)
        with self._lock:
            known = self._files.setdefault(key, path)
        if known != path:
            raise FgError(
                f"template files {known} and {path} have the same marker key {key}",
                hint="rename one of them (a 48-bit hash collision)",
            )
        return key

    def _find_file(self, name: str) -> str | None:
        # One render asks for the same names many times (every include, every
        # registry check); the files on the search path do not change within it.
        registry: _Registry | None = getattr(self._local, "registry", None)
        if registry is None:
            return self._search(name)
        if name not in registry.paths:
            registry.paths[name] = self._search(name)
        return registry.paths[name]

    def _search(self, name: str) -> str | None:
        if os.path.isabs(name):
            return name if os.path.isfile(name) else None
        for root in self.searchpath:
            path = os.path.join(root, name)
            if os.path.isfile(path):
                return path
        return None

    def _note_load(self, name: str) -> None:
        """Before Jinja loads `name`: register the inline templates of the file it names."""
        registry: _Registry | None = getattr(self._local, "registry", None)
        if registry is None:
            return
        overlay = getattr(self._local, "overlay", None) or {}
        if name in overlay:
            file, parts = self._local.overlay_parts
            registry.register(file, parts)
            return
        if name in registry.names:
            registry.used(name)
            return
        path = self._find_file(name)
        if path is None:
            return
        real = os.path.realpath(path)
        if real not in registry.loaded:
            with self._lock:
                parts = self._index.parts_of(real)
            registry.register(real, parts)

    def _source(self, name: str) -> tuple[str, str, Callable[[], bool]]:
        overlay = getattr(self._local, "overlay", None) or {}
        if name in overlay:
            text, file, first_line = overlay[name]
            self._file_of[name] = file

            def unchanged() -> bool:  # re-rendering unedited text reuses the compiled template
                current = getattr(self._local, "overlay", None) or {}
                return name in current and current[name] == (text, file, first_line)

            return _translate(text, self._marker_id(file), first_line), file, unchanged
        registry: _Registry | None = getattr(self._local, "registry", None)
        found = registry.names.get(name) if registry is not None else None
        if found is None and self._find_file(name) is None:
            # Not registered by a file this config loaded: fgtui also finds an inline
            # template whose file is not loaded (yet), when one file defines it. The
            # file whose unsaved text is rendered is loaded, with the text's templates.
            with self._lock:
                found = self._index.lookup(name, exclude=self._overlay_file())
        if found is not None:
            real, part = found
            self._file_of[name] = real
            return (
                _translate(part.text, self._marker_id(real), part.first_line),
                real,
                self._inline_saved(name, real, part),
            )
        path = self._find_file(name)
        if path is None:
            raise TemplateNotFound(name)
        real = os.path.realpath(path)
        check = self._saved(name, real)
        main, _ = split_templates(read_template_file(real))
        self._file_of[name] = real
        return _translate(main, self._marker_id(real), 1), real, check

    def _overlay_file(self) -> str | None:
        parts = getattr(self._local, "overlay_parts", None)
        return parts[0] if parts else None

    def _inline_saved(self, name: str, real: str, part: InlineTemplate) -> Callable[[], bool]:
        """Up to date while its file is unchanged and the render asking for `name`
        resolves it to the same definition (another config may register another)."""
        saved = self._saved(name, real)

        def check() -> bool:
            registry: _Registry | None = getattr(self._local, "registry", None)
            current = registry.names.get(name) if registry is not None else None
            if current is None:
                if self._find_file(name) is not None:
                    return False
                with self._lock:
                    try:
                        current = self._index.lookup(name, exclude=self._overlay_file())
                    except FgError:
                        return False
            return current is not None and current[0] == real and current[1] == part and saved()

        return check

    def _saved(self, name: str, real: str) -> Callable[[], bool]:
        """Up to date while the file is unchanged and no unsaved text stands in
        for `name`: Jinja caches by name, and the editor's text must not be
        answered with the compiled saved file (nor the reverse)."""
        file_unchanged = _uptodate(real)

        def check() -> bool:
            overlay = getattr(self._local, "overlay", None)
            return not (overlay and name in overlay) and file_unchanged()

        return check

    def _render(self, name: str, variables: dict[str, Any] | None) -> RenderedConfig:
        with self._lock:
            self._index.refresh()
        trace = _Trace()
        trace.record(None, name)
        self._local.trace = trace
        registry = self._local.registry = _Registry()
        self._note_load(name)
        try:
            template = self._jinja.get_template(name)
            raw = template.render(variables or {})
        except FgError as error:
            frame = errors.template_frame(error, self._files.values())
            if not error.chain and frame:
                error.chain = _chain(name, trace.edges, self._file_of, frame[0])
            raise
        except Exception as exc:  # anything a template raises is the template's problem
            frame = errors.template_frame(exc, self._files.values())
            failing = frame[0] if frame else getattr(exc, "filename", None)
            chain = _chain(name, trace.edges, self._file_of, failing)
            raise errors.from_render_error(exc, self._files.values(), chain, self.searchpath) from exc
        finally:
            self._local.trace = None
            self._local.registry = None
        text, line_map = strip_markers(raw, self._files)
        files_by_name = {n: self._file_of[n] for n in trace.names if n in self._file_of}
        templates: list[str] = []
        for n in trace.names:
            file = files_by_name.get(n)
            if file and file not in templates:
                templates.append(file)
        return RenderedConfig(
            text=text,
            templates=templates,
            source=self._file_of.get(name, name),
            name=name,
            line_map=line_map,
            edges=trace.edges,
            files_by_name=files_by_name,
            warnings=registry.warnings,
        )
