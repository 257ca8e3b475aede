"""Browse: workspace → projects → configs, with the details of the one under the cursor.

Listing renders every config (to read its `meta` target), which can take a
moment on a big workspace, so it happens in a worker; a config that fails to
render gets a PARSE ERROR badge and its one-line error instead of breaking
the tree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static, Tree

from fgtui.app.screens.dialogs import PromptScreen


@dataclass
class Selection:
    """What a tree node stands for."""

    kind: str  # "root", "project" or "config"
    project_dir: Path | None = None
    listing: Any = None  # engine.project.listing.ProjectListing
    entry: Any = None  # engine.project.listing.ConfigEntry


class TreeListed(Message):
    def __init__(self, listings: list | None, error: str | None) -> None:
        super().__init__()
        self.listings, self.error = listings, error


class DetailsReady(Message):
    def __init__(self, key: tuple, text: str) -> None:
        super().__init__()
        self.key, self.text = key, text


PACKAGE_DIR = Path(__file__).resolve().parents[2]


def short_path(path: str | Path, root: Path) -> str:
    """A path as short as it can be read: relative to the browsed root, or
    under `<fgtui>` for the templates fgtui ships, or under `~`."""
    path = Path(path)
    for base, prefix in ((root, ""), (PACKAGE_DIR, "<fgtui>/"), (Path.home(), "~/")):
        try:
            relative = path.resolve().relative_to(base.resolve())
        except (ValueError, OSError):
            continue
        return prefix + (relative.as_posix() if str(relative) != "." else "") or "."
    return str(path)


def config_label(entry) -> str:
    label = escape(entry.name)
    if entry.is_default:
        label += " [b]*[/b]"
    if entry.error:
        return f"{label} [reverse red] PARSE ERROR [/]"
    if entry.title and entry.title != Path(entry.name).stem:
        label += f" [dim]— {escape(entry.title)}[/]"
    return label


class BrowseScreen(Screen):
    """The tree of projects and configs; the start screen of the workbench."""

    BINDINGS = [
        Binding("enter", "preview", "Preview", show=False),
        Binding("p", "preview", "Preview"),
        Binding("l", "launch", "Launch"),
        Binding("d", "dataset", "Dataset"),
        Binding("e", "external_edit", "$EDITOR"),
        Binding("n", "new_config", "New config"),
        Binding("ctrl+r", "reload", "Reload"),
    ]

    def __init__(self, root: str | Path) -> None:
        super().__init__()
        self.root = Path(root)
        self.selection: Selection | None = None
        self._details_key: tuple | None = None
        self._empty_hint: str | None = None  # what the details pane says when nothing is listed

    def compose(self) -> ComposeResult:
        yield Static(f"fgtui — {self.root}", id="browse-title", classes="screen-title")
        with Horizontal():
            tree: Tree[Selection] = Tree(self.root.name or str(self.root), id="browse-tree", data=Selection("root"))
            tree.show_root = True
            yield tree
            with VerticalScroll(id="browse-details"):
                yield Static("reading projects…", id="details")
        yield Footer()

    def on_mount(self) -> None:
        # After the first frame: the listing imports the template engine
        # (jinja2, yaml: ~0.3 s), which would hold the GIL while Textual draws.
        self.call_after_refresh(self.list_projects)

    def action_reload(self) -> None:
        self.list_projects()

    @work(thread=True, exclusive=True, group="list", exit_on_error=False)
    def list_projects(self) -> None:
        try:
            from fgtui.engine.project.listing import list_tree

            self.post_message(TreeListed(list_tree(self.root), None))
        except Exception as error:  # noqa: BLE001 - shown in place, the app keeps running
            self.post_message(TreeListed(None, f"{type(error).__name__}: {error}"))

    def on_tree_listed(self, message: TreeListed) -> None:
        tree = self.query_one(Tree)
        tree.clear()
        details = self.query_one("#details", Static)
        if message.error:
            details.update(f"[b red]cannot list projects:[/] {escape(message.error)}")
            return
        listings = message.listings or []
        self._empty_hint = None
        for listing in listings:
            name = listing.name or listing.project_dir.name
            label = escape(name)
            if listing.error:
                label += " [reverse red] ERROR [/]"
            node = tree.root.add(label, data=Selection("project", listing.project_dir, listing), expand=True)
            for entry in listing.entries:
                node.add_leaf(config_label(entry), data=Selection("config", listing.project_dir, listing, entry))
        tree.root.expand()
        if not listings:
            from fgtui.app.main import bundled_examples

            self._empty_hint = (
                f"[b]No projects under {escape(str(self.root))}.[/]\n\n"
                f"Open the examples shipped with fgtui:\n  fgtui {escape(str(bundled_examples()))}\n"
                "or create a project here from the command palette (ctrl+p → New project)."
            )
            details.update(self._empty_hint)
        else:
            tree.focus()
            # Line 0 is the root; start on the first project. (move_cursor_to_line
            # builds the tree's lines now; move_cursor would need a layout first.)
            tree.move_cursor_to_line(1)

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        self.selection = event.node.data
        self.show_details()

    def on_tree_node_selected(self, event: Tree.NodeSelected) -> None:
        if event.node.data and event.node.data.kind == "config":
            self.action_preview()

    def show_details(self) -> None:
        selection = self.selection
        details = self.query_one("#details", Static)
        if selection is None or selection.kind == "root":
            details.update(self._empty_hint or f"[b]{escape(str(self.root))}[/]")
            return
        details.update(self._summary(selection))
        key = (str(selection.project_dir), selection.entry.name if selection.entry else None)
        self._details_key = key
        self.load_details(key, selection)

    def _summary(self, selection: Selection) -> str:
        listing = selection.listing
        if selection.kind == "project":
            lines = [
                f"[b]{escape(listing.name or listing.project_dir.name)}[/]",
                escape(listing.description or ""),
                f"[dim]{escape(short_path(listing.project_dir, self.root))}[/]",
            ]
            if listing.error:
                lines.append(f"[b red]{escape(listing.error)}[/]")
            lines += [f"[yellow]warning:[/] {escape(w)}" for w in listing.warnings]
            return "\n".join(lines)
        entry = selection.entry
        lines = [
            f"[b]{escape(entry.title or entry.name)}[/]" + ("  [reverse] default [/]" if entry.is_default else ""),
            escape(entry.description or ""),
            f"[dim]{escape(entry.name)}[/]",
        ]
        if entry.config_class:
            lines.append(f"class: {escape(entry.config_class)}")
        if entry.error:
            lines.append(f"\n[reverse red] PARSE ERROR [/] {escape(entry.error)}")
        return "\n".join(lines)

    @work(thread=True, exclusive=True, group="details", exit_on_error=False)
    def load_details(self, key: tuple, selection: Selection) -> None:
        self.post_message(DetailsReady(key, self._summary(selection) + "\n\n" + detail_text(selection, self.root)))

    def on_details_ready(self, message: DetailsReady) -> None:
        if message.key == self._details_key:
            self.query_one("#details", Static).update(message.text)

    # -- actions on the selected config -------------------------------------

    def _config(self) -> Selection | None:
        if self.selection is None or self.selection.kind != "config":
            self.notify("select a config first", severity="warning")
            return None
        return self.selection

    def _open_on_config(self, screen: type) -> None:
        """Push `screen(project_dir, config_name)` for the selected config."""
        selection = self._config()
        if selection is not None:
            self.app.push_screen(screen(selection.project_dir, selection.entry.name))

    def action_preview(self) -> None:
        from fgtui.app.screens.editor import EditorScreen

        self._open_on_config(EditorScreen)

    def action_launch(self) -> None:
        from fgtui.app.screens.launch import LaunchScreen

        self._open_on_config(LaunchScreen)

    def action_dataset(self) -> None:
        from fgtui.app.screens.dataset import DatasetScreen

        self._open_on_config(DatasetScreen)

    def action_external_edit(self) -> None:
        selection = self._config()
        if selection is None:
            return
        from fgtui.engine.project import Project

        path = Project.open(selection.project_dir).config_dir() / selection.entry.name
        edit_externally(self.app, path)
        self.list_projects()

    def _ask(self, question: str, then) -> None:
        self.app.push_screen(PromptScreen(question), lambda answer: answer and then(answer))

    def _scaffold(self, what: str, create) -> None:
        from fgtui.engine.errors import FgError

        try:
            created = create()
        except FgError as error:
            self.notify(error.one_line(), severity="error")
            return
        self.notify(f"created {what} {created}")
        self.list_projects()

    def action_new_workspace(self) -> None:
        from fgtui.engine.project.scaffold import create_workspace

        self._ask(
            "Name of the new workspace (created in the open directory):",
            lambda name: self._scaffold("workspace", lambda: create_workspace(self.root, name)[0]),
        )

    def action_new_project(self) -> None:
        from fgtui.engine.project.scaffold import create_project
        from fgtui.engine.project.workspace import find_workspace

        parent = find_workspace(self.root) or self.root
        self._ask(
            f"Name of the new project (in {parent}):",
            lambda name: self._scaffold("project", lambda: create_project(parent, name)),
        )

    def action_new_config(self) -> None:
        if self.selection is None or self.selection.project_dir is None:
            self.notify("select a project first", severity="warning")
            return
        from fgtui.engine.project import Project
        from fgtui.engine.project.scaffold import new_config

        project_dir = self.selection.project_dir

        def create(name: str) -> None:
            name = name if name.endswith(".yaml") else name + ".yaml"
            self._scaffold("config", lambda: new_config(Project.open(project_dir), name))

        self._ask("Name of the new config (e.g. small.yaml):", create)


def detail_text(selection: Selection, root: Path) -> str:
    """Search path, dynamic args and the templates a config pulls in (may render)."""
    from rich.markup import escape as esc

    from fgtui.engine.project import Project

    try:
        project = Project.open(selection.project_dir)
    except Exception as error:  # noqa: BLE001 - shown in place
        return f"[red]{esc(str(error))}[/]"
    lines = ["[b]search path[/]"] + [f"  {esc(short_path(p, root))}" for p in project.searchpath()]
    if selection.kind == "project":
        configs = project.configs()
        lines += ["", f"[b]configs[/] ({len(configs)}), default: {esc(str(project.default_config()))}"]
        return "\n".join(lines)
    name = selection.entry.name
    try:
        rendered = project.render(name)
        lines += [f"[yellow]warning:[/] {esc(w)}" for w in rendered.warnings]
        lines += ["", "[b]templates[/]"] + [f"  {esc(short_path(t, root))}" for t in rendered.templates]
        specs = project.dynamic_args(name)
        lines += ["", "[b]dynamic args[/]"] + (
            [f"  {esc(spec.long_name)}  [dim]{esc(spec.help_text())}[/]" for spec in specs] or ["  (none)"]
        )
    except Exception as error:  # noqa: BLE001 - a broken template shows its error, in place
        text = error.one_line() if hasattr(error, "one_line") else f"{type(error).__name__}: {error}"
        lines += ["", f"[reverse red] PARSE ERROR [/] {esc(text)}"]
    return "\n".join(lines)


def edit_externally(app, path: Path) -> None:
    """Open `path` in $VISUAL/$EDITOR with the UI suspended."""
    import shlex
    import subprocess

    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if not editor:
        app.notify("set $EDITOR to edit in an external editor", severity="warning")
        return
    with app.suspend():
        subprocess.call([*shlex.split(editor), str(path)])
