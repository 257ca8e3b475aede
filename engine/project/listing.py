"""`fgtui ls`: every config of a project with its title and description.

Each config is rendered and parsed once, and its `meta` target is read as
data (engine/project/static_values.py): listing imports and calls nothing a
template names. A config that fails shows
`PARSE ERROR` and the one-line reason instead of stopping the listing.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from fgtui.engine.errors import FgError
from fgtui.engine.project.project import Project
from fgtui.engine.project.workspace import find_projects

NAME_WIDTH = 30


# Plain classes (not dataclasses): `ls` imports this module, and `dataclasses` costs a
# cold `ls -r` a tenth of its run.
class ConfigEntry:
    """One config as `ls` shows it."""

    def __init__(
        self,
        name: str,
        is_default: bool,
        title: str = "",
        description: str = "",
        config_class: str = "",
        error: str | None = None,
        exception: BaseException | None = None,
        files: list[str] | None = None,
    ) -> None:
        self.name, self.is_default = name, is_default
        self.title, self.description, self.config_class = title, description, config_class
        self.error, self.exception = error, exception
        self.files: list[str] = [] if files is None else files  # template files read for it

    def __repr__(self) -> str:
        return (
            f"ConfigEntry(name={self.name!r}, is_default={self.is_default!r}, title={self.title!r}, "
            f"description={self.description!r}, config_class={self.config_class!r}, error={self.error!r})"
        )

    def line(self) -> str:
        shown = f"[{self.name}]" if self.is_default else self.name
        if self.error is not None:
            return f"    {shown:<{NAME_WIDTH}} PARSE ERROR: {self.error}"
        return f"    {shown:<{NAME_WIDTH}} {self.title} : {self.description}"


class ProjectListing:
    """A project and its configs, or the reason it could not be opened."""

    def __init__(
        self,
        project_dir: Path,
        name: str = "",
        description: str = "",
        entries: list[ConfigEntry] | None = None,
        warnings: list[str] | None = None,
        error: str | None = None,
        exception: BaseException | None = None,
        cwd: str | None = None,
        checked: bool = True,
    ) -> None:
        self.project_dir, self.name, self.description = project_dir, name, description
        self.entries: list[ConfigEntry] = [] if entries is None else entries
        self.warnings: list[str] = [] if warnings is None else warnings
        self.error, self.exception = error, exception
        # The working directory a relative `searchdir` was resolved against (None: none was relative).
        self.cwd = cwd
        self.checked = checked  # every config rendered (not read quickly)

    def __repr__(self) -> str:
        return (
            f"ProjectListing(project_dir={self.project_dir!r}, name={self.name!r}, "
            f"entries={self.entries!r}, error={self.error!r})"
        )

    def header(self) -> str:
        if self.error is not None:
            return f"{self.project_dir} : PARSE ERROR: {self.error}"
        return f"{self.name} : {self.description}"

    def lines(self) -> list[str]:
        return [self.header(), *(entry.line() for entry in self.entries)]


def _one_line(error: BaseException) -> str:
    if isinstance(error, FgError):
        return error.one_line()
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def describe_config(project: Project, name: str, is_default: bool = False, quick: bool = False) -> ConfigEntry:
    """Render and parse one config and read its `meta` target as data (nothing a
    template names is imported or called; a computed value shows as unresolved).
    `quick` first tries reading the values without rendering (quick_listing.py),
    which does not check the rest of the config."""
    entry = ConfigEntry(name=name, is_default=is_default)
    if quick:
        from fgtui.engine.config.jinja_globals import default_filters
        from fgtui.engine.config.static_render import NotStatic
        from fgtui.engine.project.quick_listing import read_meta

        try:
            template = project.resolve_config(name)
            meta, entry.files = read_meta(project.searchpath(), project.template_globals(), default_filters(), template)
        except NotStatic:
            entry.files = []  # rendered below
        except FgError as error:  # what the render would report (a template it includes is missing)
            entry.error, entry.exception = error.one_line(), error
            return entry
        else:
            _fill(entry, meta, name)
            return entry
    from fgtui.engine.config.loader import load_rendered
    from fgtui.engine.project.static_values import static_value

    try:
        rendered = project.render(name)
        entry.files = list(rendered.templates)
        graph = load_rendered(rendered)
        meta = static_value(graph.root["meta"]) if "meta" in graph.targets else {}
        _fill(entry, meta if isinstance(meta, dict) else {}, name)
    except Exception as error:  # noqa: BLE001 - one bad config must not hide the others
        entry.error = _one_line(error)
        entry.exception = error
    return entry


def _fill(entry: ConfigEntry, meta: dict, name: str) -> None:
    entry.title = str(meta.get("config_name", "") or Path(name).stem)
    entry.description = str(meta.get("config_description", "") or "")
    entry.config_class = str(meta.get("config_class", "") or "")


def list_project(project: Project, quick: bool = False) -> ProjectListing:
    """Every config of the project; `quick` reads names without rendering where it can."""
    listing = ProjectListing(
        project.project_dir, project.name, project.meta.description, warnings=project.meta.warnings
    )
    listing.cwd = project.meta.relative_to_cwd
    listing.checked = not quick
    configs = project.configs()  # default_config() would walk the config directory again
    default = project.meta.default_config or (configs[0] if configs else None)
    for name in configs:
        listing.entries.append(describe_config(project, name, is_default=(name == default), quick=quick))
    return listing


def files_read(project: Project, listing: ProjectListing, signed: list[str]) -> list[str]:
    """The template files the listing read (meta.yaml's and each config's) that lie
    outside the directories in `signed`, whose every file the cache stamps anyway."""
    roots = tuple(os.path.join(os.path.realpath(d), "") for d in signed)
    seen = dict.fromkeys(project.meta.templates)  # real paths, as renders record them
    for entry in listing.entries:
        seen.update(dict.fromkeys(entry.files))
    seen.pop(os.path.realpath(project.project_dir / "meta.yaml"), None)  # stamped by meta_signature
    return [f for f in seen if not f.startswith(roots)]


def list_dir(
    project_dir: str | os.PathLike, cache=None, quick: bool = False, trees: dict[str, str] | None = None
) -> ProjectListing:
    """List the project at `project_dir`; a project that cannot be opened
    is listed with its error. `cache` is a `ListingCache` (or None); `quick`
    reads meta.yaml and config names without rendering where it can (and so
    does not check each config whole: see quick_listing.py); `trees` the
    cache's digests of template trees already stamped by this listing."""
    project_dir = Path(os.path.abspath(project_dir))
    trees = {} if trees is None else trees
    if cache is not None:
        from fgtui.engine.project.signatures import configs_signature, meta_signature, signed_meta_dirs

        cached = cache.load(project_dir, checked=not quick, trees=trees)
        if cached is not None:
            return cached
        meta_sig = meta_signature(project_dir, trees)
        started = time.time()
    try:
        project = Project.open(project_dir, quick=quick)
    except Exception as error:  # noqa: BLE001 - keep listing the other projects
        return ProjectListing(project_dir, error=_one_line(error), exception=error)
    searchdir = [str(p) for p in project.meta.declared_searchdir]
    if cache is not None:
        configs_sig = configs_signature(searchdir, trees)
    listing = list_project(project, quick=quick)
    if cache is not None:
        signed = searchdir + [str(d) for d in signed_meta_dirs(project_dir)]
        cache.store(listing, searchdir, meta_sig, configs_sig, files_read(project, listing, signed), started)
    return listing


def list_tree(root: str | os.PathLike, cache=None, quick: bool = False) -> list[ProjectListing]:
    """`ls -r`: every project at or below `root`."""
    from fgtui.engine.config.static_render import shared_files

    trees: dict[str, str] = {}  # shared libraries are stamped once per listing
    with shared_files():  # and looked up once
        return [list_dir(project_dir, cache, quick, trees) for project_dir in find_projects(root)]
