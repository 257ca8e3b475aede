"""A line plot drawn with braille dots, half blocks or plain ASCII.

Drawn by hand rather than through plotext: a frame is a few numpy
operations on the decimated columns (see `engine.runs.decimate`), so a plot
of a million points costs the same as one of a thousand, and the block and
ASCII modes (for fonts without braille, or `LANG=C`) share the same code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from fgtui.engine.runs.decimate import BucketCache, Buckets, decimate

# Dots per cell (columns, rows) and the glyph for each dot pattern.
MODES = ("braille", "block", "ascii")
_CELL = {"braille": (2, 4), "block": (1, 2), "ascii": (1, 2)}
# Braille bit for the dot at (column, row) inside a cell (Unicode U+2800 block).
_BRAILLE_BITS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]])
_HALF_GLYPHS = {"block": (" ", "▀", "▄", "█"), "ascii": (" ", "'", ".", ":")}
Y_LABEL_WIDTH = 8


@dataclass
class PlotSeries:
    """One line: x and y of equal length, drawn in `color` (a Rich colour)."""

    label: str
    x: np.ndarray
    y: np.ndarray
    color: str
    dim: bool = False  # a raw series drawn under its smoothed version


def format_number(value: float) -> str:
    """Axis numbers in at most 7 characters; learning rates need scientific form."""
    if not math.isfinite(value):
        return str(value)
    magnitude = abs(value)
    if magnitude == 0:
        return "0"
    if magnitude >= 1e6 or magnitude < 1e-2:
        return f"{value:.1e}".replace("e-0", "e-").replace("e+0", "e")
    if magnitude >= 1000:
        return f"{value / 1000:.1f}k" if magnitude < 1e5 else f"{value / 1000:.0f}k"
    return f"{value:.3g}"


def _rows(values: np.ndarray, y_lo: float, y_hi: float, dot_rows: int, log: bool) -> np.ndarray:
    """Dot row (0 = top) for each value; NaN stays NaN."""
    if log:
        with np.errstate(divide="ignore", invalid="ignore"):
            values = np.log10(np.where(values > 0, values, np.nan))
        y_lo, y_hi = math.log10(y_lo), math.log10(y_hi)
    span = (y_hi - y_lo) or 1.0
    return (1.0 - (values - y_lo) / span) * (dot_rows - 1)


def rasterize(
    series: list[PlotSeries],
    dot_cols: int,
    dot_rows: int,
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    log: bool = False,
    buckets: list[Buckets] | None = None,
) -> np.ndarray:
    """Which dots each series lights: bool array (len(series), dot_rows, dot_cols).

    Each column shows the min..max span of its bucket, extended to the
    previous column's last value so the line stays connected across steep
    changes. `buckets`, when given, are the series already decimated to
    `dot_cols` columns over `x_range`.
    """
    lit = np.zeros((len(series), dot_rows, dot_cols), dtype=bool)
    rows = np.arange(dot_rows)[:, None]
    for i, line in enumerate(series):
        summary = buckets[i] if buckets is not None else decimate(line.x, line.y, dot_cols, x_range)
        lo = _rows(summary.hi, *y_range, dot_rows, log)  # high values are near the top
        hi = _rows(summary.lo, *y_range, dot_rows, log)
        last = _rows(summary.last, *y_range, dot_rows, log)
        filled = np.isfinite(lo) & np.isfinite(hi)
        # Sparse series (fewer points than columns) get straight lines across
        # the empty columns between points, as a line plot should.
        anchors = np.flatnonzero(filled)
        if len(anchors) >= 2:
            columns = np.arange(dot_cols)
            gap = ~filled & (columns > anchors[0]) & (columns < anchors[-1])
            if gap.any():
                between = np.interp(columns[gap], anchors, last[anchors])
                lo, hi, last = lo.copy(), hi.copy(), last.copy()
                lo[gap] = hi[gap] = last[gap] = between
                filled = filled | gap
        # The previous filled column's last value, carried forward.
        index = np.where(filled, np.arange(dot_cols), -1)
        np.maximum.accumulate(index, out=index)
        previous = np.full(dot_cols, np.nan)
        previous[1:] = np.where(index[:-1] >= 0, last[np.maximum(index[:-1], 0)], np.nan)
        top = np.fmin(lo, previous)
        bottom = np.fmax(hi, previous)
        top = np.where(filled, np.clip(np.rint(top), 0, dot_rows - 1), dot_rows)
        bottom = np.where(filled, np.clip(np.rint(bottom), 0, dot_rows - 1), -1)
        lit[i] = (rows >= top[None, :]) & (rows <= bottom[None, :])
    return lit


def encode_cells(lit: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Glyph code per cell for the union of series, and the owning series (-1 = none).

    Later series win a shared cell's colour, so the caller orders series
    from least to most important (raw loss before smoothed loss).
    """
    per_col, per_row = _CELL[mode]
    count, dot_rows, dot_cols = lit.shape
    height, width = dot_rows // per_row, dot_cols // per_col
    cells = lit.reshape(count, height, per_row, width, per_col)
    if mode == "braille":
        weights = _BRAILLE_BITS[None, None, :, None, :]
    else:
        weights = np.array([1, 2])[None, None, :, None, None]
    codes = (cells * weights).sum(axis=(2, 4))
    owner = np.full((height, width), -1)
    for i in range(count):
        owner = np.where(codes[i] > 0, i, owner)
    union = np.bitwise_or.reduce(codes, axis=0) if count else np.zeros((height, width), int)
    return union, owner


def glyph(code: int, mode: str) -> str:
    if mode == "braille":
        return chr(0x2800 + code) if code else " "
    return _HALF_GLYPHS[mode][code]


_GLYPHS = {mode: [glyph(code, mode) for code in range(256 if mode == "braille" else 4)] for mode in MODES}


class MetricPlot(Widget):
    """A titled plot of one or more series sharing x (steps) and y axes."""

    mode: reactive[str] = reactive("braille")
    log_y: reactive[bool] = reactive(False)

    def __init__(self, title: str, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.title = title
        self.empty_message = "no data yet"  # what an empty plot says (the monitor knows better ones)
        self.series: list[PlotSeries] = []
        self.x_range: tuple[float, float] | None = None
        self.border_title = title
        self._cache_key: tuple | None = None
        self._cache_lines: list[Strip] = []
        self._caches: list[BucketCache] = []

    def set_series(self, series: list[PlotSeries], x_range: tuple[float, float] | None = None) -> None:
        """Replace what is drawn; cheap, the drawing happens at the next refresh."""
        self.series = [s for s in series if len(s.x)]
        self.x_range = x_range
        # One cache per position: callers pass the same lines in the same order each time.
        self._caches += [BucketCache() for _ in range(len(self.series) - len(self._caches))]
        self._cache_key = None
        legend = "  ".join(f"[{s.color}]━[/] {s.label}" for s in self.series)
        self.border_subtitle = legend if len(self.series) > 1 else ""
        self.refresh()

    def watch_mode(self) -> None:
        self._cache_key = None

    def watch_log_y(self) -> None:
        self._cache_key = None

    def _data_x_range(self) -> tuple[float, float] | None:
        if self.x_range is not None:
            return self.x_range
        xs = [s.x[np.isfinite(s.x) & np.isfinite(s.y[: len(s.x)])] for s in self.series]
        xs = [x for x in xs if len(x)]
        if not xs:
            return None
        return min(float(x.min()) for x in xs), max(float(x.max()) for x in xs)

    def _y_range(self, buckets: list[Buckets]) -> tuple[float, float] | None:
        """The y span of what is drawn, read off the buckets rather than every point."""
        lows, highs = [], []
        for line, summary in zip(self.series, buckets):
            lo, hi = summary.lo, summary.hi
            if self.log_y:
                if np.nanmin(lo, initial=np.inf) <= 0:
                    # A bucket reaching zero or below hides its smallest positive
                    # value, so this series needs its points.
                    y = line.y[np.isfinite(line.y) & (line.y > 0)]
                    lo = y if len(y) else lo[:0]
                hi = hi[hi > 0]
            lo, hi = lo[np.isfinite(lo)], hi[np.isfinite(hi)]
            if len(lo) and len(hi):
                lows.append(float(lo.min()))
                highs.append(float(hi.max()))
        if not lows:
            return None
        y_lo, y_hi = min(lows), max(highs)
        if y_hi == y_lo:
            pad = abs(y_lo) * 0.05 or 1.0
            y_lo, y_hi = y_lo - pad, y_hi + pad
            if self.log_y and y_lo <= 0:
                y_lo = y_hi / 10
        return y_lo, y_hi

    def _draw(self, width: int, height: int) -> list[Strip]:
        blank = [Strip([Segment(" " * width)])] * height
        plot_width, plot_height = width - Y_LABEL_WIDTH, height - 1
        per_col, per_row = _CELL[self.mode]
        x_range = self._data_x_range() if self.series else None
        y_range = buckets = None
        if x_range is not None and plot_width >= 4:
            buckets = [
                cache.get(line.x, line.y, plot_width * per_col, x_range)
                for cache, line in zip(self._caches, self.series)
            ]
            y_range = self._y_range(buckets)
        if y_range is None or plot_height < 2:
            message = self.empty_message if y_range is None and plot_width >= 4 else ""
            if height and message:
                blank = list(blank)
                blank[height // 2] = Strip([Segment(message.center(width)[:width], Style(dim=True))])
            return blank
        (x_lo, x_hi), (y_lo, y_hi) = x_range, y_range
        lit = rasterize(
            self.series, plot_width * per_col, plot_height * per_row, (x_lo, x_hi), (y_lo, y_hi), self.log_y, buckets
        )
        codes, owner = encode_cells(lit, self.mode)
        styles = [Style(color=s.color, dim=s.dim) for s in self.series]
        label_style = Style(dim=True)
        axis_char = "|" if self.mode == "ascii" else "│"
        labels = {0: format_number(y_hi), plot_height - 1: format_number(y_lo)}
        if plot_height >= 5:
            middle = (y_lo * y_hi) ** 0.5 if self.log_y else (y_lo + y_hi) / 2
            labels[(plot_height - 1) // 2] = format_number(middle)
        table = _GLYPHS[self.mode]
        none_style = Style()
        strips = []
        for row in range(plot_height):
            label = labels.get(row, "").rjust(Y_LABEL_WIDTH - 1)[: Y_LABEL_WIDTH - 1] + axis_char
            segments = [Segment(label, label_style)]
            owners = owner[row]
            glyphs = list(map(table.__getitem__, codes[row].tolist()))
            # Runs of cells that share a colour become one segment.
            cuts = [0, *(np.flatnonzero(owners[1:] != owners[:-1]) + 1).tolist(), plot_width]
            for start, stop in zip(cuts[:-1], cuts[1:]):
                who = int(owners[start])
                segments.append(Segment("".join(glyphs[start:stop]), styles[who] if who >= 0 else none_style))
            strips.append(Strip(segments, width))
        left, right = format_number(x_lo), format_number(x_hi)
        axis = " " * Y_LABEL_WIDTH + left + right.rjust(plot_width - len(left))
        strips.append(Strip([Segment(axis[:width].ljust(width), label_style)], width))
        return strips

    def render_line(self, y: int) -> Strip:
        width, height = self.content_size
        key = (width, height, self.mode, self.log_y)
        if key != self._cache_key:
            self._cache_lines = self._draw(width, height)
            self._cache_key = key
        return self._cache_lines[y] if y < len(self._cache_lines) else Strip.blank(width)
