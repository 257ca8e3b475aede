"""Creating workspaces, projects and configs (`ws create`, `project create`,
`project new_config`).

Every function refuses to write onto an existing path: nothing a user wrote
is ever overwritten. Files are written only after every check has passed, so
a refused command leaves the disk as it was.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from fgtui.engine.errors import FgError
from fgtui.engine.project.workspace import (
    META_NAME,
    WORKSPACE_DIR_NAME,
    bundled_templatelib,
    find_workspace,
)

_BASE_DIRECTORIES = """\
## Paths shared by meta.yaml and by every config in this workspace.
## Anchor paths to a known place (workspace_root, project_dir,
## user_home_dir()) so configs work from any current directory.

## Where fgtui (and its templatelib/) is installed. ns.forgather_dir names the
## same place so that templates written for Forgather keep working.
{fgtui_dir_line}
-- set ns.forgather_dir = ns.fgtui_dir

## Your own locations go here; config_type.yaml only sets those not set yet:
## -- set ns.models_dir = joinpath(user_home_dir(), "models")
## -- set ns.datasets_dir = joinpath(user_home_dir(), "datasets")
"""

_META_DEFAULTS_HEAD = """\
-- set ns = namespace()

## Paths common to meta.yaml and the configs.
-- include "base_directories.yaml"
-- set ns.templatelib_dir = joinpath(ns.fgtui_dir, "templatelib")

## Template search path. It is split in two blocks so that a project's
## meta.yaml can prepend to or append to either part.
searchdir:
-- block searchdir_project
    - "{{ joinpath(project_dir, 'templates') }}"
-- endblock searchdir_project

-- block searchdir_common
"""

_META_DEFAULTS_TAIL = """\
-- endblock searchdir_common

-- block configs
## A project's meta.yaml sets name, description, config_prefix, default_config.
-- endblock configs
"""

_PROJECT_META = """\
-- extends "meta_defaults.yaml"

[configs]
name: {name}
description: {description}
config_prefix: {config_prefix}
default_config: {default_config}
"""

# Without an enclosing workspace there is no meta_defaults.yaml to extend, so
# the project names its search path itself (Forgather refuses such projects).
_STANDALONE_META = """\
## This project belongs to no workspace, so it sets its search path itself.
searchdir:
    - "{{{{ joinpath(project_dir, 'templates') }}}}"
    - "{{{{ joinpath(fgtui_dir, 'templatelib', 'base') }}}}"
name: {name}
description: {description}
config_prefix: {config_prefix}
default_config: {default_config}
"""

_NEW_CONFIG = """\
-- extends {parent}

[config_metadata]
    == super()
    -- set ns.config_name = {title}
    -- set ns.config_description = {description}
"""

_NEW_BASE_CONFIG = """\
-- extends 'config_type.yaml'

[config_metadata]
    == super()
    -- set ns.config_name = {title}
    -- set ns.config_description = {description}

[main_body]
## Definitions shared by the main output go here.

[main_output]
main: "Replace with what this config builds"
"""

# When even config_type.yaml is not on the search path, a config that
# needs nothing at all.
_NEW_BARE_CONFIG = """\
-- set ns = namespace()
-- set ns.config_name = {title}
-- set ns.config_description = {description}

meta: &meta_output !dict:@meta
    config_name: "{{{{ ns.config_name }}}}"
    config_description: "{{{{ ns.config_description }}}}"
    config_class: "type"
    project_dir: "{{{{ project_dir }}}}"
    workspace_root: "{{{{ workspace_root }}}}"

dynamic_args: !dlist
    null: ~

main: "Replace with what this config builds"
"""


def _yaml_str(text: str) -> str:
    """A double-quoted YAML scalar that Jinja leaves alone."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    # Braces would open Jinja expressions in meta.yaml, itself a template.
    escaped = re.sub(r"[{}]", lambda m: "{{ '" + m.group(0) + "' }}", escaped)
    return f'"{escaped}"'


def _jinja_str(text: str) -> str:
    return repr(str(text))


def dir_name_for(name: str) -> str:
    """Forgather's rule: lower case, spaces to underscores, dots dropped."""
    slug = name.strip().lower().replace(" ", "_").replace(".", "")
    slug = re.sub(r"[^\w\-]", "", slug)
    if not slug:
        raise FgError(f"cannot make a directory name from {name!r}", hint="pass a name with letters or digits")
    return slug


def _refuse_existing(path: Path, what: str) -> None:
    if path.exists() or path.is_symlink():
        raise FgError(
            f"{what} {str(path)!r} already exists; nothing was written",
            hint="choose another name, or remove it yourself first",
        )


def available_libraries() -> list[str]:
    lib = bundled_templatelib()
    return sorted(p.name for p in lib.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def create_workspace(
    parent_dir: str | os.PathLike,
    name: str,
    description: str = "",
    libraries: list[str] | tuple[str, ...] = ("base",),
    search_paths: list[str] | tuple[str, ...] = (),
    workspace_dir: str | os.PathLike | None = None,
    fgtui_dir: str | os.PathLike | None = None,
) -> tuple[Path, list[str]]:
    """Write a new workspace; return its directory and any warnings.

    `libraries` are sub-directories of templatelib/ to search (`-l base`);
    `search_paths` extra directories searched before the workspace's own;
    templatelib/ itself is searched last.
    `fgtui_dir` pins the installation to use (Forgather's --forgather-dir);
    by default the workspace asks for the running fgtui's, so it survives a
    reinstall. A relative `fgtui_dir` is stored relative to the workspace.
    """
    root = Path(workspace_dir) if workspace_dir else Path(parent_dir) / dir_name_for(name)
    root = Path(os.path.abspath(root))
    _refuse_existing(root, "workspace directory")
    warnings: list[str] = []
    known = set(available_libraries())
    for lib in libraries:
        if lib not in known:
            warnings.append(
                f"templatelib has no library {lib!r} (have: {', '.join(sorted(known))}); "
                f"it is listed in the search path and will be used once it exists"
            )
    if fgtui_dir is None:
        fgtui_line = "-- set ns.fgtui_dir = fgtui_dir"
    elif os.path.isabs(fgtui_dir):
        fgtui_line = f"-- set ns.fgtui_dir = {_jinja_str(os.path.normpath(fgtui_dir))}"
    else:
        relative = os.path.relpath(os.path.abspath(fgtui_dir), root)
        fgtui_line = f"-- set ns.fgtui_dir = joinpath(workspace_root, {_jinja_str(relative)})"
    if fgtui_dir is not None and not Path(os.path.abspath(fgtui_dir), "templatelib").is_dir():
        warnings.append(f"{str(fgtui_dir)!r} holds no templatelib/ directory")

    lines = [f"    - {_yaml_str(str(path))}" for path in search_paths]
    lines.append("    - \"{{ joinpath(workspace_root, 'forgather_workspace') }}\"")
    lines += [f'    - "{{{{ joinpath(ns.templatelib_dir, {_jinja_str(lib)}) }}}}"' for lib in libraries]
    # Last, templatelib itself, so every bundled library is reachable by its
    # path (`datasets/tokenized_dataset.yaml`) without being listed with -l.
    lines.append('    - "{{ ns.templatelib_dir }}"')
    files = {
        "README.md": f"# {name}\n\n{description}\n",
        "base_directories.yaml": _BASE_DIRECTORIES.format(fgtui_dir_line=fgtui_line),
        "meta_defaults.yaml": _META_DEFAULTS_HEAD + "\n".join(lines) + "\n" + _META_DEFAULTS_TAIL,
    }
    target = root / WORKSPACE_DIR_NAME
    target.mkdir(parents=True)
    for filename, text in files.items():
        (target / filename).write_text(text)
    return root, warnings


def _meta_text(name: str, description: str, config_prefix: str, default_config: str, standalone: bool) -> str:
    template = _STANDALONE_META if standalone else _PROJECT_META
    return template.format(
        name=_yaml_str(name),
        description=_yaml_str(description),
        config_prefix=_yaml_str(config_prefix),
        default_config=_yaml_str(default_config),
    )


def create_project(
    parent_dir: str | os.PathLike,
    name: str,
    description: str = "",
    default_config: str = "default.yaml",
    source_config: str | os.PathLike | None = None,
    config_prefix: str = "configs",
    project_dir: str | os.PathLike | None = None,
) -> Path:
    """Write a new project; its default config is a copy of `source_config`
    when given (the starting point), otherwise a fresh config."""
    from fgtui.engine.project.project import Project

    from fgtui.engine.project.meta import load_meta

    root = Path(os.path.abspath(project_dir or Path(parent_dir) / dir_name_for(name)))
    _refuse_existing(root, "project directory")
    if not default_config.endswith(".yaml"):
        default_config += ".yaml"
    standalone = find_workspace(root.parent) is None
    meta_text = _meta_text(name, description, config_prefix, default_config, standalone)
    source = None
    if source_config:
        # A template name is looked up on the search path the new project will have.
        searchdir = load_meta(root, text=meta_text).searchdir
        source = _find_source(source_config, [Path.cwd()], lambda name: _first_file(searchdir, name))
    root.mkdir(parents=True)
    (root / META_NAME).write_text(meta_text)
    (root / "README.md").write_text(f"# {name}\n\n{description}\n")
    (root / "templates" / config_prefix).mkdir(parents=True)
    project = Project.open(root)
    config_path = project.config_dir() / default_config
    config_path.parent.mkdir(parents=True, exist_ok=True)
    if source is not None:
        config_path.write_bytes(source.read_bytes())
    else:
        config_path.write_text(_fresh_config(project, default_config, "config"))
    return root


def new_config(project, name: str, source: str | os.PathLike | None = None, kind: str = "config") -> Path:
    """Add a template to `project`: `kind="config"` under the config prefix,
    `kind="project"` next to project.yaml, `kind="ws"` in the workspace."""
    if kind == "config":
        path = project.config_dir() / name
    elif kind == "project":
        path = project.templates_dir() / name
    elif kind == "ws":
        path = project.meta.workspace_root / WORKSPACE_DIR_NAME / name
    else:
        raise FgError(f"unknown config type {kind!r}", hint="use config, project or ws")
    if not path.suffix:
        path = path.with_suffix(".yaml")
    _refuse_existing(path, "file")
    found = _find_source(source, [Path.cwd(), project.project_dir], project.find_template) if source else None
    path.parent.mkdir(parents=True, exist_ok=True)
    if found is not None:
        path.write_bytes(found.read_bytes())
    else:
        path.write_text(_fresh_config(project, path.name, kind))
    return path


def _find_source(source: str | os.PathLike, bases: list[Path], find_template) -> Path:
    """A config to copy: a file path (from the current directory or the
    project), else a template name on the project's search path."""
    candidate = Path(source).expanduser()
    for base in [Path()] if candidate.is_absolute() else bases:
        path = base / candidate
        if path.is_file():
            return path
    found = find_template(str(source))
    if found is not None:
        return found
    raise FgError(
        f"source config {str(source)!r} not found, as a file or a template on the search path",
        hint="give a .yaml file to copy, or a template name such as datasets/local_text.yaml (fgtui tlist lists them)",
    )


def _first_file(directories: list[Path], name: str) -> Path | None:
    """The file a template name resolves to (first directory wins), as Project.find_template."""
    for directory in directories:
        if (directory / name).is_file():
            return directory / name
    return None


def _fresh_config(project, filename: str, kind: str) -> str:
    title = _jinja_str(Path(filename).stem.replace("_", " ").title())
    description = _jinja_str(f"{Path(filename).stem} (new)")
    # A new leaf config builds on the project's shared template when there
    # is one, which is how a project's configs are normally written.
    if kind == "config" and (project.templates_dir() / "project.yaml").is_file():
        return _NEW_CONFIG.format(parent="'project.yaml'", title=title, description=description)
    if project.find_template("config_type.yaml") is not None:
        return _NEW_BASE_CONFIG.format(title=title, description=description)
    return _NEW_BARE_CONFIG.format(title=title, description=description)
