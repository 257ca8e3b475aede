"""Issue 17 item 4: focus in the editor and the launch form."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Static, Tabs, TextArea, Tree

from fgtui.app.app import Workbench
from fgtui.app.screens.editor import EditorScreen
from fgtui.app.screens.launch import LaunchScreen

from apphelpers import NOW, run_async, wait_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_tab_in_the_editor_moves_to_the_preview_tabs_and_edits_are_marked(workspace):
    async def scenario():
        app = Workbench(workspace, now=NOW, poll=False)
        async with app.run_test(size=(120, 40)) as pilot:
            tree = app.screen.query_one(Tree)
            await wait_for(pilot, lambda: len(tree.root.children) > 0, "the project tree")
            default = next(n for n in tree.root.children[0].children if "default" in str(n.label))
            tree.move_cursor(default)
            await pilot.press("p")
            screen = app.screen
            assert isinstance(screen, EditorScreen)
            await wait_for(pilot, lambda: screen.last is not None, "the first preview")
            editor = screen.query_one("#template-editor", TextArea)
            title = screen.query_one("#editor-title", Static)
            assert app.focused is editor and "unsaved" not in str(title.render())
            before = editor.text
            await pilot.press("tab")
            assert editor.text == before  # Tab did not indent the template
            assert isinstance(app.focused, Tabs)  # one Tab reaches Preprocessed/Targets/Graph/Code
            await pilot.press("right")
            assert screen.query_one("#preview-tabs").active == "tab-targets"
            await pilot.press("shift+tab")
            assert app.focused is editor
            await pilot.press("x")
            assert "unsaved" in str(title.render())
            await pilot.press("backspace")  # back to the saved text: no marker
            assert "unsaved" not in str(title.render())
            await pilot.press("y", "ctrl+s")
            assert "unsaved" not in str(title.render())

    run_async(scenario())


def test_launch_form_focuses_its_first_field_and_keeps_prefilled_values():
    project = EXAMPLES / "template_project"
    if not project.is_dir():
        pytest.skip("examples/template_project is not in the tree")

    async def scenario():
        app = Workbench(project, now=NOW, poll=False)
        async with app.run_test(size=(80, 24)) as pilot:
            app.push_screen(LaunchScreen(project, "default.yaml"))
            await pilot.pause()
            screen = app.screen
            assert app.focused is screen.query_one("#field-devices", Input)
            await pilot.press("c", "p", "u")
            assert screen.query_one("#field-devices", Input).value == "cpu"
            await wait_for(pilot, lambda: bool(screen.specs), "the config's options")
            greeting = screen.query_one("#arg-greeting", Input)
            for _ in range(20):
                if app.focused is greeting:
                    break
                await pilot.press("tab")
            assert app.focused is greeting
            await pilot.press("!")
            assert greeting.value == "hello!"  # tabbing in kept the default

    run_async(scenario())


def test_quitting_with_unsaved_edits_asks_first(workspace):
    from fgtui.app.screens.dialogs import ConfirmScreen

    async def scenario():
        app = Workbench(workspace, now=NOW, poll=False)
        async with app.run_test(size=(100, 30)) as pilot:
            tree = app.screen.query_one(Tree)
            await wait_for(pilot, lambda: len(tree.root.children) > 0, "the project tree")
            default = next(n for n in tree.root.children[0].children if "default" in str(n.label))
            tree.move_cursor(default)
            await pilot.press("p")
            screen = app.screen
            await wait_for(pilot, lambda: screen.last is not None, "the first preview")
            await pilot.press("x", "ctrl+q")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen) and app.is_running
            await pilot.press("escape")
            assert app.screen is screen and app.is_running
            await pilot.press("ctrl+q", "y")
            await pilot.pause()
            assert not app.is_running

    run_async(scenario())
