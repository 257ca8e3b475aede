"""The one-line run status: state, progress, throughput and time left."""

from __future__ import annotations

import math
from typing import Any

from rich.text import Text
from textual.widgets import Static

from fgtui.engine.runs.rundir import RunInfo, elapsed_seconds, eta_seconds
from fgtui.engine.runs.series import RunSeries

STATE_STYLES = {
    "running": "bold green",
    "starting": "bold cyan",
    "completed": "bold blue",
    "stopped": "bold yellow",
    "aborted": "bold yellow",
    "failed": "bold red",
    "crashed": "bold red",
    "unknown": "dim",
    "loading": "bold cyan",
    "deleted": "bold red",
}


def format_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "–"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours >= 24:
        return f"{hours // 24}d{hours % 24:02d}h"
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_count(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.1f}{unit}"
    return f"{value:.0f}"


def status_text(
    info: RunInfo, series: RunSeries, *, now: float | None = None, state: str | None = None, bad_lines: int = 0
) -> Text:
    """The status line; `now` is passed in by tests so snapshots do not tick."""
    state = state or info.state
    last: dict[str, Any] = series.last_train or info.last_train or {}
    step = int(last.get("step", 0))
    max_steps = info.max_steps
    text = Text()
    text.append(f" {state.upper()} ", style=f"reverse {STATE_STYLES.get(state, '')}")
    text.append(f" {info.name}  ", style="bold")
    text.append(f"step {step}" + (f"/{max_steps}" if max_steps else ""))
    if max_steps:
        text.append(f" ({100 * step / max_steps:.0f}%)", style="dim")
    text.append(f"  tok {format_count(last.get('tokens'))}")
    text.append(f"  {format_count(last.get('tokens_per_s'))} tok/s")
    mfu = last.get("mfu")
    if isinstance(mfu, (int, float)):
        text.append(f"  MFU {100 * mfu:.1f}%")
    text.append(f"  elapsed {format_duration(elapsed_seconds(info, now))}")
    if not info.finished:
        step_times = series.train["step_time_s"].values[-20:].tolist()
        text.append(f"  ETA {format_duration(eta_seconds(step, max_steps, step_times))}")
    if series.nonfinite_losses:
        text.append(f"  {series.nonfinite_losses} non-finite loss", style="bold red")
    if bad_lines:
        text.append(f"  {bad_lines} bad log lines", style="yellow")
    return text


class RunStatus(Static):
    """The status line at the top of the run monitor."""

    _shown: Text | None = None

    def show(self, text: Text) -> None:
        """Replace the line; skipped when unchanged. One row high by CSS, so no layout."""
        if text == self._shown:
            return
        self._shown = text
        self.update(text, layout=False)
