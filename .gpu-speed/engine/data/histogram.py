"""Sequence-length statistics for a dataset, and a small SVG histogram.

`length_histogram` samples examples, measures their token lengths (from
`input_ids` when the split is tokenized, else by tokenizing `feature`) and
returns `HistogramStats` -- the numbers `fgtui dataset --histogram` prints and
the app plots. `write_histogram_svg` draws it without matplotlib.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from fgtui.engine.errors import FgError


@dataclass
class HistogramStats:
    """Token-length statistics of a sample of examples.

    `fill_ratio` is tokens / (count * max_length): how much of the blocks'
    capacity is real tokens; `max_length` defaults to the longest sample.
    """

    count: int
    min: int
    max: int
    mean: float
    median: float
    std: float
    p90: float
    p99: float
    fill_ratio: float
    max_length: int
    bin_edges: list[float] = field(default_factory=list)
    bin_counts: list[int] = field(default_factory=list)


def stats_from_lengths(lengths: list[int], *, max_length: int | None = None, bins: int = 100) -> HistogramStats:
    """Statistics of a list of lengths (the part that needs no dataset)."""
    import numpy as np

    if not lengths:
        raise FgError("no examples to measure", hint="the dataset split is empty")
    values = np.asarray(lengths, dtype=np.float64)
    capacity = max_length if max_length is not None else int(values.max())
    top = max(float(values.max()), float(capacity))
    low = float(values.min())
    bins = max(1, min(bins, int(top - low) + 1))
    counts, edges = np.histogram(values, bins=bins, range=(low, top if top > low else low + 1))
    return HistogramStats(
        count=len(lengths),
        min=int(values.min()),
        max=int(values.max()),
        mean=float(values.mean()),
        median=float(np.median(values)),
        std=float(values.std()),
        p90=float(np.percentile(values, 90)),
        p99=float(np.percentile(values, 99)),
        fill_ratio=float(values.sum() / (len(lengths) * capacity)) if capacity else 0.0,
        max_length=int(capacity),
        bin_edges=[float(e) for e in edges],
        bin_counts=[int(c) for c in counts],
    )


def length_histogram(
    dataset,
    tokenizer=None,
    *,
    feature: str = "text",
    tokenized: bool = False,
    sample: int | None = 1000,
    seed: int = 42,
    bins: int = 100,
    max_length: int | None = None,
) -> HistogramStats:
    """Length statistics of up to `sample` examples drawn (with `seed`) from `dataset`.

    `tokenized=True` reads lengths of `input_ids`; otherwise `feature` is
    tokenized (without special tokens) with `tokenizer`. `sample=None` measures
    every example of a map-style dataset.
    """
    texts_or_ids = _sample_column(dataset, "input_ids" if tokenized else feature, sample, seed)
    if tokenized:
        lengths = [len(ids) for ids in texts_or_ids]
    else:
        if tokenizer is None:
            raise FgError(
                "measuring text lengths needs a tokenizer", hint="pass -T TOKENIZER, or --tokenized for input_ids"
            )
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is not None:
            lengths = [len(e.ids) for e in backend.encode_batch_fast(list(texts_or_ids), add_special_tokens=False)]
        else:
            lengths = [len(ids) for ids in tokenizer(list(texts_or_ids), add_special_tokens=False)["input_ids"]]
    return stats_from_lengths(lengths, max_length=max_length, bins=bins)


def _sample_column(dataset, column: str, sample: int | None, seed: int) -> list:
    import datasets

    names = dataset.column_names
    if names is not None and column not in names:
        hint = (
            "drop --tokenized to tokenize the text" if column == "input_ids" else "pick the text column with --feature"
        )
        raise FgError(f"the dataset has no column {column!r} (columns: {', '.join(names)})", hint=hint)
    if isinstance(dataset, datasets.IterableDataset):
        if sample is None:
            raise FgError("a streaming dataset needs a sample size")
        stream = dataset.shuffle(seed=seed, buffer_size=max(1000, sample)).take(sample)
        return [row[column] for row in stream]
    import numpy as np

    n = len(dataset)
    if sample is None or sample >= n:
        indices = np.arange(n)
    else:
        indices = np.sort(np.random.default_rng(seed).choice(n, size=sample, replace=False))
    return dataset.select(indices)[column] if len(indices) < n else dataset[column]


def format_histogram(stats: HistogramStats) -> str:
    """The printed summary, one statistic per line."""
    return "\n".join(
        [
            f"count:  {stats.count}",
            f"min:    {stats.min}",
            f"max:    {stats.max}",
            f"mean:   {stats.mean:.2f}",
            f"median: {stats.median:.1f}",
            f"std:    {stats.std:.2f}",
            f"p90:    {stats.p90:.1f}",
            f"p99:    {stats.p99:.1f}",
            f"fill:   {stats.fill_ratio:.4f} (of {stats.max_length} tokens per example)",
        ]
    )


def write_histogram_svg(stats: HistogramStats, path: str | os.PathLike, *, title: str = "Sequence lengths") -> Path:
    """Draw the histogram as a standalone SVG file and return its path."""
    width, height = 720, 400
    left, right, top, bottom = 64, 20, 40, 56
    plot_w, plot_h = width - left - right, height - top - bottom
    counts = stats.bin_counts or [stats.count]
    edges = stats.bin_edges or [stats.min, stats.max]
    peak = max(counts) or 1
    x0, x1 = edges[0], edges[-1] if edges[-1] > edges[0] else edges[0] + 1

    def x(value: float) -> float:
        return left + (value - x0) / (x1 - x0) * plot_w

    def y(count: float) -> float:
        return top + plot_h - count / peak * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="15">{escape(title)}</text>',
    ]
    for count, lo, hi in zip(counts, edges, edges[1:]):
        if count:
            parts.append(
                f'<rect class="bar" x="{x(lo):.2f}" y="{y(count):.2f}" width="{max(x(hi) - x(lo) - 0.5, 0.5):.2f}" '
                f'height="{top + plot_h - y(count):.2f}" fill="#4c78a8">'
                f"<title>{lo:.0f}-{hi:.0f}: {count}</title></rect>"
            )
    axis_y = top + plot_h
    parts.append(f'<line x1="{left}" y1="{axis_y}" x2="{left + plot_w}" y2="{axis_y}" stroke="black"/>')
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{axis_y}" stroke="black"/>')
    for tick in _ticks(x0, x1):
        parts.append(f'<line x1="{x(tick):.2f}" y1="{axis_y}" x2="{x(tick):.2f}" y2="{axis_y + 5}" stroke="black"/>')
        parts.append(f'<text x="{x(tick):.2f}" y="{axis_y + 18}" text-anchor="middle">{tick:g}</text>')
    for tick in _ticks(0, peak):
        parts.append(f'<line x1="{left - 5}" y1="{y(tick):.2f}" x2="{left}" y2="{y(tick):.2f}" stroke="black"/>')
        parts.append(f'<text x="{left - 8}" y="{y(tick) + 4:.2f}" text-anchor="end">{tick:g}</text>')
    parts.append(f'<text x="{left + plot_w / 2}" y="{height - 12}" text-anchor="middle">tokens per example</text>')
    parts.append(
        f'<text x="16" y="{top + plot_h / 2}" text-anchor="middle" '
        f'transform="rotate(-90 16 {top + plot_h / 2})">examples</text>'
    )
    summary = (
        f"n={stats.count}  mean={stats.mean:.1f}  median={stats.median:.0f}  "
        f"p99={stats.p99:.0f}  fill={stats.fill_ratio:.3f}"
    )
    parts.append(f'<text x="{left + plot_w}" y="{top - 6}" text-anchor="end" fill="#444">{escape(summary)}</text>')
    parts.append("</svg>\n")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(parts))
    return out


def _ticks(low: float, high: float, target: int = 6) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten) covering [low, high]."""
    span = high - low
    if span <= 0:
        return [low]
    raw = span / target
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step) + 1)]
