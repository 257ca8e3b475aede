"""Edit a template with its preprocessed YAML, targets, graph and generated code beside it.

A keystroke starts a worker at once when none is rendering; keystrokes that
arrive while one renders are coalesced into a single follow-up render of the
latest text, so an isolated keystroke pays no debounce delay and a burst of
typing never queues renders. The worker renders the unsaved text
(`TemplateEnvironment.render_string`), parses it and generates code, all off
the UI thread. Each request carries a generation number, so a slow render
that finishes after a newer one never overwrites it. A broken
template shows its error (file:line:col) above the preview, which keeps the
last good result. Warnings — the project's (meta.yaml) and the render's
(an inline template defined twice, a deprecated tag) — show above the preview
as `fgtui pp` prints them on stderr.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Select, Static, TabbedContent, TabPane, TextArea

from fgtui.app.widgets.codeview import CodeView
from fgtui.app.widgets.template_editor import TemplateEditor


@dataclass
class Preview:
    """The outcome of one preview request."""

    generation: int
    text: str = ""
    targets: list[str] = field(default_factory=list)
    graph_yaml: str = ""
    code: str = ""
    templates: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    error_line: int | None = None
    seconds: float = 0.0


class PreviewReady(Message):
    def __init__(self, preview: Preview) -> None:
        super().__init__()
        self.preview = preview


def render_preview(environment, text: str, name: str, target: str | None, generation: int) -> Preview:
    """Render, parse and generate code for unsaved template text.

    Stops at the first stage that fails and reports where; anything that is
    not an FgError is still shown rather than raised, because a preview must
    survive whatever half-typed text it is given.
    """
    from fgtui.engine.config import generate_code, graph_to_yaml, load_graph
    from fgtui.engine.errors import FgError

    started = time.perf_counter()
    preview = Preview(generation)
    try:
        rendered = environment.render_string(text, {}, name)
        preview.text = rendered.text
        preview.templates = list(rendered.templates)
        preview.warnings = list(rendered.warnings)
        graph = load_graph(rendered.text, rendered.source, line_map=rendered.line_map, chain_for=rendered.chain_to)
        preview.warnings += [w for w in graph.warnings if w not in preview.warnings]
        preview.targets = list(graph.targets)
        preview.graph_yaml = graph_to_yaml(graph)
        chosen = (
            target
            if target in graph.targets
            else ("main" if "main" in graph.targets else (preview.targets[0] if preview.targets else None))
        )
        if chosen is not None:
            preview.code = generate_code(graph, chosen)
    except FgError as error:
        preview.error = error.one_line()
        location = error.location
        if location is not None and location.line is not None and Path(location.file).name == Path(name).name:
            preview.error_line = location.line
    except Exception as error:  # noqa: BLE001 - see docstring
        preview.error = f"{type(error).__name__}: {error}"
    preview.seconds = time.perf_counter() - started
    return preview


class EditorScreen(Screen):
    """A template file in an editor, its preview live beside it."""

    BINDINGS = [
        Binding("escape", "back", "Back", priority=True),  # the code editor would keep it
        Binding("ctrl+s", "save", "Save"),
        Binding("ctrl+o", "external_edit", "$EDITOR"),
        Binding("ctrl+g", "goto_error", "Go to error"),
        Binding("ctrl+l", "launch", "Launch"),
    ]

    def __init__(self, project_dir: str | Path, config: str) -> None:
        super().__init__()
        self.project_dir = Path(project_dir)
        self.config = config
        self.path: Path | None = None
        self.environment = None
        self.generation = 0
        self.last: Preview | None = None
        self.saved_text = ""
        self._rendering = False  # a preview worker is running
        self._stale = False  # the text changed since that worker started
        self.error_line: int | None = None
        self._target_options: list[str] = []
        self._error_shown: str | None = None
        self.title_text = config
        self._marked_unsaved = False
        self.project_warnings: list[str] = []  # meta.yaml's, for every preview of the project
        self._warnings_shown: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(f"{self.config}", id="editor-title", classes="screen-title")
        with Horizontal(id="editor-panes"):
            # Tab moves on to the preview tabs: a key that silently indented the
            # template was an edit nobody meant (indent with spaces).
            yield TemplateEditor.code_editor("", language="yaml", id="template-editor", tab_behavior="focus")
            with Vertical(id="preview-side"):
                yield Static("", id="preview-error")
                yield Static("", id="preview-warnings")
                with TabbedContent(id="preview-tabs"):
                    with TabPane("Preprocessed", id="tab-pp"):
                        yield CodeView("yaml", id="preview-yaml")
                    with TabPane("Targets", id="tab-targets"):
                        yield Static("", id="preview-targets")
                    with TabPane("Graph", id="tab-graph"):
                        yield CodeView("yaml", id="preview-graph")
                    with TabPane("Code", id="tab-code"):
                        yield Select([], prompt="target", id="code-target", allow_blank=True)
                        yield CodeView("python", id="preview-code")
        yield Footer()

    def on_mount(self) -> None:
        self.open_template()

    @work(thread=True, exclusive=True, group="open", exit_on_error=False)
    def open_template(self) -> None:
        from fgtui.engine.project import Project

        try:
            project = Project.open(self.project_dir)
            path = project.config_dir() / self.config
            text = path.read_text()
            environment = project.environment()
        except Exception as error:  # noqa: BLE001 - shown in place
            self.app.call_from_thread(self._show_error, f"cannot open {self.config}: {error}")
            return
        self.app.call_from_thread(self._opened, path, text, environment, project.meta.warnings)

    def _opened(self, path: Path, text: str, environment, warnings: list[str]) -> None:
        self.path, self.environment, self.saved_text = path, environment, text
        self.project_warnings = list(warnings)
        self._show_warnings([])
        from fgtui.app.screens.browse import short_path

        self.title_text = short_path(path, self.project_dir.parent)
        self._show_title()
        editor = self.query_one("#template-editor", TextArea)
        editor.load_text(text)
        editor.focus()
        self.request_preview()

    def _show_error(self, message: str | None) -> None:
        # Static.update lays out the whole screen; most previews leave the error as it was.
        if message == self._error_shown:
            return
        self._error_shown = message
        error = self.query_one("#preview-error", Static)
        error.update(message or "")
        error.set_class(bool(message), "-shown")

    def _show_warnings(self, render_warnings: list[str]) -> None:
        from rich.markup import escape

        warnings = self.project_warnings + [w for w in render_warnings if w not in self.project_warnings]
        text = "\n".join(f"[b]warning:[/b] {escape(w)}" for w in warnings)
        if text == self._warnings_shown:
            return
        self._warnings_shown = text
        shown = self.query_one("#preview-warnings", Static)
        shown.update(text)
        shown.set_class(bool(warnings), "-shown")

    # -- live preview ---------------------------------------------------------

    @property
    def unsaved(self) -> bool:
        return self.path is not None and self.query_one("#template-editor", TextArea).text != self.saved_text

    def _show_title(self) -> None:
        self._marked_unsaved = self.unsaved
        marker = " [b yellow]● unsaved[/] (ctrl+s saves)" if self._marked_unsaved else ""
        from rich.markup import escape

        self.query_one("#editor-title", Static).update(escape(str(self.title_text)) + marker)

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        if event.text_area.id != "template-editor" or self.environment is None:
            return
        if self.unsaved != self._marked_unsaved:
            self._show_title()
        if self._rendering:
            self._stale = True
        else:
            self.request_preview()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "code-target" and self.last and event.value != Select.NULL:
            self.request_preview()

    def request_preview(self) -> None:
        self.generation += 1
        self._rendering, self._stale = True, False
        target = self.query_one("#code-target", Select).value
        self.preview_worker(
            self.query_one("#template-editor", TextArea).text,
            None if target == Select.NULL else str(target),
            self.generation,
        )

    @work(thread=True, exclusive=True, group="preview", exit_on_error=False)
    def preview_worker(self, text: str, target: str | None, generation: int) -> None:
        self.post_message(PreviewReady(render_preview(self.environment, text, str(self.path), target, generation)))

    def on_preview_ready(self, message: PreviewReady) -> None:
        preview = message.preview
        if preview.generation != self.generation:
            return  # a newer request is on its way
        self._rendering = False
        if self._stale:
            self.request_preview()  # show this one meanwhile; the newer text follows
        self._show_error(preview.error)
        self.error_line = preview.error_line
        if preview.error:
            return  # the last good preview stays, and its warnings with it
        self._show_warnings(preview.warnings)
        self.last = preview
        self.show_active_tab()
        select = self.query_one("#code-target", Select)
        current = select.value
        options = [(name, name) for name in preview.targets]
        if self._target_options != preview.targets:
            self._target_options = list(preview.targets)
            with select.prevent(Select.Changed):
                select.set_options(options)
                if current in preview.targets:
                    select.value = current

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.show_active_tab()

    def show_active_tab(self) -> None:
        """Fill only the visible preview tab: re-highlighting hidden ones would
        cost more than the render itself; the others fill when opened."""
        preview = self.last
        if preview is None:
            return
        active = self.query_one("#preview-tabs", TabbedContent).active
        if active == "tab-targets":
            from rich.markup import escape

            from fgtui.app.screens.browse import short_path

            templates = [short_path(t, self.project_dir) for t in preview.templates]
            self.query_one("#preview-targets", Static).update(
                "[b]targets[/]\n"
                + escape("\n".join(preview.targets))
                + "\n\n[b]templates[/]\n"
                + escape("\n".join(templates))
            )
            return
        area_id, text = {
            "tab-pp": ("#preview-yaml", preview.text),
            "tab-graph": ("#preview-graph", preview.graph_yaml),
            "tab-code": ("#preview-code", preview.code),
        }.get(active, ("#preview-yaml", preview.text))
        self.query_one(area_id, CodeView).set_text(text)

    # -- actions ----------------------------------------------------------------

    def action_save(self) -> None:
        if self.path is None:
            return
        text = self.query_one("#template-editor", TextArea).text
        self.path.write_text(text)
        self.saved_text = text
        self._show_title()
        # No environment.invalidate(): the preview renders the editor's text
        # through render_string, and other renders notice the new mtime.
        self.notify(f"saved {self.path.name}")

    def action_goto_error(self) -> None:
        preview_line = self._error_line()
        if preview_line is not None:
            editor = self.query_one("#template-editor", TextArea)
            editor.move_cursor((preview_line - 1, 0))
            editor.focus()

    def _error_line(self) -> int | None:
        return self.error_line

    def action_external_edit(self) -> None:
        if self.path is None:
            return
        from fgtui.app.screens.browse import edit_externally

        if self.query_one("#template-editor", TextArea).text != self.saved_text:
            self.action_save()
        edit_externally(self.app, self.path)
        self.saved_text = self.path.read_text()
        self.query_one("#template-editor", TextArea).load_text(self.saved_text)
        self._show_title()
        self.request_preview()

    def action_launch(self) -> None:
        from fgtui.app.screens.launch import LaunchScreen

        self.app.push_screen(LaunchScreen(self.project_dir, self.config))

    def action_back(self) -> None:
        editor = self.query_one("#template-editor", TextArea)
        if editor.text != self.saved_text:
            from fgtui.app.screens.dialogs import ConfirmScreen

            self.app.push_screen(ConfirmScreen("Discard unsaved changes?"), lambda yes: yes and self.app.pop_screen())
            return
        self.app.pop_screen()
