"""The runs under a workspace or project: pick one to watch, or several to compare.

Runs are found from their directories alone (`engine.runs.rundir`), so a
run launched before the app started, or from another terminal, is listed
and re-attached the same way as one launched from here.
"""

from __future__ import annotations

import time
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from fgtui.app.widgets.status import format_count, format_duration
from fgtui.engine.runs.rundir import RunInfo, elapsed_seconds, find_runs, inspect_run


class RunsFound(Message):
    def __init__(self, runs: list[RunInfo]) -> None:
        super().__init__()
        self.runs = runs


class RunsScreen(Screen):
    """A table of runs; enter watches, space marks, c compares the marked runs."""

    BINDINGS = [
        Binding("escape", "app.back", "Back"),
        Binding("enter", "open_run", "Watch"),
        Binding("space", "mark", "Mark"),
        Binding("c", "compare", "Compare marked"),
        Binding("r", "rescan", "Rescan"),
    ]

    def __init__(self, root: str | Path, *, now: float | None = None) -> None:
        super().__init__()
        self.root = Path(root)
        self.now = now
        self.runs: list[RunInfo] = []
        self.marked: set[str] = set()

    def compose(self) -> ComposeResult:
        yield Static(f"Runs under {self.root}", id="runs-title", classes="screen-title")
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(" ", "run", "state", "step", "tokens", "loss", "elapsed", "path")
        self.action_rescan()

    def action_rescan(self) -> None:
        self.scan()

    @work(thread=True, exclusive=True, group="scan", exit_on_error=False)
    def scan(self) -> None:
        self.post_message(RunsFound([inspect_run(path) for path in find_runs(self.root)]))

    def on_runs_found(self, message: RunsFound) -> None:
        self.runs = message.runs
        self._fill()

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        now = self.now if self.now is not None else time.time()
        for info in self.runs:
            last = info.last_train or {}
            loss = last.get("loss")
            table.add_row(
                "●" if str(info.path) in self.marked else " ",
                info.name,
                info.state,
                f"{info.step}" + (f"/{info.max_steps}" if info.max_steps else ""),
                format_count(last.get("tokens")),
                f"{loss:.4g}" if isinstance(loss, (int, float)) else "–",
                format_duration(elapsed_seconds(info, now)),
                str(info.path.relative_to(self.root)) if info.path.is_relative_to(self.root) else str(info.path),
                key=str(info.path),
            )
        if self.runs:
            table.move_cursor(row=min(row, len(self.runs) - 1))
        else:
            self.query_one("#runs-title", Static).update(
                f"No runs under {self.root} yet — launch one from a config (l)"
            )

    def _current(self) -> RunInfo | None:
        table = self.query_one(DataTable)
        if not self.runs or table.cursor_row < 0:
            return None
        return self.runs[table.cursor_row]

    def action_open_run(self) -> None:
        info = self._current()
        if info is not None:
            self.app.open_run(info.path)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open_run()

    def action_mark(self) -> None:
        info = self._current()
        if info is None:
            return
        key = str(info.path)
        self.marked.symmetric_difference_update({key})
        self._fill()

    def action_compare(self) -> None:
        chosen = [Path(p) for p in self.marked] or ([self._current().path] if self._current() else [])
        if len(chosen) < 2:
            self.notify("mark two or more runs with space to compare them", severity="warning")
            return
        self.app.compare_runs(sorted(chosen))
