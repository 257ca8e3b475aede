"""A dataset config: a few examples and the token-length histogram with its statistics.

The numbers come from `engine.data.histogram.length_histogram`, computed in
a child process (`fgtui.app.dataset_probe`) so that the UI never imports
the ML libraries a dataset build pulls in. The child reports its stages and
the `datasets` progress bars on stderr; the screen shows the latest line and
the time so far, and Escape (or the Cancel button) ends the child.

The form is two columns, tabbed through column by column: what to build
(target, tokenizer) and how to read it (text feature, the "tokenized" box).
The tokenizer field starts from what the config names (its `tokenizer`
target, as `config:tokenizer`, or the default of its `tokenizer` variable);
a relative path is read from the directory fgtui was started in, as a shell
would, although the child runs in the project directory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Footer, Input, Label, RichLog, Static, Switch

from fgtui.app.widgets.histogram import histogram_bars

CONFIG_PREFIX = "config:"  # the tokenizer field names a target of the config, not a directory


class ProbeDone(Message):
    def __init__(self, result: dict) -> None:
        super().__init__()
        self.result = result


class ProbeProgress(Message):
    def __init__(self, line: str) -> None:
        super().__init__()
        self.line = line


class TokenizerNamed(Message):
    def __init__(self, value: str) -> None:
        super().__init__()
        self.value = value


def format_stats(stats: dict) -> str:
    return (
        f"[b]{stats['count']}[/] examples   min {stats['min']}   max {stats['max']}   "
        f"mean {stats['mean']:.1f}   median {stats['median']:.0f}   std {stats['std']:.1f}   "
        f"p90 {stats['p90']:.0f}   p99 {stats['p99']:.0f}   fill {100 * stats['fill_ratio']:.1f}% "
        f"of {stats['max_length']}"
    )


def named_tokenizer(graph) -> str:
    """What the config names as its tokenizer, for the tokenizer field ("" when nothing)."""
    from fgtui.engine.config.graph import VarNode

    if "tokenizer" not in graph.targets:
        return ""
    node = graph.select("tokenizer")
    if isinstance(node, VarNode):
        return node.default if node.has_default and isinstance(node.default, str) else ""
    return f"{CONFIG_PREFIX}tokenizer"


def resolve_tokenizer(value: str, started_in: Path) -> str:
    """The tokenizer argument for the child: `config:NAME` as it is, a path made
    absolute against where fgtui started, a Hub name as it is. Raises ValueError
    with the message to show when a path names nothing."""
    if not value or value.startswith(CONFIG_PREFIX):
        return value
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = started_in / path
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"tokenizer {value} is a file: give the directory holding tokenizer.json")
        return str(path.resolve())
    looks_like_path = value.startswith((".", "/", "~")) or value.count("/") != 1
    if looks_like_path:
        raise ValueError(f"no such directory: {value} (relative paths start from {started_in})")
    return value  # a Hub name, e.g. org/model


def _row(label: str, *fields: Widget) -> Horizontal:
    """One labelled row of the form."""
    return Horizontal(Label(label), *fields, classes="dataset-row")


class DatasetScreen(Screen):
    """Examples and length statistics of one dataset config."""

    BINDINGS = [Binding("escape", "back_or_cancel", "Back / cancel"), Binding("ctrl+r", "measure", "Measure")]

    def __init__(self, project_dir: str | Path, config: str, *, started_in: str | Path | None = None) -> None:
        super().__init__()
        self.project_dir = Path(project_dir)
        self.config = config
        self._started_in = Path(started_in) if started_in is not None else None
        self.result: dict | None = None
        self.process: subprocess.Popen | None = None
        self.cancelled = False
        self.started_at = 0.0
        self.last_line = ""
        self._ticker = None

    @property
    def started_in(self) -> Path:
        """Where relative paths start: the directory fgtui was started in."""
        return self._started_in or getattr(self.app, "started_in", None) or Path.cwd()

    def compose(self) -> ComposeResult:
        yield Static(f"Dataset {self.config}", classes="screen-title")
        with Horizontal(id="dataset-form"):
            with Vertical(classes="dataset-column"):
                yield _row("target", Input("train_dataset", id="ds-target", select_on_focus=False))
                yield _row(
                    "tokenizer", Input(placeholder="dir, or config:TARGET", id="ds-tokenizer", select_on_focus=False)
                )
            with Vertical(classes="dataset-column"):
                yield _row("text feature", Input("text", id="ds-feature", select_on_focus=False))
                yield _row(
                    "tokenized",
                    Switch(False, id="ds-tokenized"),
                    Button("Measure", id="ds-measure", variant="primary"),
                )
        yield Static("press Measure (ctrl+r) to build the dataset and measure it", id="dataset-stats")
        yield Static("", id="dataset-histogram")
        # Read from the first example down: a log that followed its end showed the last one's tail.
        yield RichLog(id="dataset-examples", wrap=True, markup=False, auto_scroll=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#ds-target", Input).focus()
        self.read_tokenizer_name()

    @work(thread=True, exclusive=True, group="tokenizer-name", exit_on_error=False)
    def read_tokenizer_name(self) -> None:
        """Fill the tokenizer field from the config (a preview: nothing is built)."""
        try:
            from fgtui.engine.config import load_graph
            from fgtui.engine.project import Project

            project = Project.open(self.project_dir)
            path = project.config_dir() / self.config
            rendered = project.environment().render_string(path.read_text(), {}, str(path))
            graph = load_graph(rendered.text, rendered.source)
        except Exception:  # noqa: BLE001 - a config that does not render says so when measured
            return
        named = named_tokenizer(graph)
        if named:
            self.post_message(TokenizerNamed(named))

    def on_tokenizer_named(self, message: TokenizerNamed) -> None:
        field = self.query_one("#ds-tokenizer", Input)
        if not field.value:  # never over what the user typed meanwhile
            field.value = message.value

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ds-measure":
            if self.process is not None:
                self.cancel()
            else:
                self.action_measure()

    def action_back_or_cancel(self) -> None:
        if self.process is not None:
            self.cancel()
        else:
            self.app.action_back()

    def action_measure(self) -> None:
        if self.process is not None:
            self.notify("already measuring: Escape cancels", severity="warning")
            return
        stats_view = self.query_one("#dataset-stats", Static)
        try:
            tokenizer = resolve_tokenizer(self.query_one("#ds-tokenizer", Input).value.strip(), self.started_in)
        except ValueError as error:
            stats_view.update(f"[b red]{escape(str(error))}[/]")
            return
        argv = [
            sys.executable,
            "-m",
            "fgtui.app.dataset_probe",
            str(self.project_dir),
            self.config,
            "--target",
            self.query_one("#ds-target", Input).value.strip() or "train_dataset",
            "--feature",
            self.query_one("#ds-feature", Input).value.strip() or "text",
        ]
        if tokenizer:
            argv += ["--tokenizer", tokenizer]
        if self.query_one("#ds-tokenized", Switch).value:
            argv.append("--tokenized")
        self.cancelled = False
        self.last_line = "starting"
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=self.project_dir,
            start_new_session=True,
            env={**os.environ, "FGTUI_PROGRESS": "1"},
        )
        self.query_one("#ds-measure", Button).label = "Cancel"
        self._ticker = self.set_interval(0.5, self.show_progress)
        self.show_progress()
        self.run_probe(self.process)

    def show_progress(self) -> None:
        seconds = time.monotonic() - self.started_at
        self.query_one("#dataset-stats", Static).update(
            f"building the dataset… {seconds:.0f} s   [dim]{escape(self.last_line)}[/]   (Escape cancels)"
        )

    def cancel(self) -> None:
        process = self.process
        if process is None:
            return
        self.cancelled = True
        try:
            os.killpg(process.pid, signal.SIGTERM)  # the child and any workers it started
        except ProcessLookupError:
            pass

    @work(thread=True, exclusive=True, group="probe", exit_on_error=False)
    def run_probe(self, process: subprocess.Popen) -> None:
        def read_progress() -> None:
            buffer = b""
            while chunk := process.stderr.read1(4096):
                buffer = (buffer + chunk)[-65536:]
                lines = [part for part in buffer.replace(b"\r", b"\n").split(b"\n") if part.strip()]
                if lines:
                    self.post_message(ProbeProgress(lines[-1].decode("utf-8", "replace").strip()[:200]))
            self._stderr_tail = buffer.decode("utf-8", "replace")

        self._stderr_tail = ""
        reader = threading.Thread(target=read_progress, daemon=True)
        reader.start()
        out = process.stdout.read()
        process.wait()
        reader.join(timeout=5)
        if self.cancelled:
            result = {"cancelled": True}
        else:
            try:
                result = json.loads(out)
            except ValueError:
                tail = (
                    [line for line in self._stderr_tail.replace("\r", "\n").splitlines() if line.strip()]
                    or ["no output"]
                )[-1]
                result = {"error": f"the dataset probe failed (exit {process.returncode}): {tail}"}
        self.post_message(ProbeDone(result))

    def on_probe_progress(self, message: ProbeProgress) -> None:
        self.last_line = message.line
        if self.process is not None:
            self.show_progress()

    def on_probe_done(self, message: ProbeDone) -> None:
        self.process = None
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        self.query_one("#ds-measure", Button).label = "Measure"
        stats_view = self.query_one("#dataset-stats", Static)
        if message.result.get("cancelled"):
            stats_view.update("cancelled; press Measure (ctrl+r) to start again")
            return
        self.result = message.result
        if "error" in message.result:
            stats_view.update(f"[b red]{escape(message.result['error'])}[/]")
            return
        if message.result.get("tokenized") and not self.query_one("#ds-tokenized", Switch).value:
            self.query_one("#ds-tokenized", Switch).value = True
        stats = message.result["stats"]
        note = message.result.get("note")
        stats_view.update(format_stats(stats) + (f"\n[dim]{escape(note)}[/]" if note else ""))
        self.draw_histogram()
        examples = self.query_one("#dataset-examples", RichLog)
        examples.clear()
        for i, text in enumerate(message.result["examples"]):
            examples.write(f"──── example {i} ────")
            examples.write(text)

    def draw_histogram(self) -> None:
        if not self.result or "stats" not in self.result:
            return
        stats = self.result["stats"]
        view = self.query_one("#dataset-histogram", Static)
        width = max(10, self.size.width - 2)
        bars = histogram_bars(stats["bin_counts"], width, 8, ascii_only=self.app.plot_mode == "ascii")
        edges = stats["bin_edges"]
        axis = f"{edges[0]:.0f}".ljust(width - 8) + f"{edges[-1]:.0f}".rjust(8)
        bars.append("\n" + axis, style="dim")
        view.update(bars)

    def on_resize(self) -> None:
        self.draw_histogram()

    def on_unmount(self) -> None:
        self.cancel()  # leaving the screen (or quitting) ends the child too
