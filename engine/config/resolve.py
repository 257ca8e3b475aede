"""Which template a command means, and the environment to render it in.

This is the one place that turns `-t/-p/--var` into (environment, template
name, variables). Inside a project (meta.yaml), `fgtui.engine.project`
decides: its search paths, workspaces and config names.

Without a project: `-t FILE` is a file path. The search path is the file's
own directory, each parent up to the nearest enclosing `templates/`
directory, then the bundled `templatelib/base` and `templatelib/`. With `-p DIR`, a `-t NAME` that
is not a file is looked up under DIR/templates/configs and DIR/templates.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from fgtui.engine.errors import FgError


def bundled_templatelib() -> str:
    import fgtui

    return str(Path(fgtui.__file__).parent / "templatelib")


def parse_variables(assignments: list[str] | None) -> dict[str, Any]:
    """`--var name=value` pairs; each value is read as a YAML scalar (1, 1e-3, true, text)."""
    variables: dict[str, Any] = {}
    for item in assignments or []:
        name, eq, text = item.partition("=")
        if not eq or not name.strip().isidentifier():
            raise FgError(f"bad --var '{item}'", hint="write --var NAME=VALUE, e.g. --var lr=3e-4")
        import yaml

        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        if isinstance(value, str):
            value = _python_number(value)
        variables[name.strip()] = value
    return variables


def _python_number(text: str) -> Any:
    """`3e-4` is a string to YAML 1.1 but a number to anyone typing an option."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def template_searchpath(path: str) -> tuple[list[str], str | None]:
    """The search path for a template file, and the project dir (the parent of `templates/`) if any."""
    here = Path(path).resolve().parent
    dirs = [here]
    project_dir = None
    for parent in [here, *here.parents]:
        if parent != here:
            dirs.append(parent)
        if parent.name == "templates":
            project_dir = str(parent.parent)
            break
    else:
        dirs = [here]
    # As a new project's search path ends: the base library, then templatelib itself
    # (so `trainers/trainer.yaml` finds the `training_script/...` it extends).
    dirs += [Path(bundled_templatelib()) / "base", Path(bundled_templatelib())]
    unique: list[str] = []
    for d in dirs:
        if str(d) not in unique:
            unique.append(str(d))
    return unique, project_dir


def _find_template(args: argparse.Namespace) -> str:
    config = getattr(args, "config_template", None)
    project = getattr(args, "project_dir", None)
    if not config:
        raise FgError("no config given", hint="pass -t CONFIG (a template file, or a name with -p PROJECT_DIR)")
    if os.path.isfile(config):
        return config
    if project:
        for sub in ("templates/configs", "templates"):
            candidate = os.path.join(project, sub, config)
            if os.path.isfile(candidate):
                return candidate
        raise FgError(f"config '{config}' not found in {project}",
                      hint="check the name under templates/configs, or pass a file path")
    raise FgError(f"config file '{config}' not found", hint="pass an existing template file with -t")


def resolve_config(args: argparse.Namespace):
    """(TemplateEnvironment, template name, variables) for a config command's arguments."""
    from fgtui.engine.config.environment import TemplateEnvironment
    from fgtui.engine.project.project import resolve_in_project

    given_project = getattr(args, "project_dir", None)
    if given_project and not os.path.isdir(given_project):
        raise FgError(f"project directory {given_project} does not exist",
                      hint="pass -p a project directory (one holding meta.yaml)")
    in_project = resolve_in_project(args, parse_variables(getattr(args, "var", None)))
    if in_project is not None:  # -p / the cwd / the -t file is in a project (meta.yaml)
        return in_project
    path = _find_template(args)
    searchpath, project_dir = template_searchpath(path)
    project = getattr(args, "project_dir", None)
    globals_: dict[str, Any] = {}
    if project:
        globals_["project_dir"] = os.path.abspath(project)
    elif project_dir:
        globals_["project_dir"] = project_dir
    env = TemplateEnvironment(searchpath, globals_)
    real = os.path.realpath(path)
    if project_dir:
        # Named from templates/, as Forgather names it ("configs/x.yaml"), so that
        # templates refer to one another the same way whichever one is the root.
        name = os.path.relpath(real, os.path.join(os.path.realpath(project_dir), "templates"))
    else:
        name = env.template_name(real)
    return env, name.replace(os.sep, "/"), parse_variables(getattr(args, "var", None))
