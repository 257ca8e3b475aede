"""A dataset config: a few examples and the token-length histogram with its statistics.

The numbers come from `engine.data.histogram.length_histogram`, computed in
a child process (`fgtui.app.dataset_probe`) so that the UI never imports
the ML libraries a dataset build pulls in.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, RichLog, Static, Switch

from fgtui.app.widgets.histogram import histogram_bars


class ProbeDone(Message):
    def __init__(self, result: dict) -> None:
        super().__init__()
        self.result = result


def format_stats(stats: dict) -> str:
    return (f"[b]{stats['count']}[/] examples   min {stats['min']}   max {stats['max']}   "
            f"mean {stats['mean']:.1f}   median {stats['median']:.0f}   std {stats['std']:.1f}   "
            f"p90 {stats['p90']:.0f}   p99 {stats['p99']:.0f}   fill {100 * stats['fill_ratio']:.1f}% "
            f"of {stats['max_length']}")


class DatasetScreen(Screen):
    """Examples and length statistics of one dataset config."""

    BINDINGS = [Binding("escape", "app.back", "Back"), Binding("ctrl+r", "measure", "Measure")]

    def __init__(self, project_dir: str | Path, config: str) -> None:
        super().__init__()
        self.project_dir = Path(project_dir)
        self.config = config
        self.result: dict | None = None

    def compose(self) -> ComposeResult:
        yield Static(f"Dataset {self.config}", classes="screen-title")
        with Horizontal(classes="launch-row"):
            yield Label("target")
            yield Input("train_dataset", id="ds-target")
            yield Label("tokenizer")
            yield Input(placeholder="tokenizer directory", id="ds-tokenizer")
        with Horizontal(classes="launch-row"):
            yield Label("text feature")
            yield Input("text", id="ds-feature")
            yield Label("tokenized")
            yield Switch(False, id="ds-tokenized")
            yield Button("Measure", id="ds-measure", variant="primary")
        yield Static("press Measure (ctrl+r) to build the dataset and measure it", id="dataset-stats")
        yield Static("", id="dataset-histogram")
        yield RichLog(id="dataset-examples", wrap=True, markup=False)
        yield Footer()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ds-measure":
            self.action_measure()

    def action_measure(self) -> None:
        argv = [sys.executable, "-m", "fgtui.app.dataset_probe", str(self.project_dir), self.config,
                "--target", self.query_one("#ds-target", Input).value.strip() or "train_dataset",
                "--feature", self.query_one("#ds-feature", Input).value.strip() or "text"]
        tokenizer = self.query_one("#ds-tokenizer", Input).value.strip()
        if tokenizer:
            argv += ["--tokenizer", tokenizer]
        if self.query_one("#ds-tokenized", Switch).value:
            argv.append("--tokenized")
        self.query_one("#dataset-stats", Static).update("building the dataset…")
        self.run_probe(argv)

    @work(thread=True, exclusive=True, group="probe", exit_on_error=False)
    def run_probe(self, argv: list[str]) -> None:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              cwd=self.project_dir)
        try:
            result = json.loads(done.stdout)
        except ValueError:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            result = {"error": f"the dataset probe failed (exit {done.returncode}): {tail}"}
        self.post_message(ProbeDone(result))

    def on_probe_done(self, message: ProbeDone) -> None:
        self.result = message.result
        stats_view = self.query_one("#dataset-stats", Static)
        if "error" in message.result:
            stats_view.update(f"[b red]{escape(message.result['error'])}[/]")
            return
        stats = message.result["stats"]
        stats_view.update(format_stats(stats))
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
