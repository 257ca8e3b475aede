"""Snapshots of the main screens at 120×40 and 80×24.

Fixtures live at a fixed path (paths show on screen), the data is seeded,
the clock is fixed and polling is off, so every run draws the same frame.
The editor is left to the Pilot tests: tree-sitter's YAML highlighting of
overlapping captures is not stable from one process to the next. Accept changes with `pytest tests/app/test_snapshots.py --snapshot-update`
after looking at the report.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from fgtui.app.app import Workbench
from fgtui.app.screens.runs import RunsScreen
from fgtui.engine.runs.synthetic import write_run

from apphelpers import NOW

SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]
FIXTURES = Path(tempfile.gettempdir()) / "fgtui-snapshot-fixtures"


@pytest.fixture(scope="module")
def fixtures():
    shutil.rmtree(FIXTURES, ignore_errors=True)
    runs = FIXTURES / "proj" / "output_models" / "m" / "runs"
    write_run(
        runs / "baseline", 600, eval_every=150, seed=1, spike_at=300, stdout="rank0: starting\nrank0: step 600 done\n"
    )
    write_run(runs / "shorter", 300, eval_every=150, seed=2, end_status="stopped")
    # Fixed modification times: the runs list is newest first.
    for age, run in ((2000, "baseline"), (1000, "shorter")):
        for marker in (runs / run).iterdir():
            os.utime(marker, (NOW - age, NOW - age))
    from fgtui.engine.project.scaffold import create_project, create_workspace

    workspace, _ = create_workspace(FIXTURES, "snap ws")
    project = create_project(workspace, "tiny", "A tiny project")
    (project / "templates" / "configs" / "broken.yaml").write_text("-- extends 'missing.yaml'\n")
    yield FIXTURES
    shutil.rmtree(FIXTURES, ignore_errors=True)


def _app(path: Path) -> Workbench:
    app = Workbench(path, now=NOW, poll=False)
    app.plot_mode = "braille"
    return app


async def _settle(pilot, condition) -> None:
    for _ in range(500):
        await pilot.pause(0.02)
        if condition():
            break
    await pilot.pause(0.1)


@pytest.mark.parametrize("size", SIZES)
def test_monitor(snap_compare, fixtures, size):
    app = _app(fixtures / "proj" / "output_models" / "m" / "runs" / "baseline")

    async def ready(pilot):
        await _settle(pilot, lambda: getattr(app.screen, "tail", None) is not None and not app.screen._polling)

    assert snap_compare(app, terminal_size=size, run_before=ready)


@pytest.mark.parametrize("size", SIZES)
def test_runs(snap_compare, fixtures, size):
    app = _app(fixtures / "proj")

    async def ready(pilot):
        await pilot.press("f3")
        await _settle(pilot, lambda: isinstance(app.screen, RunsScreen) and len(app.screen.runs) == 2)

    assert snap_compare(app, terminal_size=size, run_before=ready)


@pytest.mark.parametrize("size", SIZES)
def test_browse(snap_compare, fixtures, size):
    app = _app(fixtures / "snap_ws")

    async def ready(pilot):
        from textual.widgets import Tree

        await _settle(pilot, lambda: len(app.screen.query_one(Tree).root.children) > 0)
        await pilot.press("down", "down")
        await _settle(pilot, lambda: "search path" in str(app.screen.query_one("#details").render()))

    assert snap_compare(app, terminal_size=size, run_before=ready)
