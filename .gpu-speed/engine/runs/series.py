"""Metric series of one run, as numpy columns, built from log-stream records.

A run can log a million train records; keeping them as dicts would cost
gigabytes, so `RunSeries.extend` turns each batch into growable float64
columns (None -> NaN) and keeps only the rare records (eval samples, events)
as dicts. The smoothed loss is maintained incrementally so a live run does
not recompute it over the whole history on every redraw.
"""

from __future__ import annotations

import math
import mmap
import os
from operator import itemgetter
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from fgtui.engine.runs.reader import LogStreamReader

TRAIN_FIELDS = (
    "step",
    "time",
    "epoch",
    "tokens",
    "loss",
    "lr",
    "grad_norm",
    "tokens_per_s",
    "mfu",
    "peak_mem_gib",
    "step_time_s",
)
EVAL_FIELDS = ("step", "time", "tokens", "eval_loss")
DEFAULT_SMOOTHING = 0.9
_TRAIN_ROW = itemgetter(*TRAIN_FIELDS)


class Column:
    """A float64 array that grows by amortized doubling."""

    __slots__ = ("_data", "_size")

    def __init__(self, capacity: int = 1024) -> None:
        self._data = np.empty(capacity, dtype=np.float64)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def extend(self, values: np.ndarray) -> None:
        needed = self._size + len(values)
        if needed > len(self._data):
            grown = np.empty(max(needed, 2 * len(self._data)), dtype=np.float64)
            grown[: self._size] = self._data[: self._size]
            self._data = grown
        self._data[self._size : needed] = values
        self._size = needed

    @property
    def values(self) -> np.ndarray:
        """A read-only view of the filled part (valid until the next extend)."""
        view = self._data[: self._size]
        view.flags.writeable = False
        return view


def to_float_array(values: list[Any]) -> np.ndarray:
    """Floats from JSON values: None and anything non-numeric become NaN."""
    try:
        return np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        return np.array(
            [v if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan for v in values],
            dtype=np.float64,
        )


def ema_extend(values: np.ndarray, weight: float, state: tuple[float, int]) -> tuple[np.ndarray, tuple[float, int]]:
    """Debiased exponential moving average, continued from `state`.

    Same definition as TensorBoard's smoothing: s_t = w*s_{t-1} + (1-w)*x_t,
    reported as s_t / (1 - w**n) with n finite values seen. Non-finite values
    do not enter the average; they repeat the previous smoothed value (NaN
    before the first finite one). `state` is (s, n); start from (0.0, 0).

    Vectorized in blocks: inside a block the recursion is a weighted cumsum,
    with the block length bounded so that w**-block stays far from overflow.
    """
    out = np.full(len(values), np.nan)
    s, n = state
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight must be in [0, 1), got {weight}")
    finite = np.isfinite(values)
    x = values[finite]
    smoothed = np.empty(len(x))
    if weight == 0.0:
        smoothed[:] = x
        s, n = (float(x[-1]) if len(x) else s), n + len(x)
    else:
        block = max(1, min(4096, int(30.0 / -math.log10(weight))))
        for start in range(0, len(x), block):
            chunk = x[start : start + block]
            idx = np.arange(len(chunk))
            scale = weight ** -idx.astype(np.float64)
            decay = weight ** (idx + 1.0)
            raw = decay * s + (1.0 - weight) * (weight**idx) * np.cumsum(chunk * scale)
            count = n + idx + 1
            smoothed[start : start + len(chunk)] = raw / (1.0 - weight**count)
            s, n = float(raw[-1]), n + len(chunk)
    if len(values):
        positions = np.flatnonzero(finite)
        out[positions] = smoothed
        # Carry the last smoothed value over non-finite gaps.
        if not finite.all():
            fill = np.where(finite, np.arange(len(values)), -1)
            np.maximum.accumulate(fill, out=fill)
            prior = state[0] / (1.0 - weight ** state[1]) if state[1] else math.nan
            out = np.where(fill >= 0, out[np.maximum(fill, 0)], prior)
    return out, (s, n)


class RunSeries:
    """Everything the UI plots for one run, growing as records arrive."""

    def __init__(self, smoothing: float = DEFAULT_SMOOTHING) -> None:
        self.train = {name: Column() for name in TRAIN_FIELDS}
        self.eval = {name: Column() for name in EVAL_FIELDS}
        self.loss_smoothed = Column()
        self.smoothing = smoothing
        self._ema_state = (0.0, 0)
        self.samples: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.last_train: dict[str, Any] | None = None
        self.last_time: float | None = None
        self.nonfinite_losses = 0

    def extend(self, records: Iterable[dict[str, Any]]) -> None:
        train: list[dict[str, Any]] = []
        evals: list[dict[str, Any]] = []
        keep_train, keep_eval = train.append, evals.append
        last = None
        for record in records:
            kind = record.get("type")
            if kind == "train":
                keep_train(record)
            elif kind == "eval":
                keep_eval(record)
            elif kind == "sample":
                self.samples.append(record)
            elif kind == "event":
                self.events.append(record)
            else:
                continue
            last = record
        if last is None:
            return
        when = last.get("time")
        if isinstance(when, (int, float)):
            self.last_time = float(when)
        if train:
            try:
                # One C-level pass per batch; records missing a key take the slow path.
                table = np.array(list(map(_TRAIN_ROW, train)), dtype=np.float64)
            except (KeyError, TypeError, ValueError):
                table = np.column_stack([to_float_array([r.get(name) for r in train]) for name in TRAIN_FIELDS])
            for i, column in enumerate(self.train.values()):
                column.extend(table[:, i])
            self._extend_smoothed(self.train["loss"].values[-len(train) :])
            self.last_train = train[-1]
        if evals:
            for name, column in self.eval.items():
                column.extend(to_float_array([r.get(name) for r in evals]))

    def _extend_smoothed(self, losses: np.ndarray) -> None:
        self.nonfinite_losses += int(len(losses) - np.isfinite(losses).sum())
        smoothed, self._ema_state = ema_extend(losses, self.smoothing, self._ema_state)
        self.loss_smoothed.extend(smoothed)

    def set_smoothing(self, weight: float) -> None:
        """Recompute the smoothed loss with a new weight."""
        smoothed, state = ema_extend(self.train["loss"].values, weight, (0.0, 0))
        self.smoothing = weight
        self._ema_state = state
        self.loss_smoothed = Column(max(1024, len(smoothed)))
        self.loss_smoothed.extend(smoothed)

    def __len__(self) -> int:
        return len(self.train["step"])

    def event(self, name: str) -> dict[str, Any] | None:
        """The last event record called `name`, if any."""
        for record in reversed(self.events):
            if record.get("event") == name:
                return record
        return None

    def events_named(self, name: str) -> list[dict[str, Any]]:
        return [record for record in self.events if record.get("event") == name]

    def metric(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of a train metric, `loss_smoothed`, or `eval_loss`."""
        if name == "eval_loss":
            return self.eval["step"].values, self.eval["eval_loss"].values
        if name == "loss_smoothed":
            return self.train["step"].values, self.loss_smoothed.values
        return self.train["step"].values, self.train[name].values


def load_series(path, smoothing: float = DEFAULT_SMOOTHING, *, progress=None) -> tuple[RunSeries, LogStreamReader]:
    """Read a whole log stream into a `RunSeries`, chunk by chunk.

    Returns the reader too, positioned at the end, so the caller can keep
    following the file with `reader.poll()`. `progress(done_bytes, total)`
    is called after each chunk when given.
    """
    from fgtui.engine.runs.forgather_logs import ForgatherLogReader, is_forgather_run_dir

    series = RunSeries(smoothing)
    if is_forgather_run_dir(Path(path).parent):  # a run Forgather itself wrote
        reader = ForgatherLogReader(Path(path).parent)
        series.extend(reader.poll())
        return series, reader
    reader = LogStreamReader(path)
    try:
        total = os.stat(path).st_size
    except FileNotFoundError:
        reader.state.missing = True
        return series, reader
    while reader.state.offset < total and not reader.missing:
        series.extend(reader.poll())
        if progress is not None:
            progress(reader.state.offset, total)
    return series, reader


def sample_series(path, max_lines: int = 20_000, smoothing: float = DEFAULT_SMOOTHING) -> RunSeries:
    """A quick preview of a big log: about `max_lines` lines spread evenly by byte offset.

    Parsing a million lines takes seconds; a plot a few hundred columns wide
    needs far fewer points to show the shape of the run. The UI shows this
    preview (marked as partial) while `load_series` reads everything, so that
    spikes hidden between samples appear once the full load lands.
    """
    from fgtui.engine.runs.reader import parse_lines

    series = RunSeries(smoothing)
    lines: list[bytes] = []
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            return series
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
            end = view.rfind(b"\n") + 1  # a partial last line is never sampled
            stride = max(1, end // max_lines)
            start = 0
            while start < end:
                stop = view.find(b"\n", start, end)
                lines.append(view[start:stop])
                # The first line starting at or after start + stride.
                start = max(stop + 1, view.find(b"\n", start + stride - 1, end) + 1)
                if start == 0:
                    break
    records, _bad = parse_lines(lines)
    series.extend(records)
    return series
