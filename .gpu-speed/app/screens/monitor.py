"""The run monitor: status line, live plots, stdout log, events and samples.

Opening a run reads its log in a worker: a sampled preview first when the
log is big (so the first plot comes within a second or two), then the whole
stream; from then on a timer polls the files every half second, also in a
worker, and the UI thread only appends the batch to numpy columns and
redraws. The run itself is never a child of the UI: closing the monitor or
the app leaves it running, and opening it again re-attaches from the files.
"""

from __future__ import annotations

import time
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Log, RichLog, TabbedContent, TabPane

from fgtui.app.widgets.events import describe_event, describe_sample
from fgtui.app.widgets.plot import MetricPlot, PlotSeries
from fgtui.app.widgets.status import RunStatus, status_text
from fgtui.engine.runs.follow import RunTail, TailBatch
from fgtui.engine.runs.reader import LogStreamReader
from fgtui.engine.runs.rundir import inspect_run, read_json
from fgtui.engine.runs.series import RunSeries, load_series, sample_series

PREVIEW_BYTES = 16 << 20  # logs above this get a sampled preview before the full read
POLL_SECONDS = 0.5
SMOOTHING_STEPS = (0.0, 0.6, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995)
SMALL_PLOTS = (
    ("lr", "learning rate"),
    ("grad_norm", "grad norm"),
    ("tokens_per_s", "tokens/s"),
    ("peak_mem_gib", "peak memory GiB"),
)


class SeriesLoaded(Message):
    def __init__(self, series: RunSeries, reader: LogStreamReader | None, partial: bool) -> None:
        super().__init__()
        self.series, self.reader, self.partial = series, reader, partial


class TailPolled(Message):
    def __init__(self, batch: TailBatch) -> None:
        super().__init__()
        self.batch = batch


class ControlDone(Message):
    def __init__(self, action: str, error: str | None) -> None:
        super().__init__()
        self.action, self.error = action, error


def theme_colors(app) -> list[str]:
    theme = app.current_theme
    return [c for c in (theme.primary, theme.accent, theme.warning, theme.success, theme.error, theme.secondary) if c]


class RunMonitor(Screen):
    """Watch one run directory."""

    BINDINGS = [
        Binding("escape", "app.back", "Back"),
        Binding("s", "control('save')", "Save"),
        Binding("x", "control('stop')", "Stop"),
        Binding("X", "control('save_stop')", "Save+stop"),
        Binding("ctrl+k", "control('abort')", "Abort"),
        Binding("g", "generate", "Generate"),
        Binding("m", "app.cycle_plot_mode", "Plot mode"),
        Binding("y", "toggle_log_y", "Log y"),
        Binding("left_square_bracket", "smoothing(-1)", "Less smooth", show=False),
        Binding("right_square_bracket", "smoothing(1)", "More smooth", show=False),
    ]

    def __init__(self, run_dir: str | Path, *, now: float | None = None, poll: bool = True) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.now = now  # a fixed clock for snapshots; None means wall time
        self.poll_enabled = poll
        self.series = RunSeries()
        self.info = inspect_run(self.run_dir, records=[])
        self.tail: RunTail | None = None
        self.state_override: str | None = "loading"
        self.bad_lines = 0
        self._polling = False
        self._shown_events = 0
        self._shown_samples = 0

    def compose(self) -> ComposeResult:
        yield RunStatus(id="run-status")
        with Vertical(id="plots"):
            yield MetricPlot("loss", id="plot-loss")
            with Horizontal(id="small-plots"):
                for key, title in SMALL_PLOTS:
                    yield MetricPlot(title, id=f"plot-{key}", classes="small-plot")
        with TabbedContent(id="run-tabs"):
            with TabPane("Log", id="tab-log"):
                yield Log(id="stdout", max_lines=5000)
            with TabPane("Events", id="tab-events"):
                yield RichLog(id="events", wrap=True, markup=False, max_lines=2000)
            with TabPane("Samples", id="tab-samples"):
                yield RichLog(id="samples", wrap=True, markup=False, max_lines=2000)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = str(self.run_dir)
        self.apply_plot_mode(getattr(self.app, "plot_mode", "braille"))
        self.refresh_status()
        self.load_run()

    # -- loading and following ------------------------------------------------

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def load_run(self) -> None:
        path = self.run_dir / "metrics.jsonl"
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size > PREVIEW_BYTES:
            self.post_message(SeriesLoaded(sample_series(path), None, partial=True))
        series, reader = load_series(path)
        self.post_message(SeriesLoaded(series, reader, partial=False))

    def on_series_loaded(self, message: SeriesLoaded) -> None:
        self.series = message.series
        if not message.partial:
            self.tail = RunTail(self.run_dir, message.reader)
            self.tail.seed(self.series.events, self.series.last_train)
            self.bad_lines = message.reader.bad_lines if message.reader else 0
            self.info = inspect_run(self.run_dir, records=self.series.events)
            self.info.last_train = self.series.last_train
            self.state_override = None
            self._show_new_rare_records()
            self.poll_once()
            if self.poll_enabled:
                self.set_interval(POLL_SECONDS, self.poll_once)
        self.refresh_plots()
        self.refresh_status()

    def poll_once(self) -> None:
        if self.tail is None or self._polling:
            return
        self._polling = True
        self.poll_worker()

    @work(thread=True, exclusive=True, group="poll", exit_on_error=False)
    def poll_worker(self) -> None:
        assert self.tail is not None
        self.post_message(TailPolled(self.tail.poll()))

    def on_tail_polled(self, message: TailPolled) -> None:
        self._polling = False
        batch = message.batch
        if batch.deleted:
            if self.state_override != "deleted":
                self.state_override = "deleted"
                self.notify(f"run directory {self.run_dir} was deleted; showing what was read", severity="warning")
                self.refresh_status()
            return
        if batch.reset:
            self.series = RunSeries(self.series.smoothing)
            self._shown_events = self._shown_samples = 0
            self.query_one("#events", RichLog).clear()
            self.query_one("#samples", RichLog).clear()
        if batch.records:
            self.series.extend(batch.records)
            self._show_new_rare_records()
            self.refresh_plots()
        if batch.log_lines:
            self.query_one("#stdout", Log).write_lines(batch.log_lines)
        if batch.info is not None:
            self.info = batch.info
        self.bad_lines = batch.bad_lines
        self.refresh_status()

    def _show_new_rare_records(self) -> None:
        events = self.query_one("#events", RichLog)
        rare = self.series.events[self._shown_events :]
        for record in rare:
            events.write(describe_event(record))
        self._shown_events = len(self.series.events)
        samples = self.query_one("#samples", RichLog)
        for record in self.series.samples[self._shown_samples :]:
            samples.write(describe_sample(record))
        self._shown_samples = len(self.series.samples)

    # -- drawing --------------------------------------------------------------

    def refresh_status(self) -> None:
        now = self.now if self.now is not None else time.time()
        self.query_one(RunStatus).show(
            status_text(self.info, self.series, now=now, state=self.state_override, bad_lines=self.bad_lines)
        )

    def refresh_plots(self) -> None:
        colors = theme_colors(self.app)
        series = self.series
        loss = [
            PlotSeries("loss", *series.metric("loss"), colors[0], dim=True),
            PlotSeries(f"smoothed {series.smoothing:g}", *series.metric("loss_smoothed"), colors[0]),
            PlotSeries("eval", *series.metric("eval_loss"), colors[2]),
        ]
        x_range = self._x_range()
        self.query_one("#plot-loss", MetricPlot).set_series(loss, x_range)
        on_cpu = any(e.get("event") == "start" and str(e.get("device", "")).startswith("cpu") for e in series.events)
        for i, (key, _title) in enumerate(SMALL_PLOTS):
            color = colors[(i + 1) % len(colors)]
            plot = self.query_one(f"#plot-{key}", MetricPlot)
            if key == "peak_mem_gib" and on_cpu:
                plot.empty_message = "not measured on CPU"
            elif self.info.finished:
                plot.empty_message = "none recorded"
            plot.set_series([PlotSeries(key, *series.metric(key), color)], x_range)

    def _x_range(self) -> tuple[float, float] | None:
        steps = self.series.train["step"].values
        if not len(steps):
            return None
        high = float(steps.max())
        max_steps = self.info.max_steps
        if max_steps and not self.info.finished and max_steps > high:
            high = float(max_steps)  # a live run's plot shows the road ahead
        return float(steps.min()), high

    def apply_plot_mode(self, mode: str) -> None:
        for plot in self.query(MetricPlot):
            plot.mode = mode

    # -- actions --------------------------------------------------------------

    def action_toggle_log_y(self) -> None:
        plot = self.query_one("#plot-loss", MetricPlot)
        plot.log_y = not plot.log_y

    def action_smoothing(self, direction: int) -> None:
        steps = SMOOTHING_STEPS
        current = min(range(len(steps)), key=lambda i: abs(steps[i] - self.series.smoothing))
        weight = steps[max(0, min(len(steps) - 1, current + direction))]
        self.series.set_smoothing(weight)
        self.refresh_plots()

    def action_generate(self) -> None:
        """Try the run's model: the newest checkpoint this run saved."""
        from fgtui.app.screens.generate import GenerateScreen

        self.app.push_screen(GenerateScreen(run_dir=self.run_dir))

    def action_control(self, action: str) -> None:
        job = read_json(self.run_dir / "job.json")
        reachable = job and (job.get("socket") or job.get("scheduler") == "slurm")
        if self.info.finished or not reachable:
            self.notify(
                f"cannot {action.replace('_', ' ')}: the run is not running ({self.state_override or self.info.state})",
                severity="warning",
            )
            return
        if action == "abort":
            from fgtui.app.screens.dialogs import ConfirmScreen

            def confirmed(yes: bool | None) -> None:
                if yes:
                    self.send_control(job, action)

            self.app.push_screen(
                ConfirmScreen(f"Abort {self.run_dir.name}? It stops at once, without saving."), confirmed
            )
            return
        self.send_control(job, action)

    @work(thread=True, group="control", exit_on_error=False)
    def send_control(self, job: dict, action: str) -> None:
        from fgtui.engine.errors import FgError
        from fgtui.engine.launch.control import control_job
        from fgtui.engine.launch.jobs import JobRecord

        try:
            reply = control_job(JobRecord.from_dict(job, self.run_dir), action, timeout=5.0)
            error = None if reply.get("ok") else str(reply.get("error", "refused"))
        except (FgError, OSError, TypeError) as failure:
            error = str(failure)
        self.post_message(ControlDone(action, error))

    def on_control_done(self, message: ControlDone) -> None:
        if message.error:
            self.notify(f"{message.action}: {message.error}", severity="error")
        else:
            self.notify(f"{message.action.replace('_', ' ')} requested")
