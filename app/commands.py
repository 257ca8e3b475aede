"""The command palette: every action of the workbench, searchable by name.

Actions that only make sense on one screen (stop a run, preview a config)
are offered only while that screen is active, so the palette never lists a
command that would do nothing.
"""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

# (label, help, action name, screen class name or None for everywhere)
ACTIONS: tuple[tuple[str, str, str, str | None], ...] = (
    ("Browse projects", "Workspace → projects → configs", "app.show_browse", None),
    ("Runs", "Every run under the workspace; watch or compare", "app.show_runs", None),
    ("Cycle plot mode", "Braille, half blocks or ASCII (for fonts without braille)", "app.cycle_plot_mode", None),
    ("Change theme", "Pick a Textual theme (remembered)", "app.change_theme", None),
    ("Change look", "Pick a look from themes/*.tcss (remembered)", "app.change_look", None),
    ("Quit", "Runs keep going; reopen to re-attach", "app.quit", None),
    ("Save checkpoint", "Ask the run to save now", "screen.control('save')", "RunMonitor"),
    ("Stop run", "Stop at the next step", "screen.control('stop')", "RunMonitor"),
    ("Save and stop run", "Save a checkpoint, then stop", "screen.control('save_stop')", "RunMonitor"),
    ("Abort run", "Stop at once without saving", "screen.control('abort')", "RunMonitor"),
    ("Generate", "Continue a prompt with the run's newest checkpoint", "screen.generate", "RunMonitor"),
    ("Toggle log y", "Logarithmic loss axis", "screen.toggle_log_y", "RunMonitor"),
    ("More smoothing", "Raise the EMA weight", "screen.smoothing(1)", "RunMonitor"),
    ("Less smoothing", "Lower the EMA weight", "screen.smoothing(-1)", "RunMonitor"),
    ("Watch run", "Open the run under the cursor", "screen.open_run", "RunsScreen"),
    ("Mark run", "Mark or unmark the run under the cursor for comparing", "screen.mark", "RunsScreen"),
    ("Compare marked runs", "Overlay the marked runs", "screen.compare", "RunsScreen"),
    ("Rescan runs", "Look for new run directories", "screen.rescan", "RunsScreen"),
    ("Toggle eval/train", "Compare eval loss instead of train loss", "screen.toggle_eval", "CompareScreen"),
    ("Preview config", "Open the template with its preprocessed YAML", "screen.preview", "BrowseScreen"),
    ("Launch config", "Form from the config's dynamic args", "screen.launch", "BrowseScreen"),
    ("Dataset view", "Examples and the length histogram", "screen.dataset", "BrowseScreen"),
    ("Edit template in $EDITOR", "Suspend and edit the file", "screen.external_edit", "BrowseScreen"),
    ("New workspace", "Create a workspace here", "screen.new_workspace", "BrowseScreen"),
    ("New project", "Create a project in the workspace", "screen.new_project", "BrowseScreen"),
    ("New config", "Create a config in the project", "screen.new_config", "BrowseScreen"),
    ("Reload tree", "Read the projects again", "screen.reload", "BrowseScreen"),
    ("Save template", "Write the editor to disk", "screen.save", "EditorScreen"),
    ("Edit in $EDITOR", "Suspend and edit the file", "screen.external_edit", "EditorScreen"),
    ("Go to error", "Move the cursor to the line the template error names", "screen.goto_error", "EditorScreen"),
    ("Launch this config", "The launch form of the config being edited", "screen.launch", "EditorScreen"),
    ("Dry run", "Show the command (or sbatch directives) a launch would use", "screen.dry_run", "LaunchScreen"),
    ("Launch", "Start the run detached", "screen.launch", "LaunchScreen"),
    ("Generate again", "Continue the prompt once more", "screen.generate", "GenerateScreen"),
    (
        "Allow model code",
        "Run the Python code shipped with this model, for this session (asks first, naming the files)",
        "screen.allow_model_code",
        "GenerateScreen",
    ),
)


def actions_for(screen_name: str) -> list[tuple[str, str, str]]:
    return [
        (label, help_text, action)
        for label, help_text, action, where in ACTIONS
        if where is None or where == screen_name
    ]


class WorkbenchCommands(Provider):
    """Palette entries for the actions that apply to the active screen."""

    def _actions(self) -> list[tuple[str, str, str]]:
        return actions_for(type(self.screen).__name__)

    async def discover(self) -> Hits:
        for label, help_text, action in self._actions():
            yield DiscoveryHit(label, partial(self.app.run_action, action, self.screen), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for label, help_text, action in self._actions():
            score = matcher.match(label)
            if score > 0:
                yield Hit(
                    score, matcher.highlight(label), partial(self.app.run_action, action, self.screen), help=help_text
                )
