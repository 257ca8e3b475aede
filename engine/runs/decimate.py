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


def decimate(x: np.ndarray, y: np.ndarray, columns: int,
             x_range: tuple[float, float] | None = None) -> Buckets:
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
        return Buckets(x_lo, x_hi, empty, empty.copy(), empty.copy(), empty.copy(),
                       np.zeros(columns, dtype=np.int64))
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
