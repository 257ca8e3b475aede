"""Which template a command means, and the environment to render it in.

`resolve_config(project_dir, config, variables)` is the one place that turns a
project dir and a config (the CLI's -p/-t, the launch form's fields, a launch's
arguments) into (environment, template name, variables). Plain values in, plain
values out: the CLI adapts its argparse namespace before calling.

Inside a project (meta.yaml) the project decides: its search paths, workspaces and
config names; `config` is a name under its config prefix (the project's default
when None) or a path. The project is the one `project_dir` names (searched upward),
else the one holding a `config` file, else the one holding the current directory.

Without a project, `config` is a file path. Its search path is the file's own
directory, each parent up to the nearest enclosing `templates/`, then the bundled
`templatelib/base` and `templatelib/`. With `project_dir`, a config name that is not a
file is looked up under DIR/templates/configs and DIR/templates.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fgtui.engine.errors import FgError
from fgtui.engine.project.project import Project
from fgtui.engine.project.workspace import bundled_templatelib, find_project_dir


def resolve_config(
    project_dir: str | os.PathLike | None,
    config: str | None,
    variables: dict[str, Any] | None = None,
    markers: bool = True,
):
    """(TemplateEnvironment, template name, variables) for a project dir and a config;
    `markers`: an environment with origin markers (see TemplateEnvironment)."""
    from fgtui.engine.config.environment import TemplateEnvironment

    project_dir = os.fspath(project_dir) if project_dir is not None else None
    variables = dict(variables or {})
    if project_dir and not os.path.isdir(project_dir):
        raise FgError(
            f"project directory {project_dir} does not exist",
            hint="pass -p a project directory (one holding meta.yaml)",
        )
    project = _selected_project(project_dir, config)
    if project is not None:
        return project.environment(markers), project.resolve_config(config), variables
    path = _find_template(project_dir, config)
    searchpath, templates_owner = template_searchpath(path)
    globals_: dict[str, Any] = {}
    if project_dir:
        globals_["project_dir"] = os.path.abspath(project_dir)
    elif templates_owner:
        globals_["project_dir"] = templates_owner
    env = TemplateEnvironment(searchpath, globals_, markers=markers)
    real = os.path.realpath(path)
    if templates_owner:
        # Named from templates/, as Forgather names it ("configs/x.yaml"), so that
        # templates refer to one another the same way whichever one is the root.
        name = os.path.relpath(real, os.path.join(os.path.realpath(templates_owner), "templates"))
    else:
        name = env.template_name(real)
    return env, name.replace(os.sep, "/"), variables


def _selected_project(project_dir: str | None, config: str | None) -> Project | None:
    if project_dir is not None:
        where = project_dir
    elif config and os.path.isfile(config):
        where = os.path.dirname(os.path.abspath(config))
    else:
        where = os.getcwd()
    if not os.path.isdir(where):
        return None
    project_dir = find_project_dir(where)
    return None if project_dir is None else open_project(project_dir)


# Projects opened by this process, by (project dir, working directory): a command asks
# twice (its options, then its render), the launch form at every change.
_opened: dict[tuple[str, str], tuple[str, Project]] = {}


def open_project(project_dir: str | os.PathLike) -> Project:
    """`Project.open`, reusing the project (and its warm template environment) this
    process opened before while nothing its meta.yaml read has changed."""
    from fgtui.engine.project.signatures import file_stamp, meta_signature

    project_dir = Path(os.path.abspath(project_dir))
    key = (str(project_dir), os.getcwd())
    signature = meta_signature(project_dir)
    known = _opened.get(key)
    if known is not None and known[0] == signature + _stamps(known[1].meta.templates, file_stamp):
        return known[1]
    project = Project.open(project_dir, quick=True)  # meta.yaml without Jinja where it can: the same meta
    _opened[key] = (signature + _stamps(project.meta.templates, file_stamp), project)
    return project


def _stamps(files: list[str], file_stamp) -> str:
    return "".join(f"|{path}|{file_stamp(path)}" for path in files)


def template_searchpath(path: str) -> tuple[list[str], str | None]:
    """The search path for a lone template file, and the project dir (the parent of
    `templates/`) if any."""
    here = Path(path).resolve().parent
    dirs = [here]
    owner = None
    for parent in [here, *here.parents]:
        if parent != here:
            dirs.append(parent)
        if parent.name == "templates":
            owner = str(parent.parent)
            break
    else:
        dirs = [here]
    # As a new project's search path ends: the base library, then templatelib itself
    # (so `trainers/trainer.yaml` finds the `training_script/...` it extends).
    lib = bundled_templatelib()
    dirs += [lib / "base", lib]
    unique: list[str] = []
    for d in dirs:
        if str(d) not in unique:
            unique.append(str(d))
    return unique, owner


def _find_template(project_dir: str | None, config: str | None) -> str:
    if not config:
        raise FgError("no config given", hint="pass -t CONFIG (a template file, or a name with -p PROJECT_DIR)")
    if os.path.isfile(config):
        return config
    if project_dir:
        for sub in ("templates/configs", "templates"):
            candidate = os.path.join(project_dir, sub, config)
            if os.path.isfile(candidate):
                return candidate
        raise FgError(
            f"config '{config}' not found in {project_dir}",
            hint="check the name under templates/configs, or pass a file path",
        )
    raise FgError(f"config file '{config}' not found", hint="pass an existing template file with -t")
