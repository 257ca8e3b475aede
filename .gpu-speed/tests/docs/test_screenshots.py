"""The workbench screenshots in docs/img/ (shown by docs/workbench.md) are
what the current app draws.

Each test drives the app with Pilot at 120x40 on fixed fixtures (a fixed
path, seeded synthetic runs, a fixed clock, polling off) and compares the
text of its screenshot with the committed SVG's text; SVG markup (ids,
colours) is not compared, so a theme tweak does not fail it but a changed
label, key or layout does. FGTUI_DOCS_UPDATE=1 rewrites the SVGs.
"""

from __future__ import annotations

import asyncio
import html
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from fgtui.engine.runs.synthetic import T0

NOW = T0 + 3600.0  # the clock the app sees, as in tests/app

IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
FIXTURES = Path(tempfile.gettempdir()) / "fgtui-docs-fixtures"
SIZE = (120, 40)
UPDATE = os.environ.get("FGTUI_DOCS_UPDATE") == "1"


@pytest.fixture(scope="module")
def fixtures():
    from fgtui.engine.project.scaffold import create_project, create_workspace
    from fgtui.engine.runs.synthetic import write_run

    shutil.rmtree(FIXTURES, ignore_errors=True)
    workspace, _ = create_workspace(FIXTURES, "Lovecraft Workspace")
    project = create_project(workspace, "tiny_llama", "A small Llama trained from scratch")
    runs = project / "output_models" / "tiny_llama" / "runs"
    write_run(runs / "default", 600, eval_every=150, seed=1, stdout="step 600 done\n")
    write_run(runs / "long", 300, eval_every=150, seed=2, end_status="stopped")
    for age, run in ((2000, "default"), (1000, "long")):
        for marker in (runs / run).iterdir():
            os.utime(marker, (NOW - age, NOW - age))
    yield {"workspace": workspace, "project": project, "runs": runs}
    shutil.rmtree(FIXTURES, ignore_errors=True)


def svg_text(svg: str) -> list[str]:
    """The visible text of a Textual screenshot, one string per text element, in order."""
    pieces = re.findall(r"<text[^>]*>(.*?)</text>", svg, flags=re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", p)).replace("\xa0", " ") for p in pieces]


async def _settle(pilot, condition) -> None:
    for _ in range(500):
        await pilot.pause(0.02)
        if condition():
            break
    await pilot.pause(0.2)


def _shoot(path: Path, steps) -> None:
    from fgtui.app.app import Workbench

    app = Workbench(path, now=NOW, poll=False)
    app.plot_mode = "braille"
    shot = {}

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await steps(app, pilot)
            shot["svg"] = app.export_screenshot()

    asyncio.run(scenario())
    return shot["svg"]


def _compare(name: str, svg: str) -> None:
    target = IMG / f"{name}.svg"
    if UPDATE:
        IMG.mkdir(exist_ok=True)
        target.write_text(svg)
    assert target.exists(), f"{target} missing: run with FGTUI_DOCS_UPDATE=1"
    assert svg_text(svg) == svg_text(target.read_text()), (
        f"the workbench no longer draws what {target.name} shows: look, then FGTUI_DOCS_UPDATE=1"
    )


def test_browse(fixtures):
    from textual.widgets import Tree

    async def steps(app, pilot):
        await _settle(pilot, lambda: len(app.screen.query_one(Tree).root.children) > 0)
        await pilot.press("down", "down")
        await _settle(pilot, lambda: "search path" in str(app.screen.query_one("#details").render()))

    _compare("browse", _shoot(fixtures["workspace"], steps))


def test_runs(fixtures):
    from fgtui.app.screens.runs import RunsScreen

    async def steps(app, pilot):
        await pilot.press("f3")
        await _settle(pilot, lambda: isinstance(app.screen, RunsScreen) and len(app.screen.runs) == 2)

    _compare("runs", _shoot(fixtures["project"], steps))


def test_monitor(fixtures):
    async def steps(app, pilot):
        await _settle(pilot, lambda: getattr(app.screen, "tail", None) is not None and not app.screen._polling)

    _compare("monitor", _shoot(fixtures["runs"] / "default", steps))


def test_launch(fixtures):
    from fgtui.app.screens.launch import LaunchScreen
    from textual.widgets import Tree

    async def steps(app, pilot):
        await _settle(pilot, lambda: len(app.screen.query_one(Tree).root.children) > 0)
        await pilot.press("down", "down")
        await _settle(pilot, lambda: "search path" in str(app.screen.query_one("#details").render()))
        await pilot.press("l")
        await _settle(pilot, lambda: isinstance(app.screen, LaunchScreen))

    _compare("launch", _shoot(fixtures["workspace"], steps))
