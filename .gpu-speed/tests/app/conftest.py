"""Fixtures for the workbench tests: synthetic run directories."""

from __future__ import annotations

import pytest

from fgtui.engine.runs.synthetic import write_run


@pytest.fixture
def finished_run(tmp_path):
    return write_run(
        tmp_path / "out" / "runs" / "finished",
        400,
        eval_every=100,
        stdout="step 1 loss 9.9\nstep 2 loss 9.1\n",
        spike_at=200,
    )


@pytest.fixture
def workspace(tmp_path):
    """A workspace with one project made by the same scaffolding the CLI uses,
    plus a config that does not render."""
    from fgtui.engine.project.scaffold import create_project, create_workspace

    ws, _warnings = create_workspace(tmp_path, "bench ws")
    project = create_project(ws, "tiny", "A tiny project")
    (project / "templates" / "configs" / "broken.yaml").write_text("-- extends 'no_such_template.yaml'\n")
    return ws


@pytest.fixture(autouse=True)
def _private_config_home(tmp_path_factory, monkeypatch):
    """The workbench remembers looks and themes in the user config dir: keep
    the user's own choices out of the tests, and the tests' out of theirs."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config-home")))
