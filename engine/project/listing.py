"""`fgtui ls`: every config of a project with its title and description.

Each config is rendered and parsed once, and its `meta` target is read as
data (engine/project/static_values.py): listing imports and calls nothing a
template names. A config that fails shows
`PARSE ERROR` and the one-line reason instead of stopping the listing.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from fgtui.engine.errors import FgError
from fgtui.engine.project.project import Project
from fgtui.engine.project.workspace import find_projects

NAME_WIDTH = 30


@dataclass
class ConfigEntry:
    """One config as `ls` shows it."""

    name: str
    is_default: bool
    title: str = ""
    description: str = ""
    config_class: str = ""
    error: str | None = None
    exception: BaseException | None = field(default=None, repr=False)
    files: list[str] = field(default_factory=list, repr=False)  # template files read for it

    def line(self) -> str:
        shown = f"[{self.name}]" if self.is_default else self.name
        if self.error is not None:
            return f"    {shown:<{NAME_WIDTH}} PARSE ERROR: {self.error}"
        return f"    {shown:<{NAME_WIDTH}} {self.title} : {self.description}"


@dataclass
class ProjectListing:
    """A project and its configs, or the reason it could not be opened."""

    project_dir: Path
    name: str = ""
    description: str = ""
    entries: list[ConfigEntry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    exception: BaseException | None = field(default=None, repr=False)
    # The working directory a relative `searchdir` was resolved against (None: none was relative).
    cwd: str | None = None

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


def describe_config(project: Project, name: str, is_default: bool = False) -> ConfigEntry:
    """Render and parse one config and read its `meta` target as data (nothing a
    template names is imported or called; a computed value shows as unresolved)."""
    from fgtui.engine.config.loader import load_rendered
    from fgtui.engine.project.static_values import static_value

    entry = ConfigEntry(name=name, is_default=is_default)
    try:
        rendered = project.render(name)
        entry.files = list(rendered.templates)
        graph = load_rendered(rendered)
        meta = static_value(graph.root["meta"]) if "meta" in graph.targets else {}
        if not isinstance(meta, dict):
            meta = {}
        entry.title = str(meta.get("config_name", "") or Path(name).stem)
        entry.description = str(meta.get("config_description", "") or "")
        entry.config_class = str(meta.get("config_class", "") or "")
    except Exception as error:  # noqa: BLE001 - one bad config must not hide the others
        entry.error = _one_line(error)
        entry.exception = error
    return entry


def list_project(project: Project) -> ProjectListing:
    listing = ProjectListing(
        project.project_dir, project.name, project.meta.description, warnings=project.meta.warnings
    )
    listing.cwd = project.meta.relative_to_cwd
    default = project.default_config()
    for name in project.configs():
        listing.entries.append(describe_config(project, name, is_default=(name == default)))
    return listing


def files_read(project: Project, listing: ProjectListing, signed: list[str]) -> list[str]:
    """The template files the listing read (meta.yaml's and each config's) that lie
    outside the directories in `signed`, whose every file the cache stamps anyway."""
    roots = [os.path.join(os.path.realpath(d), "") for d in signed]
    seen = dict.fromkeys(project.meta.templates)
    for entry in listing.entries:
        seen.update(dict.fromkeys(entry.files))
    seen.pop(os.path.realpath(project.project_dir / "meta.yaml"), None)  # stamped by meta_signature
    return [f for f in seen if not any(os.path.realpath(f).startswith(root) for root in roots)]


def list_dir(project_dir: str | os.PathLike, cache=None) -> ProjectListing:
    """List the project at `project_dir`; a project that cannot be opened
    is listed with its error. `cache` is a `ListingCache` (or None)."""
    project_dir = Path(os.path.abspath(project_dir))
    if cache is not None:
        from fgtui.engine.project.listing_cache import configs_signature, meta_signature, signed_meta_dirs

        cached = cache.load(project_dir)
        if cached is not None:
            return cached
        meta_sig = meta_signature(project_dir)
        started = time.time()
    try:
        project = Project.open(project_dir)
    except Exception as error:  # noqa: BLE001 - keep listing the other projects
        return ProjectListing(project_dir, error=_one_line(error), exception=error)
    searchdir = [str(p) for p in project.meta.declared_searchdir]
    if cache is not None:
        configs_sig = configs_signature(searchdir)
    listing = list_project(project)
    if cache is not None:
        signed = searchdir + [str(d) for d in signed_meta_dirs(project_dir)]
        cache.store(listing, searchdir, meta_sig, configs_sig, files_read(project, listing, signed), started)
    return listing


def list_tree(root: str | os.PathLike, cache=None) -> list[ProjectListing]:
    """`ls -r`: every project at or below `root`."""
    return [list_dir(project_dir, cache) for project_dir in find_projects(root)]
