"""The workbench half of docs/tutorial.md (section 11), followed as written.

The workspace is made by the tutorial's own command sessions of steps 1 to 5
(the dataset views and training runs left out: the workbench does those).
Then Pilot drives the workbench with the keys section 11 names, on the real
trainer: preview, dataset view, a launch watched to its end, generate, a run
stopped with save-and-stop and resumed from its checkpoint, the runs list.

Each key pressed, each value typed and each screen text checked is recorded,
and the section must quote them all, in the same order: a doc that names
another key, or an app that answers another key, fails here.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
from pathlib import Path

import pytest

from mdrun import Shell, check, copy_stories, parse, scratch_env

DOCS = Path(__file__).resolve().parents[2] / "docs"
SECTION = "## 11. The same journey in the workbench"
SETUP_ENDS = "## 6. "  # steps 1 to 5 make the workspace section 11 starts from


def _section(doc: str) -> str:
    start = doc.index(SECTION)
    end = doc.find("\n## ", start + len(SECTION))
    return doc[start : end if end != -1 else len(doc)]


def _setup_commands(doc: str):
    """Steps 1 to 5 as the tutorial writes them, but for what the workbench does itself."""
    last_line = doc[: doc.index(SETUP_ENDS)].count("\n") + 1
    for command in parse(doc):
        if command.line > last_line or command.gpu:
            continue
        launches = command.text.startswith("fgtui train") and "--dry-run" not in command.text
        if launches or command.text.startswith("fgtui dataset"):
            continue
        yield command


class Journey:
    """Presses keys and types text through Pilot, and remembers what it used."""

    def __init__(self, app, pilot) -> None:
        self.app, self.pilot = app, pilot
        self.used: list[str] = []

    async def press(self, key: str) -> None:
        self.used.append(key)
        await self.pilot.press(key)

    async def type(self, text: str) -> None:
        self.used.append(text)
        await self.pilot.press(*text)

    def saw(self, text: str) -> None:
        """A text the screen shows that the doc quotes."""
        self.used.append(text)

    async def until(self, condition, what: str, seconds: float = 60.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await self.pilot.pause(0.05)
            if condition():
                return
        raise AssertionError(f"timed out waiting for {what} on {type(self.app.screen).__name__}")

    async def tab_to(self, widget_id: str) -> None:
        """`tab` until the field has the focus (the doc says `tab` moves from field to field)."""
        for _ in range(40):
            if self.app.focused is not None and self.app.focused.id == widget_id:
                return
            await self.pilot.press("tab")
        raise AssertionError(f"tab never reached #{widget_id}")

    async def move_to(self, project: str, config: str) -> None:
        """The arrow keys, until the tree's cursor is on `config` of the project titled `project`."""
        from textual.widgets import Tree

        screen = self.app.screen
        tree = screen.query_one(Tree)
        await self.until(lambda: len(tree.root.children) > 0, "the tree")

        def here():
            selection = screen.selection
            return (
                selection is not None
                and selection.kind == "config"
                and selection.listing.name == project
                and selection.entry.name == config
            )

        for key in ("down", "up"):
            for _ in range(60):
                if here():
                    return
                await self.pilot.press(key)
                await self.pilot.pause(0.05)
        raise AssertionError(f"no {project} / {config} in the tree")


def _status(app) -> str:
    from fgtui.app.widgets.status import RunStatus

    shown = app.screen.query_one(RunStatus)._shown
    return shown.plain if shown is not None else ""


def _steps(status: str) -> int:
    match = re.search(r"step (\d+)/", status)
    return int(match.group(1)) if match else 0


def _kill_leftover_jobs(workspace: Path) -> None:
    """Only runs this test started, and only if a stop above failed."""
    for job in workspace.glob("**/runs/*/job.json"):
        try:
            os.killpg(json.loads(job.read_text())["pgid"], signal.SIGKILL)
        except (OSError, ValueError, KeyError):
            pass


@pytest.mark.slow
def test_the_workbench_journey_as_the_tutorial_writes_it(tmp_path, monkeypatch):
    from textual.widgets import DataTable, Input, Log, RichLog, TextArea

    from fgtui.app.app import Workbench
    from fgtui.app.screens.browse import BrowseScreen
    from fgtui.app.screens.dataset import DatasetScreen
    from fgtui.app.screens.editor import EditorScreen
    from fgtui.app.screens.generate import GenerateScreen
    from fgtui.app.screens.launch import LaunchScreen
    from fgtui.app.screens.monitor import RunMonitor
    from fgtui.app.screens.runs import RunsScreen

    doc_path = DOCS / "tutorial.md"
    doc = doc_path.read_text()
    section = _section(doc)
    copy_stories(tmp_path / "stories")
    env = scratch_env()
    env["HF_DATASETS_CACHE"] = str(tmp_path / ".hf-cache")
    check(doc_path, list(_setup_commands(doc)), Shell(tmp_path, env))
    workspace = tmp_path / "lovecraft_workspace"
    runs = workspace / "tiny_llama" / "output_models" / "tiny_llama" / "runs"
    # As `cd lovecraft_workspace && fgtui`: paths typed in the UI are read from there.
    monkeypatch.chdir(workspace)
    monkeypatch.setenv("HF_DATASETS_CACHE", env["HF_DATASETS_CACHE"])
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config-home"))

    async def journey() -> list[str]:
        app = Workbench(workspace)
        async with app.run_test(size=(120, 40)) as pilot:
            user = Journey(app, pilot)
            assert isinstance(app.screen, BrowseScreen)

            # Preview.
            await user.move_to("Tiny Llama", "default.yaml")
            await user.press("p")
            await user.until(lambda: isinstance(app.screen, EditorScreen) and app.screen.last is not None, "preview")
            assert "# Tiny Llama" in app.screen.last.text
            assert "main" in app.screen.last.targets and app.screen.last.code
            await user.press("escape")
            await user.until(lambda: isinstance(app.screen, BrowseScreen), "the tree")

            # The data.
            await user.move_to("Lovecraft", "default.yaml")
            await user.press("d")
            await user.until(lambda: isinstance(app.screen, DatasetScreen), "the dataset view")
            dataset = app.screen
            await user.press("tab")
            assert app.focused.id == "ds-tokenizer"
            await user.type("tokenizers/lovecraft_bpe")
            await user.press("ctrl+r")
            await user.until(lambda: dataset.result is not None, "the measurement", seconds=240)
            assert "error" not in dataset.result, dataset.result
            stats = dataset.result["stats"]
            assert stats["max"] == 512 and stats["count"] > 0
            shown = str(dataset.query_one("#dataset-stats").render())
            assert re.search(r"\d+ examples\s+min \d+\s+max 512", shown), shown
            assert dataset.query_one("#dataset-examples", RichLog).lines
            await user.press("escape")
            await user.until(lambda: isinstance(app.screen, BrowseScreen), "the tree")

            # Launch, watch.
            await user.move_to("Tiny Llama", "default.yaml")
            await user.press("l")
            await user.until(lambda: isinstance(app.screen, LaunchScreen) and app.screen.specs, "the launch form")
            await user.press("tab")
            assert app.focused.id == "field-run-name"
            await user.type("wb")
            await user.press("f5")
            await user.until(lambda: "would run" in str(app.screen.query_one("#launch-command").render()), "dry run")
            assert "runs/wb" in str(app.screen.query_one("#launch-command").render()).replace("\n", "")
            assert not runs.joinpath("wb").exists()
            await user.press("f6")
            await user.until(lambda: isinstance(app.screen, RunMonitor), "the monitor", seconds=120)
            await user.until(lambda: "RUNNING" in _status(app), "RUNNING")
            user.saw("RUNNING")
            await user.until(lambda: "COMPLETED" in _status(app), "COMPLETED", seconds=480)
            user.saw("COMPLETED")
            assert _steps(_status(app)) == 29

            # Try the model.
            await user.press("g")
            await user.until(lambda: isinstance(app.screen, GenerateScreen) and app.screen.loaded, "the model")
            generate = app.screen
            assert generate.query_one("#generate-prompt", Input).value == "The old house on the hill"
            user.saw("The old house on the hill")
            await user.press("enter")
            output = generate.query_one("#generate-output", TextArea)
            await user.until(lambda: not generate.busy and len(output.text) > 30, "the continuation")
            assert output.text.startswith("The old house on the hill")
            await user.press("escape")
            await user.until(lambda: isinstance(app.screen, RunMonitor), "the monitor")
            await user.press("escape")
            await user.until(lambda: isinstance(app.screen, BrowseScreen), "the tree")

            # Stop and resume.
            await user.press("l")
            await user.until(lambda: isinstance(app.screen, LaunchScreen) and app.screen.specs, "the launch form")
            await user.press("tab")
            await user.type("wb-long")
            await user.tab_to("arg-total_tokens")
            await user.type("0.06")
            await user.press("f6")
            await user.until(lambda: isinstance(app.screen, RunMonitor), "the monitor", seconds=120)
            await user.until(lambda: _steps(_status(app)) > 0, "steps", seconds=240)
            await user.press("X")
            await user.until(lambda: any("save stop requested" in n.message for n in app._notifications), "the request")
            user.saw("save stop requested")
            await user.until(lambda: "STOPPED" in _status(app), "STOPPED", seconds=240)
            user.saw("STOPPED")
            stopped_at = _steps(_status(app))
            assert 0 < stopped_at < 58
            await user.press("escape")
            await user.until(lambda: isinstance(app.screen, BrowseScreen), "the tree")
            await user.press("l")
            await user.until(lambda: isinstance(app.screen, LaunchScreen) and app.screen.specs, "the launch form")
            await user.press("tab")
            await user.type("wb-resumed")
            await user.tab_to("arg-total_tokens")
            await user.type("0.06")
            await user.tab_to("arg-resume")
            await user.type("latest")
            assert app.screen.specs[-1].dest == "resume"  # "the last field"
            await user.press("f6")
            await user.until(lambda: isinstance(app.screen, RunMonitor), "the monitor", seconds=120)
            await user.until(lambda: "COMPLETED" in _status(app), "COMPLETED", seconds=480)
            user.saw("COMPLETED")
            assert _steps(_status(app)) == 58
            assert any(e.get("event") == "resumed" and e["step"] == stopped_at for e in app.screen.series.events)
            log = app.screen.query_one("#stdout", Log).lines
            assert log[0].startswith("resumed from ") and "(saved by run wb-long)" in log[0], log[:2]

            # Runs.
            await user.press("f3")
            await user.until(lambda: isinstance(app.screen, RunsScreen) and len(app.screen.runs) == 3, "the runs")
            table = app.screen.query_one(DataTable)
            assert {str(table.get_row_at(i)[1]) for i in range(3)} == {"wb", "wb-long", "wb-resumed"}
            await user.press("ctrl+q")
        return user.used

    try:
        used = asyncio.run(journey())
    finally:
        _kill_leftover_jobs(workspace)
    named = re.findall(r"`([^`]+)`", re.sub(r"```.*?```", "", section, flags=re.S))
    assert "`tab`" in section and "arrow keys" in section
    position = 0
    for key in used:
        assert key in named[position:], f"section 11 of tutorial.md does not say `{key}` (after {named[:position]})"
        position = named.index(key, position) + 1
