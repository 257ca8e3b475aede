"""Building targets of another project from inside a config.

A fine-tuning project takes its datasets from a sibling dataset project::

    train_dataset: !singleton:fgtui.engine.project:from_project
        project_dir: "{{ joinpath(workspace_root, 'lovecraft_dataset') }}"
        config_template: "4k.yaml"
        targets: "train_dataset"
        pp_kwargs:            # template variables of the other project
            max_length: 4096
        preprocess_args:      # context variables (`!var`) of the other project
            max_length: 4096

The signature is Forgather's (`forgather:from_project`). The other project's
config is rendered with its own globals (its `project_dir`,
`workspace_root`) and built in its own build, so it shares nothing with the
calling config but what is passed in.
"""

from __future__ import annotations

import os
from typing import Any, Iterable


def from_project(
    project_dir: str | os.PathLike,
    config_template: str | None = None,
    targets: str | Iterable[str] = "main",
    pp_kwargs: dict[str, Any] | None = None,
    **context_vars: Any,
) -> Any:
    """Build `targets` of the config `config_template` (default: the
    project's default config) of the project at `project_dir`.

    `pp_kwargs` are template variables for rendering, `context_vars` the
    values of its `!var`s. One target name returns that object; a list of
    names returns a list of objects in the same order.
    """
    from fgtui.engine.config import build
    from fgtui.engine.errors import FgError
    from fgtui.engine.project.project import Project
    from fgtui.engine.project.workspace import is_project_dir

    if not is_project_dir(project_dir):
        raise FgError(
            f"from_project: {str(project_dir)!r} is not a project (no meta.yaml)",
            hint="anchor the path, e.g. joinpath(workspace_root, 'my_dataset_project')",
        )
    project = Project.open(project_dir)
    graph = project.load(config_template, dict(pp_kwargs or {}))
    names = [targets] if isinstance(targets, str) else list(targets)
    missing = [name for name in names if name not in graph.targets]
    if missing:
        raise FgError(
            f"from_project: {project.resolve_config(config_template)} in {project.name!r} has no target {missing[0]!r}",
            hint="targets: " + ", ".join(sorted(graph.targets)),
        )
    built = [build(graph, target=name, context=context_vars) for name in names]
    return built[0] if isinstance(targets, str) else built
