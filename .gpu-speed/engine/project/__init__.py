"""Workspaces, projects, dynamic arguments and scaffolding.

Public API:

* `Project.open(path)` — a project (`meta.yaml`) at or above `path`;
  `.configs()`, `.resolve_config(name)`, `.render()`, `.load()`,
  `.dynamic_args(name)`, `.environment()`.
* `find_workspace(path)`, `find_project_dir(path)`.
* `from_project(project_dir, config_template=None, targets="main",
  pp_kwargs=None, **context_vars)` — build another project's targets; templates
  call it as `!singleton:fgtui.engine.project:from_project`.
* `dynamic_args` — config-declared options (the CLI's parser for them is
  engine/commands/config_parser.py).
* `scaffold` — `ws create`, `project create`, `new_config`.

Submodules load lazily, so `import fgtui.engine.project` stays cheap.
"""

from __future__ import annotations

from fgtui.engine.lazy import lazy_exports

_EXPORTS = {
    "Project": "project",
    "load_dynamic_args": "project",
    "ProjectMeta": "meta",
    "load_meta": "meta",
    "find_workspace": "workspace",
    "find_project_dir": "workspace",
    "from_project": "compose",
    "DynamicArg": "dynamic_args",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
