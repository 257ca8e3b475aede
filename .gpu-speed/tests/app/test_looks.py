"""Looks from themes/*.tcss and Textual themes: selectable, and remembered across sessions."""

from __future__ import annotations

import json

from fgtui.app.app import Workbench
from fgtui.app.looks import available_looks, load_settings, save_settings, settings_path
from fgtui.app.widgets.plot import MetricPlot

from apphelpers import NOW, run_async, wait_for


def test_shipped_looks_and_their_paired_themes():
    looks = {look.name: look for look in available_looks()}
    assert {"default", "high-contrast", "light"} <= set(looks)
    assert looks["light"].theme == "textual-light"
    assert looks["default"].path.name == "workbench.tcss"


def test_settings_round_trip_and_a_broken_file_is_named(tmp_path):
    save_settings(look="light")
    save_settings(theme="nord")
    assert load_settings() == {"look": "light", "theme": "nord"}
    settings_path().write_text("[1, 2")
    try:
        load_settings()
    except ValueError as error:
        assert "ui.json" in str(error)
    else:
        raise AssertionError("a broken settings file must be reported")


def test_switching_look_restyles_and_is_remembered(finished_run):
    async def scenario():
        app = Workbench(finished_run, now=NOW, poll=False)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.screen.query(MetricPlot), "the monitor")
            plot = app.screen.query_one("#plot-loss", MetricPlot)
            assert plot.styles.border_top[0] == "round"
            app.set_look("high-contrast")
            await pilot.pause()
            assert app.has_class("-look-high-contrast")
            assert plot.styles.border_top[0] == "heavy"
            app.theme = "nord"
            await pilot.pause()
        assert json.loads(settings_path().read_text()) == {"look": "high-contrast", "theme": "nord"}
        # A new session starts with both choices.
        again = Workbench(finished_run, now=NOW, poll=False)
        async with again.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            assert again.look == "high-contrast" and again.has_class("-look-high-contrast")
            assert again.theme == "nord"
            again.set_look("default")
            await pilot.pause()
            assert not again.has_class("-look-high-contrast")

    run_async(scenario())


def test_look_picker_lists_every_look(finished_run):
    async def scenario():
        app = Workbench(finished_run, now=NOW, poll=False)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            app.action_change_look()
            await pilot.pause(0.3)
            await pilot.press(*"light", "enter")
            await wait_for(pilot, lambda: app.look == "light", "the light look")
            assert app.theme == "textual-light"

    run_async(scenario())
