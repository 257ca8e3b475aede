"""A project's `meta.yaml`, rendered and read into a `ProjectMeta`.

`meta.yaml` is itself a template. It is rendered with the project directory,
the workspace's `forgather_workspace/` and the user's template directories on
its search path, and with `project_dir` and `workspace_root` defined, so it
can `-- extends "meta_defaults.yaml"` and fill the `[configs]` block, as in
Forgather. The rendered YAML is a plain mapping: `name`, `description`,
`config_prefix`, `default_config`, `searchdir`, `system_path`,
`nproc_per_node`; any other keys are kept in `ProjectMeta.extra`. As in
Forgather, `searchpath` is not a key: a meta.yaml writing it gets the
default search directory (or its `searchdir`) and a warning, and a relative
`searchdir` entry names a directory under the current working directory
(Forgather's `os.path.abspath`), with a warning: the project then finds
other templates depending on where it is opened from.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from fgtui.engine.errors import FgError, SourceLocation
from fgtui.engine.project.workspace import (
    META_NAME,
    WORKSPACE_DIR_NAME,
    find_workspace,
    fgtui_dir,
    user_template_dirs,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing `typing` (`fgtui ls` does not need it)
if TYPE_CHECKING:
    from typing import Any


_VERSIONED = ("torch", "transformers", "accelerate", "datasets", "fgtui")


def _installed_versions(names: tuple[str, ...]) -> dict[str, str]:
    """Versions of installed distributions, read from their `NAME-VERSION.dist-info`
    (or `.egg-info`) directory names: one listing per sys.path entry, where
    importlib.metadata parses every distribution's metadata (~0.1 s, a
    quarter of a `pp`). A package not installed is absent."""
    wanted = {name.replace("-", "_").lower(): name for name in names}
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            listing = os.listdir(entry or ".")
        except OSError:
            continue
        for item in listing:
            if not item.endswith((".dist-info", ".egg-info")):
                continue
            project, _, version = item.rsplit(".", 1)[0].partition("-")
            version = version.split("-py", 1)[0]  # egg-info names end in -pyX.Y
            name = wanted.get(project.replace("-", "_").lower())
            if name is not None and version and name not in found:
                found[name] = version
        if len(found) == len(wanted):
            break
    return {name: found[name] for name in names if name in found}


class _Versions(Mapping):
    """`versions` in templates: {"python": ..., "torch": ...}, looked up on
    first use, which `ls` should not pay for templates that never print
    versions."""

    _found: dict[str, str] | None = None

    def _load(self) -> dict[str, str]:
        if _Versions._found is None:
            import platform

            _Versions._found = {"python": platform.python_version(), **_installed_versions(_VERSIONED)}
        return _Versions._found

    def __getitem__(self, key: str) -> str:
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __repr__(self) -> str:
        return repr(self._load())


_VERSIONS = _Versions()


def project_globals(project_dir: Path, workspace_root: Path, static: bool = False) -> dict[str, Any]:
    """Template globals every config of a project sees (besides the config
    engine's defaults): where the project, its workspace and fgtui are,
    and where it runs. `static`: for reading templates without Jinja
    (config/static_render.py), where the host's name and `uname` stand as
    values not known (a template that uses them is rendered by Jinja), so
    that listing does not import `platform`."""
    if static:
        from fgtui.engine.config.static_render import UNKNOWN

        node = uname = UNKNOWN
    else:
        import platform

        uname = platform.uname()
        node = uname.node  # platform.node()
    return {
        "project_dir": str(project_dir),
        "workspace_root": str(workspace_root),
        "fgtui_dir": str(fgtui_dir()),
        "hostname": node,
        "uname": uname,
        "versions": _VERSIONS,
    }


class ProjectMeta:
    """What `meta.yaml` says about a project."""

    # A plain class, not a dataclass: `fgtui ls` opens every project, and importing
    # `dataclasses` costs it a tenth of its run.
    def __init__(
        self,
        *,
        project_dir: Path,
        workspace_root: Path,
        has_workspace: bool,
        name: str,
        description: str,
        config_prefix: str = "configs",
        default_config: str | None = None,
        searchdir: list[Path] | None = None,
        declared_searchdir: list[Path] | None = None,
        relative_to_cwd: str | None = None,
        templates: list[str] | None = None,
        missing_searchdirs: list[Path] | None = None,
        system_path: list[str] | None = None,
        nproc_per_node: int | None = None,
        extra: dict[str, Any] | None = None,
        notes: list[str] | None = None,
    ) -> None:
        self.project_dir, self.workspace_root, self.has_workspace = project_dir, workspace_root, has_workspace
        self.name, self.description = name, description
        self.config_prefix, self.default_config = config_prefix, default_config
        self.searchdir: list[Path] = searchdir or []
        self.declared_searchdir: list[Path] = declared_searchdir or []
        # The working directory relative `searchdir` entries were resolved against (None: none was relative).
        self.relative_to_cwd = relative_to_cwd
        self.templates: list[str] = templates or []  # the files rendering meta.yaml read
        self.missing_searchdirs: list[Path] = missing_searchdirs or []
        self.system_path: list[str] = system_path or []
        self.nproc_per_node = nproc_per_node
        self.extra: dict[str, Any] = extra or {}
        self.notes: list[str] = notes or []

    def __repr__(self) -> str:
        return f"ProjectMeta(project_dir={self.project_dir!r}, name={self.name!r}, searchdir={self.searchdir!r})"

    @property
    def warnings(self) -> list[str]:
        return self.notes + [
            f"{self.project_dir / META_NAME}: search directory {str(p)!r} does not exist"
            for p in self.missing_searchdirs
        ]


def meta_searchpath(project_dir: Path, workspace_root: Path | None) -> list[str]:
    paths = [str(project_dir)]
    if workspace_root is not None:
        paths.append(str(workspace_root / WORKSPACE_DIR_NAME))
    paths += [str(p) for p in user_template_dirs()]
    return paths


def load_meta(project_dir: str | os.PathLike, quick: bool = False, text: str | None = None) -> ProjectMeta:
    """Render and read `project_dir/meta.yaml`.

    Without an enclosing workspace, `workspace_root` is the project itself
    (Forgather refuses such projects; we open them when their meta.yaml
    does not need the workspace's files). `quick` first tries rendering it
    without Jinja (config/static_render.py: the same text, or Jinja renders).
    `text` is read as the meta.yaml of a project about to be created there
    (what its search path will be).
    """
    project_dir = Path(os.path.abspath(project_dir))
    meta_path = project_dir / META_NAME
    if text is None and not meta_path.is_file():
        raise FgError(
            f"{str(project_dir)!r} is not a project (it has no meta.yaml)",
            hint="pass a project directory, or create one with `fgtui project create`",
        )
    workspace = find_workspace(project_dir)
    workspace_root = workspace if workspace is not None else project_dir
    searchpath = meta_searchpath(project_dir, workspace)
    if quick and text is None:
        from fgtui.engine.config.jinja_globals import default_filters, default_globals
        from fgtui.engine.config.static_render import NotStatic, StaticRenderer

        variables = project_globals(project_dir, workspace_root, static=True)
        renderer = StaticRenderer(searchpath, {**default_globals(), **variables}, default_filters())
        try:
            text = renderer.render(META_NAME)
        except NotStatic:
            pass
        else:
            meta = _to_meta(_parse_yaml(text, meta_path), project_dir, workspace_root, workspace is not None, meta_path)
            meta.templates = list(renderer.loader.files)
            return meta
    from fgtui.engine.config import TemplateEnvironment

    environment = TemplateEnvironment(searchpath, globals=project_globals(project_dir, workspace_root))
    try:
        rendered = environment.render(META_NAME) if text is None else environment.render_string(text, name=META_NAME)
    except FgError as error:
        if error.location is None:
            error.location = SourceLocation(str(meta_path))
        if not error.hint and workspace is None:
            error.hint = "this project is in no workspace (no forgather_workspace/ above it)"
        raise
    data = _parse_yaml(rendered.text, meta_path)
    meta = _to_meta(data, project_dir, workspace_root, workspace is not None, meta_path)
    meta.templates = list(rendered.templates)
    return meta


def _parse_yaml(text: str, path: Path) -> dict[str, Any]:
    from fgtui.engine.config import plain_yaml

    try:
        return plain_yaml.parse(text)  # most meta.yaml files; the same values PyYAML reads
    except plain_yaml.NotPlain:
        pass
    from fgtui.engine.config.yaml_module import import_yaml

    yaml = import_yaml()

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(text, Loader=loader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise FgError(
            f"meta.yaml does not render to valid YAML: {problem}",
            location=SourceLocation(str(path), mark.line + 1 if mark else None, mark.column + 1 if mark else None),
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise FgError("meta.yaml must render to a mapping", location=SourceLocation(str(path)))
    return data


def _to_meta(
    data: dict[str, Any], project_dir: Path, workspace_root: Path, has_workspace: bool, meta_path: Path
) -> ProjectMeta:
    def text(key: str, default: str | None) -> str | None:
        value = data.get(key, default)
        if value is not None and not isinstance(value, str):
            raise FgError(
                f"meta.yaml: {key!r} must be a string, got {value!r}", location=SourceLocation(str(meta_path))
            )
        return value

    # Forgather reads `searchdir` only; a `searchpath` key is ignored there, so here too.
    notes: list[str] = []
    if "searchpath" in data:
        notes.append(
            f"{meta_path}: 'searchpath' is not read (Forgather reads 'searchdir'); "
            + (
                "'searchdir' is used"
                if "searchdir" in data
                else f"the default search directory {str(project_dir / 'templates')!r} is used"
            )
            + " — rename the key to 'searchdir'"
        )
    raw_dirs = data.get("searchdir")
    if raw_dirs is None:
        raw_dirs = [str(project_dir / "templates")]
    if isinstance(raw_dirs, str):
        raw_dirs = [raw_dirs]
    if not isinstance(raw_dirs, list):
        raise FgError(
            f"meta.yaml: 'searchdir' must be a list of directories, got {raw_dirs!r}",
            hint="write searchdir: [\"{{ joinpath(project_dir, 'templates') }}\", ...]",
            location=SourceLocation(str(meta_path)),
        )
    # Forgather takes each entry through os.path.abspath: a relative one names a
    # directory under the current working directory, not under the project.
    declared: list[Path] = []
    relative = [str(entry) for entry in raw_dirs if not os.path.isabs(str(entry))]
    for entry in raw_dirs:
        path = Path(os.path.abspath(str(entry)))
        if path not in declared:
            declared.append(path)
    if relative:
        cwd = os.getcwd()
        notes.append(
            f"{meta_path}: searchdir {', '.join(repr(r) for r in relative)} "
            f"{'is' if len(relative) == 1 else 'are'} relative, so resolved against the current directory "
            f"{cwd!r} (as Forgather does), not the project — write "
            f"\"{{{{ joinpath(project_dir, '{relative[0]}') }}}}\" to search the project's directory"
        )
    searchdir = [path for path in declared if path.is_dir()]
    missing = [path for path in declared if not path.is_dir()]
    system_path = data.get("system_path") or []
    if isinstance(system_path, str):
        system_path = [system_path]
    nproc = data.get("nproc_per_node")
    known = {
        "name",
        "description",
        "config_prefix",
        "default_config",
        "searchdir",
        "searchpath",
        "system_path",
        "nproc_per_node",
    }
    return ProjectMeta(
        project_dir=project_dir,
        workspace_root=workspace_root,
        has_workspace=has_workspace,
        name=text("name", None) or project_dir.name,
        description=text("description", None) or "",
        config_prefix=(text("config_prefix", "configs") or "configs").strip("/"),
        default_config=text("default_config", None) or None,
        searchdir=searchdir,
        declared_searchdir=declared,
        missing_searchdirs=missing,
        system_path=[os.path.normpath(project_dir / str(p)) for p in system_path],
        nproc_per_node=int(nproc) if nproc is not None else None,
        extra={k: v for k, v in data.items() if k not in known},
        notes=notes,
        relative_to_cwd=os.getcwd() if relative else None,
    )
