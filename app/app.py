"""The workbench App: screens, global bindings, the command palette, themes.

Kept thin on purpose: each screen module is imported when first shown, so
the first frame does not pay for the editor, the launcher or the plots.
"""
from __future__ import annotations

import locale
import os
from pathlib import Path

from textual.app import App
from textual.binding import Binding

from fgtui.app.commands import WorkbenchCommands

THEMES_DIR = Path(__file__).resolve().parent.parent / "themes"
PLOT_MODES = ("braille", "block", "ascii")


def stylesheets() -> list[Path]:
    """The base stylesheet first, then any other `.tcss` in themes/ (user additions)."""
    base = THEMES_DIR / "workbench.tcss"
    return [base] + sorted(p for p in THEMES_DIR.glob("*.tcss") if p != base)


def default_plot_mode() -> str:
    """Braille needs a UTF-8 terminal; `FGTUI_PLOT` overrides (braille, block, ascii)."""
    chosen = os.environ.get("FGTUI_PLOT", "").strip().lower()
    if chosen in PLOT_MODES:
        return chosen
    encoding = locale.getpreferredencoding(False).lower().replace("-", "")
    return "braille" if "utf8" in encoding else "ascii"


class Workbench(App):
    """fgtui's terminal workbench, opened on a workspace, project or run directory."""

    TITLE = "fgtui"
    CSS_PATH = stylesheets()
    COMMANDS = App.COMMANDS | {WorkbenchCommands}
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("f2", "show_browse", "Browse"),
        Binding("f3", "show_runs", "Runs"),
        Binding("f4", "cycle_plot_mode", "Plot mode", show=False),
    ]

    def __init__(self, root: str | Path, *, now: float | None = None, poll: bool = True) -> None:
        super().__init__()
        self.root = Path(root)
        self.now = now  # fixed clock for snapshot tests
        self.poll = poll
        self.plot_mode = default_plot_mode()

    def on_mount(self) -> None:
        from fgtui.engine.runs.rundir import is_run_dir

        if is_run_dir(self.root):
            self.open_run(self.root)
        else:
            self.action_show_browse()

    # -- navigation used by screens and the palette -------------------------

    def open_run(self, run_dir: str | Path) -> None:
        from fgtui.app.screens.monitor import RunMonitor

        self.push_screen(RunMonitor(run_dir, now=self.now, poll=self.poll))

    def compare_runs(self, run_dirs: list[Path]) -> None:
        from fgtui.app.screens.compare import CompareScreen

        self.push_screen(CompareScreen(run_dirs))

    def action_show_browse(self) -> None:
        from fgtui.app.screens.browse import BrowseScreen

        if isinstance(self.screen, BrowseScreen):
            return
        for screen in self.screen_stack:
            if isinstance(screen, BrowseScreen):
                while not isinstance(self.screen, BrowseScreen):
                    self.pop_screen()
                return
        self.push_screen(BrowseScreen(self.root))

    def action_show_runs(self) -> None:
        from fgtui.app.screens.runs import RunsScreen

        if not isinstance(self.screen, RunsScreen):
            self.push_screen(RunsScreen(self.root, now=self.now))

    def action_cycle_plot_mode(self) -> None:
        self.plot_mode = PLOT_MODES[(PLOT_MODES.index(self.plot_mode) + 1) % len(PLOT_MODES)]
        from fgtui.app.widgets.plot import MetricPlot

        for plot in self.screen.query(MetricPlot):
            plot.mode = self.plot_mode
        self.notify(f"plot mode: {self.plot_mode}")

    def action_back(self) -> None:
        """Leave the current screen, unless it is the one the workbench opened on."""
        if len(self.screen_stack) > 2:
            self.pop_screen()
        else:
            self.action_show_browse_or_runs()

    def action_show_browse_or_runs(self) -> None:
        from fgtui.engine.runs.rundir import is_run_dir

        if is_run_dir(self.root):
            # Opened on a run: the runs next to it are the natural way up.
            from fgtui.app.screens.runs import RunsScreen

            self.switch_screen(RunsScreen(self.root.parent, now=self.now))
        else:
            self.notify("ctrl+q quits; runs keep going")
