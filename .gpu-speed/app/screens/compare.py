"""Several runs on shared axes, with a summary table.

Each run keeps one colour everywhere on the screen (plot and table), in
the order the runs were chosen, so the first run reads as the baseline.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer

from fgtui.app.screens.monitor import theme_colors
from fgtui.app.widgets.plot import MetricPlot, PlotSeries
from fgtui.app.widgets.status import format_count
from fgtui.engine.runs.rundir import RunInfo, inspect_run
from fgtui.engine.runs.series import RunSeries, load_series


class RunsLoaded(Message):
    def __init__(self, loaded: list[tuple[RunInfo, RunSeries]]) -> None:
        super().__init__()
        self.loaded = loaded


def _best(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(finite.min()) if len(finite) else None


def _fmt(value: float | None, spec: str = ".4g") -> str:
    return format(value, spec) if value is not None else "–"


def _steps(info: RunInfo, last: dict) -> str:
    """Optimizer steps reached (of the planned total): the run's own count,
    not how many points it logged (one per logging_steps)."""
    step = int(last.get("step", info.step) or 0)
    return f"{step}/{info.max_steps}" if info.max_steps and info.max_steps > 0 else str(step)


class CompareScreen(Screen):
    """Overlay the smoothed loss and eval loss of two or more runs."""

    BINDINGS = [
        Binding("escape", "app.back", "Back"),
        Binding("e", "toggle_eval", "Eval/train"),
        Binding("m", "app.cycle_plot_mode", "Plot mode"),
    ]

    def __init__(self, run_dirs: list[str | Path]) -> None:
        super().__init__()
        self.run_dirs = [Path(p) for p in run_dirs]
        self.loaded: list[tuple[RunInfo, RunSeries]] = []
        self.show_eval = False

    def compose(self) -> ComposeResult:
        yield MetricPlot("smoothed loss by step", id="compare-plot")
        yield DataTable(id="compare-table", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(MetricPlot).mode = self.app.plot_mode
        self.query_one(DataTable).add_columns(
            "run", "state", "steps", "final loss", "best eval", "tok/s", "MFU", "peak GiB"
        )
        self.load()

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def load(self) -> None:
        loaded = []
        for path in self.run_dirs:
            series, _reader = load_series(path / "metrics.jsonl")
            loaded.append((inspect_run(path, records=series.events), series))
        self.post_message(RunsLoaded(loaded))

    def on_runs_loaded(self, message: RunsLoaded) -> None:
        self.loaded = message.loaded
        self.refresh_plot()
        colors = theme_colors(self.app)
        table = self.query_one(DataTable)
        table.clear()
        for i, (info, series) in enumerate(self.loaded):
            last = series.last_train or {}
            smoothed = series.metric("loss_smoothed")[1]
            mfu = last.get("mfu")
            peak = series.train["peak_mem_gib"].values
            table.add_row(
                f"[{colors[i % len(colors)]}]■[/] {info.name}",
                info.state,
                _steps(info, last),
                _fmt(float(smoothed[-1]) if len(smoothed) else None),
                _fmt(_best(series.metric("eval_loss")[1])),
                format_count(last.get("tokens_per_s")),
                f"{100 * mfu:.1f}%" if isinstance(mfu, (int, float)) else "–",
                _fmt(float(np.nanmax(peak)) if len(peak) and np.isfinite(peak).any() else None, ".1f"),
            )

    def refresh_plot(self) -> None:
        colors = theme_colors(self.app)
        metric = "eval_loss" if self.show_eval else "loss_smoothed"
        plot = self.query_one(MetricPlot)
        plot.border_title = "eval loss by step" if self.show_eval else "smoothed loss by step"
        plot.set_series(
            [
                PlotSeries(info.name, *series.metric(metric), colors[i % len(colors)])
                for i, (info, series) in enumerate(self.loaded)
            ]
        )

    def action_toggle_eval(self) -> None:
        self.show_eval = not self.show_eval
        self.refresh_plot()
