"""A project opened from disk: its meta, its configs, a warm template
environment, and the config's dynamic arguments.

    project = Project.open("examples/tutorials/project_composition")
    project.configs()          # ['counted_list.yaml', 'full_list.yaml', 'list.yaml']
    rendered = project.render("list.yaml")
    graph = project.load("list.yaml")
"""

from __future__ import annotations

import os
from pathlib import Path

from fgtui.engine.errors import FgError
from fgtui.engine.project.meta import ProjectMeta, load_meta, project_globals
from fgtui.engine.project.workspace import find_project_dir, require_project_dir

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing `typing` (`fgtui ls` does not need it)

if TYPE_CHECKING:
    from typing import Any

    from fgtui.engine.project.dynamic_args import DynamicArg


class Project:
    """A project directory and what its `meta.yaml` says about it."""

    def __init__(self, meta: ProjectMeta) -> None:
        self.meta = meta
        self._environments: dict[bool, Any] = {}  # by `markers`
        self._template_globals: dict[str, Any] | None = None

    @classmethod
    def open(cls, path: str | os.PathLike | None = None, quick: bool = False) -> "Project":
        """Open the project at or above `path` (default: the current directory);
        `quick` reads meta.yaml without Jinja where it can (the same result)."""
        return cls(load_meta(require_project_dir(path), quick=quick))

    @property
    def project_dir(self) -> Path:
        return self.meta.project_dir

    @property
    def name(self) -> str:
        return self.meta.name

    def globals(self) -> dict[str, Any]:
        return project_globals(self.meta.project_dir, self.meta.workspace_root)

    def template_globals(self) -> dict[str, Any]:
        """Every global a config's templates see, as reading them without Jinja sees
        them (project_globals's `static`): the engine's defaults and the project's
        (one dict per project, for reading; the environment makes its own)."""
        if self._template_globals is None:
            from fgtui.engine.config.jinja_globals import default_globals

            project = project_globals(self.meta.project_dir, self.meta.workspace_root, static=True)
            self._template_globals = {**default_globals(), **project}
        return self._template_globals

    def searchpath(self) -> list[str]:
        return [str(p) for p in self.meta.searchdir]

    def environment(self, markers: bool = True):
        """The project's TemplateEnvironment, created once so each template is
        parsed once however many configs are rendered; `markers`: with origin
        markers (TemplateEnvironment's), which `pp` does without."""
        environment = self._environments.get(markers)
        if environment is None:
            from fgtui.engine.config import TemplateEnvironment

            # The environment adds the config engine's default globals.
            environment = self._environments[markers] = TemplateEnvironment(
                self.searchpath(), globals=self.globals(), markers=markers
            )
        return environment

    # -- where things are -------------------------------------------------
    def templates_dir(self) -> Path:
        """The project's own template directory: the first search directory
        (where `project.yaml` lives and new templates are written)."""
        declared = self.meta.declared_searchdir
        return declared[0] if declared else self.project_dir / "templates"

    def config_dir(self) -> Path:
        return self.templates_dir() / self.meta.config_prefix

    def find_template(self, name: str) -> Path | None:
        """The file a template name resolves to (first search directory wins)."""
        for directory in self.meta.searchdir:
            path = os.path.join(directory, name)  # os.path, not Path: `ls` asks for every config
            if os.path.isfile(path):
                return Path(path)
        return None

    def templates(self) -> list[tuple[str, Path]]:
        """Every `*.yaml`/`*.jinja` template on the search path as (name, file);
        shadowed names keep the first file, as the loader would."""
        seen: dict[str, Path] = {}
        files: set[Path] = set()
        for directory in self.meta.searchdir:
            for path in sorted(_walk_templates(directory, (".yaml", ".jinja"))):
                name = path.relative_to(directory).as_posix()
                # A library nested in another search dir (templatelib/base
                # inside templatelib/) is listed under its shorter name only.
                if name in seen or path in files:
                    continue
                seen[name] = path
                files.add(path)
        return sorted(seen.items())

    def configs(self) -> list[str]:
        """Config names (relative to the config prefix), sorted."""
        names: set[str] = set()
        for directory in self.meta.searchdir:
            base = os.path.join(directory, self.meta.config_prefix)
            if os.path.isdir(base):
                names.update(_template_names(base, (".yaml",)))
        return sorted(names)

    def default_config(self) -> str | None:
        """meta's `default_config`, else the first config (as Forgather does)."""
        if self.meta.default_config:
            return self.meta.default_config
        configs = self.configs()
        return configs[0] if configs else None

    def resolve_config(self, name: str | None = None) -> str:
        """The template name (`configs/x.yaml`) for a config name or path.

        Accepts `x.yaml`, `x`, `configs/x.yaml`, or a path to a file; an
        unknown name is an error that suggests the nearest existing one.
        """
        if not name:
            name = self.default_config()
            if name is None:
                raise FgError(
                    f"project {self.name!r} has no configs under {self.config_dir()}",
                    hint="add one with `fgtui project new_config NAME`",
                )
        prefix = self.meta.config_prefix
        candidates = [name] if name.endswith((".yaml", ".yml")) else [name, name + ".yaml"]
        for candidate in candidates:
            for template in (f"{prefix}/{candidate}", candidate):
                if template.startswith(prefix + "/") and self.find_template(template) is not None:
                    return template
        as_path = Path(name).expanduser()
        if as_path.is_file():
            # A file off the search path still renders, by its path.
            relative = self._template_name_of(as_path.absolute())
            return relative if relative is not None else str(as_path.absolute())
        configs = self.configs()
        import difflib

        close = difflib.get_close_matches(name, configs, n=1, cutoff=0.5)
        raise FgError(
            f"project {self.name!r} has no config {name!r}",
            hint=f"did you mean {close[0]!r}?"
            if close
            else ("configs: " + ", ".join(configs) if configs else "the project has no configs yet"),
        )

    def _template_name_of(self, path: Path) -> str | None:
        path = Path(os.path.normpath(path))
        for directory in self.meta.searchdir:
            try:
                return path.relative_to(directory).as_posix()
            except ValueError:
                continue
        return None

    # -- rendering --------------------------------------------------------
    def render(self, config: str | None = None, variables: dict[str, Any] | None = None):
        """Render a config to YAML text (a `RenderedConfig`)."""
        return self.environment().render(self.resolve_config(config), variables or {})

    def load(self, config: str | None = None, variables: dict[str, Any] | None = None):
        """Render and parse a config into a `ConfigGraph` (nothing is built)."""
        from fgtui.engine.config import load_rendered

        return load_rendered(self.render(config, variables))

    def dynamic_args(self, config: str | None = None) -> list[DynamicArg]:
        """The options the config declares, for --help and the launch form."""
        graph = self.load(config)
        return specs_from_graph(graph, self.resolve_config(config))

    def __repr__(self) -> str:
        return f"Project({str(self.project_dir)!r})"


def specs_from_graph(graph, source: str) -> list[DynamicArg]:
    """A graph's `dynamic_args` target read as data into specs: nothing is imported or
    called, so `--help` of a stranger's project runs none of its code. A default only
    a call computes is shown as such; any other computed field is refused."""
    if "dynamic_args" not in graph.targets:
        return []
    from fgtui.engine.project.static_values import Unresolved, static_value, unresolved_in

    raw = static_value(graph.root["dynamic_args"])
    entries = list(raw.values()) if isinstance(raw, dict) else raw
    if isinstance(entries, list):
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                continue
            if isinstance(entry.get("default"), Unresolved):
                entry["default_note"] = entry.pop("default").note()
            for key, value in entry.items():
                computed = unresolved_in(value)
                if computed:
                    raise FgError(
                        f"{source}: dynamic_args[{index}].{key} is {computed[0].note()}",
                        hint="write option fields as plain values; only `default` may be computed",
                    )
    elif isinstance(raw, Unresolved):
        raise FgError(f"{source}: dynamic_args is {raw.note()}", hint="write dynamic_args as a !dlist of mappings")
    from fgtui.engine.project.dynamic_args import parse_specs

    return parse_specs(entries if isinstance(raw, dict) else raw, source)


def _template_names(root: str, suffixes: tuple[str, ...]) -> list[str]:
    """The names (relative to `root`, `/`-separated) of the files `_walk_templates` finds,
    without a Path for each (`ls` lists every project's configs)."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith((".", "__"))]
        prefix = dirpath[len(root) :].strip(os.sep).replace(os.sep, "/")
        prefix = prefix + "/" if prefix else ""
        found += [prefix + f for f in filenames if f.endswith(suffixes) and not f.startswith(".")]
    return found


def _walk_templates(root: Path, suffixes: tuple[str, ...]) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith((".", "__"))]
        found += [Path(dirpath, f) for f in filenames if f.endswith(suffixes) and not f.startswith(".")]
    return found


def load_dynamic_args(project_dir: str | None, config: str | None, markers: bool = True) -> list[DynamicArg] | None:
    """The dynamic args of the config that -p/-t select, or None when no
    config is selected (outside a project and no -t). `markers`: render with
    origin markers (see TemplateEnvironment), so errors in them name their template line."""
    from fgtui.engine.config import load_rendered
    from fgtui.engine.project.selection import resolve_config

    if not config and find_project_dir(project_dir or os.getcwd()) is None:
        return None
    environment, name, variables = resolve_config(project_dir, config, markers=markers)
    rendered = environment.render(name, variables)
    return specs_from_graph(load_rendered(rendered), name)
