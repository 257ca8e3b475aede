"""Every bundled example config preprocesses to clean YAML: no origin markers
(the config engine's internal line bookkeeping) may leak into what users see."""

from __future__ import annotations

from pathlib import Path

import pytest

import fgtui
from fgtui.engine.project import Project

EXAMPLES = Path(fgtui.__file__).parent / "examples"
PROJECTS = sorted(p.parent for p in EXAMPLES.rglob("meta.yaml"))


@pytest.mark.parametrize("project_dir", PROJECTS, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_example_configs_render_without_markers(project_dir):
    project = Project.open(project_dir)
    configs = project.configs()
    assert configs, f"{project_dir} lists no configs"
    for config in configs:
        text = project.render(config).text
        assert "#@" not in text, f"{config}: origin marker leaked into preprocessed text"
