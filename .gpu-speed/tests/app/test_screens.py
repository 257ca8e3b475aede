"""Runs list and re-attach, compare, launch form, dataset view, palette, no-terminal start."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static, Switch

from fgtui.app.app import Workbench
from fgtui.app.commands import ACTIONS, actions_for
from fgtui.app.screens.compare import CompareScreen
from fgtui.app.screens.dataset import DatasetScreen, ProbeDone, format_stats
from fgtui.app.screens.launch import LaunchScreen
from fgtui.app.screens.monitor import RunMonitor
from fgtui.app.screens.runs import RunsScreen
from fgtui.app.widgets.histogram import histogram_bars
from fgtui.engine.runs.synthetic import write_run

from apphelpers import NOW, run_async, wait_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def two_runs(tmp_path):
    out = tmp_path / "proj" / "output_models" / "m" / "runs"
    a = write_run(out / "alpha", 300, eval_every=100, seed=1)
    b = write_run(out / "beta", 200, eval_every=100, seed=2, end_status="stopped")
    return tmp_path / "proj", a, b


def test_runs_screen_lists_reattaches_and_compares(two_runs):
    root, alpha, beta = two_runs

    async def scenario():
        app = Workbench(root, now=NOW, poll=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("f3")
            screen = app.screen
            assert isinstance(screen, RunsScreen)
            table = screen.query_one(DataTable)
            await wait_for(pilot, lambda: table.row_count == 2, "the runs table")
            states = {str(table.get_row_at(i)[1]): str(table.get_row_at(i)[2]) for i in range(2)}
            assert states == {"alpha": "completed", "beta": "stopped"}
            await pilot.press("c")  # nothing marked: refused with a message
            await pilot.press("space", "down", "space", "c")
            compare = app.screen
            assert isinstance(compare, CompareScreen)
            ctable = compare.query_one(DataTable)
            await wait_for(pilot, lambda: ctable.row_count == 2, "the compare table")
            plot = compare.query_one("#compare-plot")
            assert [s.label for s in plot.series] == sorted(["alpha", "beta"])
            await pilot.press("e")
            assert compare.show_eval
            await pilot.press("escape")
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, RunMonitor), "the monitor")

    run_async(scenario())


def test_launch_form_and_dry_run_on_the_example():
    project = EXAMPLES / "template_project"
    if not project.is_dir():
        pytest.skip("examples/template_project is not in the tree")

    async def scenario():
        app = Workbench(project, now=NOW, poll=False)
        async with app.run_test(size=(120, 40)) as pilot:
            app.push_screen(LaunchScreen(project, "default.yaml"))
            await pilot.pause()
            screen = app.screen
            await wait_for(pilot, lambda: bool(screen.specs), "the config's options")
            greeting = screen.query_one("#arg-greeting", Input)
            assert greeting.value == "hello"  # the template's default
            greeting.value = "bonjour"
            values = screen.form_values()
            assert values["greeting"] == "bonjour"
            await pilot.press("f5")
            shown = screen.query_one("#launch-command", Static)
            await wait_for(
                pilot,
                lambda: "launching" not in str(shown.render()) and "rendering" not in str(shown.render()),
                "the dry run",
            )
            text = str(shown.render())
            # Either the exact command, or the engine's own one-line reason, in place.
            assert "would run" in text or "output_dir" in text
            # A bad value is reported, not raised.
            screen.query_one("#arg-repeat", Input).value = "0"
            await pilot.press("f5")
            await wait_for(pilot, lambda: "minimum" in str(shown.render()), "the bound error")

    run_async(scenario())


def test_dataset_screen_shows_stats_and_histogram(tmp_path):
    stats = {
        "count": 10,
        "min": 3,
        "max": 90,
        "mean": 40.0,
        "median": 38.0,
        "std": 9.0,
        "p90": 70.0,
        "p99": 88.0,
        "fill_ratio": 0.44,
        "max_length": 90,
        "bin_edges": [3.0, 46.5, 90.0],
        "bin_counts": [7, 3],
    }
    assert "p99 88" in format_stats(stats)

    async def scenario():
        app = Workbench(tmp_path, now=NOW, poll=False)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = DatasetScreen(tmp_path, "nothing.yaml")
            app.push_screen(screen)
            await pilot.pause()
            screen.post_message(ProbeDone({"stats": stats, "examples": ["It was a dark night."], "columns": ["text"]}))
            await pilot.pause()
            assert "10[/] examples" in format_stats(stats)
            assert "█" in str(screen.query_one("#dataset-histogram").render())
            # A config that cannot be built: the child's error shows in place.
            await pilot.press("ctrl+r")
            stats_view = screen.query_one("#dataset-stats", Static)
            await wait_for(pilot, lambda: "building" not in str(stats_view.render()), "the probe to fail", tries=1500)
            assert str(stats_view.render()).strip()
            assert "examples   min" not in str(stats_view.render())

    run_async(scenario())


def test_histogram_bars_scale_to_the_tallest_column():
    text = histogram_bars([1, 2, 4, 8], 4, 2).plain.splitlines()
    assert text[0][-1] == "█" and text[1][-1] == "█"
    assert text[0][0] == " "
    assert histogram_bars([5, 5], 2, 1, ascii_only=True).plain == "##"


def test_palette_lists_screen_actions_only_where_they_apply():
    monitor = {label for label, _h, _a in actions_for("RunMonitor")}
    browse = {label for label, _h, _a in actions_for("BrowseScreen")}
    assert "Stop run" in monitor and "Stop run" not in browse
    assert "Quit" in monitor and "Quit" in browse
    for _label, _help, action, _where in ACTIONS:
        assert action.startswith(("app.", "screen."))


@pytest.mark.parametrize(
    "screen", ["RunMonitor", "RunsScreen", "BrowseScreen", "LaunchScreen", "GenerateScreen", "EditorScreen"]
)
def test_every_key_in_a_footer_is_in_the_palette(screen):
    """The README promises the palette has every action: each shown binding of a screen
    (but Back) has an entry there."""
    import importlib

    module = {
        "RunMonitor": "monitor",
        "RunsScreen": "runs",
        "BrowseScreen": "browse",
        "LaunchScreen": "launch",
        "GenerateScreen": "generate",
        "EditorScreen": "editor",
    }[screen]
    cls = getattr(importlib.import_module(f"fgtui.app.screens.{module}"), screen)
    offered = {action for _label, _help, action in actions_for(screen)}
    for binding in cls.BINDINGS:
        if not binding.show or binding.action in ("app.back", "back"):
            continue
        name = binding.action
        assert name in offered or f"screen.{name}" in offered or f"app.{name}" in offered, (
            f"{screen}: key {binding.key} ({binding.action}) is not in the palette"
        )


def test_palette_runs_an_action(finished_run):
    async def scenario():
        app = Workbench(finished_run, now=NOW, poll=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.screen.tail is not None, "the run")
            app.plot_mode = "braille"
            await pilot.press("ctrl+p")
            await pilot.pause()
            for key in "cycle plot":
                await pilot.press("space" if key == " " else key)
            await pilot.pause(0.3)
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.plot_mode == "block", "the palette action")

    run_async(scenario())


def test_no_terminal_prints_one_line_and_exits_2(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "fgtui.entry"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={**os.environ, "TERM": "xterm"},
    )
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "fgtui --run" in lines[0] and "fgtui ls" in lines[0]
    assert "\x1b[" not in done.stderr
    # The check happens before Textual is imported.
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from fgtui.app.main import run_workbench; "
            "code = run_workbench(None); print(code, 'textual' in sys.modules)",
        ],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    assert probe.stdout.split() == ["2", "False"]


def test_the_commands_offered_without_a_terminal_exist(tmp_path, capsys):
    """NO_TERMINAL's `fgtui logs summary RUN` reads a run (`fgtui logs RUN` was refused)."""
    from fgtui.app.main import NO_TERMINAL
    from fgtui.engine.cli import main
    from fgtui.engine.runs.synthetic import write_run

    run = write_run(tmp_path / "runs" / "r", 10)
    offered = [command.split() for command in re.findall(r"`fgtui ([^`]+)`", NO_TERMINAL)]
    assert ["logs", "summary", "RUN"] in offered and ["--run", "CFG"] in offered
    assert main(["logs", "summary", str(run)]) == 0
    assert "completed" in capsys.readouterr().out


def test_dumb_terminal_is_refused(monkeypatch, capsys):
    from fgtui.app.main import run_workbench

    monkeypatch.setenv("TERM", "dumb")
    assert run_workbench(None) == 2
    assert "TERM=dumb" in capsys.readouterr().err


def test_launch_form_dry_runs_a_slurm_submission():
    project = EXAMPLES / "tutorials" / "tiny_llama"

    async def scenario():
        app = Workbench(project, now=NOW, poll=False)
        async with app.run_test(size=(120, 50)) as pilot:
            app.push_screen(LaunchScreen(project, "train_tiny_llama.yaml"))
            await pilot.pause()
            screen = app.screen
            await wait_for(pilot, lambda: bool(screen.specs), "the config's options")
            nodes = screen.query_one("#field-nodes", Input)
            assert not nodes.parent.display  # SLURM fields show only when asked for
            screen.query_one("#field-slurm", Switch).value = True
            await wait_for(pilot, lambda: nodes.parent.display, "the SLURM fields")
            assert screen.query_one("#field-devices", Input).disabled
            nodes.value = "2"
            screen.query_one("#field-gpus-per-node", Input).value = "8"
            screen.query_one("#field-time", Input).value = "4:00:00"
            await pilot.press("f5")
            shown = screen.query_one("#launch-command", Static)
            await wait_for(pilot, lambda: "would submit" in str(shown.render()), "the dry run")
            text = str(shown.render())
            assert "--nodes=2" in text and "--gpus-per-node=8" in text and "--time=4:00:00" in text
            nodes.value = "zero"
            await pilot.press("f5")
            await wait_for(pilot, lambda: "whole numbers" in str(shown.render()), "the bad value")

    run_async(scenario())
