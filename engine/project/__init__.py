"""Workspaces, projects, dynamic arguments and scaffolding.

Public API:

* `Project.open(path)` — a project (`meta.yaml`) at or above `path`;
  `.configs()`, `.resolve_config(name)`, `.render()`, `.load()`,
  `.dynamic_args(name)`, `.environment()`.
* `find_workspace(path)`, `find_project_dir(path)`.
* `from_project(project_dir, config_template=None, targets="main",
  pp_kwargs=None, **context_vars)` — build another project's targets; templates
  call it as `!singleton:fgtui.engine.project:from_project`.
* `dynamic_args` / `config_parser` — config-declared CLI options.
* `scaffold` — `ws create`, `project create`, `new_config`.

Submodules load lazily, so `import fgtui.engine.project` stays cheap.
"""
from __future__ import annotations

from typing import Any

_EXPORTS = {
    "Project": "fgtui.engine.project.project",
    "load_dynamic_args": "fgtui.engine.project.project",
    "ProjectMeta": "fgtui.engine.project.meta",
    "load_meta": "fgtui.engine.project.meta",
    "find_workspace": "fgtui.engine.project.workspace",
    "find_project_dir": "fgtui.engine.project.workspace",
    "from_project": "fgtui.engine.project.compose",
    "DynamicArg": "fgtui.engine.project.dynamic_args",
    "add_config_command": "fgtui.engine.project.config_parser",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fgtui.engine.project' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
