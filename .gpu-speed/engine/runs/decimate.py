"""Reduce a long series to one bucket per plot column, keeping its spikes.

A terminal plot has a few hundred dot columns; a run can have a million
points. Averaging would hide loss spikes, so each column keeps the minimum,
maximum, first and last value of the points that fall into it, and the plot
draws the min..max span plus a line from one column's last value to the
next column's first. Cost is O(n) in numpy (one pass of reduceat), plus a
sort only when x is not already ordered (a resumed run repeats steps).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Buckets:
    """Per-column summaries; columns with no points hold NaN."""

    x_lo: float
    x_hi: float
    lo: np.ndarray
    hi: np.ndarray
    first: np.ndarray
    last: np.ndarray
    count: np.ndarray

    @property
    def columns(self) -> int:
        return len(self.lo)

    def filled(self) -> np.ndarray:
        return self.count > 0


def finite_xy(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = min(len(x), len(y))
    x, y = np.asarray(x[:n], dtype=np.float64), np.asarray(y[:n], dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.all():
        return x, y
    return x[keep], y[keep]


def decimate(x: np.ndarray, y: np.ndarray, columns: int, x_range: tuple[float, float] | None = None) -> Buckets:
    """Bucket (x, y) into `columns` equal-width x intervals.

    Non-finite points are dropped (the caller counts NaN losses separately).
    `x_range` fixes the interval shared by several series on one plot;
    points outside it are ignored.
    """
    if columns < 1:
        raise ValueError("columns must be at least 1")
    x, y = finite_xy(x, y)
    if x_range is None:
        x_lo, x_hi = (float(x.min()), float(x.max())) if len(x) else (0.0, 1.0)
    else:
        x_lo, x_hi = map(float, x_range)
        inside = (x >= x_lo) & (x <= x_hi)
        if not inside.all():
            x, y = x[inside], y[inside]
    empty = np.full(columns, np.nan)
    if len(x) == 0:
        return Buckets(x_lo, x_hi, empty, empty.copy(), empty.copy(), empty.copy(), np.zeros(columns, dtype=np.int64))
    if x_hi > x_lo:
        index = ((x - x_lo) * (columns / (x_hi - x_lo))).astype(np.int64)
        np.clip(index, 0, columns - 1, out=index)
    else:
        index = np.zeros(len(x), dtype=np.int64)
    if len(index) > 1 and (np.diff(index) < 0).any():
        order = np.argsort(x, kind="stable")
        index, y = index[order], y[order]
    starts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])
    ends = np.r_[starts[1:], len(index)]
    cols = index[starts]
    lo, hi, first, last = empty, empty.copy(), empty.copy(), empty.copy()
    count = np.zeros(columns, dtype=np.int64)
    lo[cols] = np.minimum.reduceat(y, starts)
    hi[cols] = np.maximum.reduceat(y, starts)
    first[cols] = y[starts]
    last[cols] = y[ends - 1]
    count[cols] = ends - starts
    return Buckets(x_lo, x_hi, lo, hi, first, last, count)


def merge(old: Buckets, new: Buckets) -> Buckets:
    """Buckets of old points followed by new points with x at or after every old x."""
    has_old, has_new = old.count > 0, new.count > 0
    return Buckets(
        old.x_lo,
        old.x_hi,
        np.fmin(old.lo, new.lo),
        np.fmax(old.hi, new.hi),
        np.where(has_old, old.first, new.first),
        np.where(has_new, new.last, old.last),
        old.count + new.count,
    )


class BucketCache:
    """Buckets of one growing series, updated with only the points added since last time.

    A live plot redraws twice a second; decimating a million points each
    time would stall the UI, while the plot's width and x range rarely
    change. The cache recognises "the same series, grown" by the numpy
    buffers the x and y views share with last time (columns in
    `engine.runs.series` are append-only buffers, and a recomputed column,
    e.g. a new smoothing weight, is a new buffer). It holds those buffers,
    so their ids cannot be reused by another array while cached.
    """

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._bases: tuple | None = None
        self._count = 0
        self._x_max = -np.inf
        self._buckets: Buckets | None = None

    def get(self, x: np.ndarray, y: np.ndarray, columns: int, x_range: tuple[float, float]) -> Buckets:
        """`decimate(x, y, columns, x_range)`, computed incrementally when it can be."""
        n = min(len(x), len(y))
        key = (columns, float(x_range[0]), float(x_range[1]))
        bases = (x.base, y.base)
        grown = (
            self._buckets is not None
            and key == self._key
            and n >= self._count
            and bases[0] is not None
            and bases[1] is not None
            and bases[0] is self._bases[0]
            and bases[1] is self._bases[1]
        )
        if grown and n == self._count:
            return self._buckets
        if grown:
            new_x, new_y = finite_xy(x[self._count : n], y[self._count : n])
            if not len(new_x) or float(new_x.min()) >= self._x_max:
                self._buckets = merge(self._buckets, decimate(new_x, new_y, columns, x_range))
                self._count = n
                if len(new_x):
                    self._x_max = float(new_x.max())
                return self._buckets
        # First time, another width or range, a new buffer, or steps that go back (a resume).
        self._buckets = decimate(x[:n], y[:n], columns, x_range)
        self._key, self._bases, self._count = key, bases, n
        finite = x[:n][np.isfinite(x[:n]) & np.isfinite(y[:n])]
        self._x_max = float(finite.max()) if len(finite) else -np.inf
        return self._buckets
