"""The workbench App: screens, global bindings, the command palette, themes.

Kept thin on purpose: each screen module is imported when first shown, so
the first frame does not pay for the editor, the launcher or the plots.
"""

from __future__ import annotations

import locale
import os
from functools import partial
from pathlib import Path

from textual.app import App
from textual.binding import Binding

from fgtui.app.commands import WorkbenchCommands
from fgtui.app.looks import DEFAULT_LOOK, available_looks, load_settings, save_settings, stylesheets

# The plot widget's modes (app/widgets/plot.py MODES), named here so the first frame
# does not import the widget; tests/app checks the two agree.
PLOT_MODES = ("braille", "block", "ascii")


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
        # Paths typed into the UI are read from here, as a shell would read them.
        self.started_in = Path.cwd()
        self.now = now  # fixed clock for snapshot tests
        self.poll = poll
        self.plot_mode = default_plot_mode()
        self.looks = {look.name: look for look in available_looks()}
        self.look = DEFAULT_LOOK
        # Model directories whose shipped Python code the user allowed (Generate screen):
        # kept in memory only, so a new workbench asks again.
        self.trusted_model_code: set[Path] = set()
        self._settings_error: str | None = None
        try:
            settings = load_settings()
        except ValueError as error:
            settings, self._settings_error = {}, str(error)
        if settings.get("theme") in self.available_themes:
            self.theme = settings["theme"]
        if settings.get("look") in self.looks:
            self.set_look(settings["look"], remember=False, pair_theme=False)

    def on_mount(self) -> None:
        from fgtui.engine.runs.rundir import is_run_dir

        if self._settings_error:
            self.notify(f"ignored saved UI settings: {self._settings_error}", severity="warning")
        self.theme_changed_signal.subscribe(self, self._remember_theme)

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
        """The one plot-mode switch: f4 anywhere, m on the monitor and the comparison."""
        self.plot_mode = PLOT_MODES[(PLOT_MODES.index(self.plot_mode) + 1) % len(PLOT_MODES)]
        from fgtui.app.widgets.plot import MetricPlot

        for plot in self.screen.query(MetricPlot):
            plot.mode = self.plot_mode
        self.notify(f"plot mode: {self.plot_mode}")

    # -- looks and themes ---------------------------------------------------------

    def set_look(self, name: str, *, remember: bool = True, pair_theme: bool = True) -> None:
        """Show the look `name` (a `themes/NAME.tcss`, or "default"); with
        `pair_theme`, also switch to the Textual theme the look names."""
        look = self.looks[name]
        for other in self.looks.values():
            self.set_class(other.name == name and name != DEFAULT_LOOK, other.css_class)
        self.look = name
        if pair_theme and look.theme and look.theme in self.available_themes:
            self.theme = look.theme
        if remember:
            save_settings(look=name)

    def action_change_look(self) -> None:
        """Pick a look from themes/*.tcss in the command palette."""
        from textual.command import SimpleCommand

        commands = [
            SimpleCommand(
                name,
                partial(self.set_look, name),
                f"{look.path.name}" + (f" with theme {look.theme}" if look.theme else ""),
            )
            for name, look in self.looks.items()
        ]
        self.search_commands(commands, placeholder="Search for looks…")

    def _remember_theme(self, theme) -> None:
        save_settings(theme=theme.name)

    async def action_quit(self) -> None:
        """Quit; with unsaved template edits, only after a yes (runs keep going either way)."""
        # Duck-typed (EditorScreen.unsaved), so quitting imports no screen module.
        unsaved = [screen for screen in self.screen_stack if getattr(screen, "unsaved", False)]
        if not unsaved:
            self.exit()
            return
        from fgtui.app.screens.dialogs import ConfirmScreen

        if isinstance(self.screen, ConfirmScreen):
            return
        names = ", ".join(str(screen.config) for screen in unsaved)
        self.push_screen(ConfirmScreen(f"Quit and lose the unsaved edits to {names}?"), lambda yes: yes and self.exit())

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
