"""`forgather.project` / `forgather:from_project`: build targets of another project's config.

Forgather builds the requested targets in one build (they share their singletons: a
tokenizer is made once for the model and its saved copy) and returns a dict when
several are asked for; fgtui's `from_project` returns a list and builds each apart,
so this adapter keeps Forgather's contract on fgtui's project loader.
"""

from __future__ import annotations

import os
from typing import Any, Iterable


def from_project(
    project_dir: str | os.PathLike,
    config_template: str | None = "",
    targets: str | Iterable[str] = "main",
    pp_kwargs: dict | None = None,
    **config_kwargs: Any,
) -> Any:
    from fgtui.engine.config import build
    from fgtui.engine.project import from_project as fg_from_project

    if isinstance(targets, str):
        return fg_from_project(project_dir, config_template or None, targets, pp_kwargs, **config_kwargs)
    from fgtui.engine.project.project import Project

    from fgtui.engine.project.workspace import is_project_dir

    names = list(targets)
    if not is_project_dir(project_dir) or not names:
        # fgtui's from_project says what is wrong (not a project, no targets) in its words.
        return fg_from_project(project_dir, config_template or None, names, pp_kwargs, **config_kwargs)
    project = Project.open(project_dir)
    graph = project.load(config_template or None, dict(pp_kwargs or {}))
    if any(name not in graph.targets for name in names):
        return fg_from_project(project_dir, config_template or None, names, pp_kwargs, **config_kwargs)
    return build(graph, target=names, context=config_kwargs)
