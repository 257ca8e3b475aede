"""`fgtui logs plot`: runs' metrics drawn as text with plotext.

Two things matter when the plot is read in a log or a pipe rather than a
colour terminal: each run needs its own glyph (colours are stripped), and the
legend must sit where it hides the fewest points -- a loss curve starts high
on the left, exactly where plotext puts its legend by default.
"""

from __future__ import annotations

from pathlib import Path

from fgtui.engine.errors import FgError

# Distinct in plain ASCII, so a pipe or a log file still tells the runs apart.
PLAIN_GLYPHS = ("*", "x", "o", "+", "#", "%", "@", "&")
_CORNERS = (("right", "top"), ("right", "bottom"), ("left", "bottom"), ("left", "top"))


def legend_corner(points: list[tuple[float, float]], width_frac: float, height_frac: float) -> tuple[str, str]:
    """(ha, va) of the plot corner whose legend-sized box holds the fewest points."""
    if not points:
        return _CORNERS[0]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    span_x, span_y = (x1 - x0) or 1.0, (y1 - y0) or 1.0

    def covered(corner: tuple[str, str]) -> int:
        ha, va = corner
        count = 0
        for x, y in points:
            fx, fy = (x - x0) / span_x, (y - y0) / span_y
            in_x = fx >= 1 - width_frac if ha == "right" else fx <= width_frac
            in_y = fy >= 1 - height_frac if va == "top" else fy <= height_frac
            count += in_x and in_y
        return count

    return min(_CORNERS, key=covered)  # min keeps the first of equals: top right


def plot_metric(runs: list[Path], metric: str, *, width: int, height: int = 22, plain: bool) -> str | None:
    """One metric of every run overlaid, as text; None when no run has a value."""
    import plotext

    from fgtui.engine.runs.series import load_series

    figure = plotext.figure
    figure.clear()
    drawn: list[tuple[str, list[float], list[float]]] = []
    for path in runs:
        series, _ = load_series(path / "metrics.jsonl")
        try:
            steps, values = series.metric(metric)
        except KeyError:
            raise FgError(
                f"unknown metric {metric!r}", hint="e.g. loss, eval_loss, lr, grad_norm, tokens_per_s"
            ) from None
        keep = [(float(x), float(y)) for x, y in zip(steps, values) if y == y]  # drop NaN
        if keep:
            xs, ys = zip(*keep)
            drawn.append((path.name, list(xs), list(ys)))
    if not drawn:
        return None
    for i, (name, xs, ys) in enumerate(drawn):
        marker = PLAIN_GLYPHS[i % len(PLAIN_GLYPHS)] if plain else None
        figure.draw(figure.signal(xs, ys, marker=marker).lines().label(name))
    points = [(x, y) for _, xs, ys in drawn for x, y in zip(xs, ys)]
    longest = max(len(name) for name, _, _ in drawn)
    ha, va = legend_corner(
        points, min(0.9, (longest + 6) / max(20, width - 8)), min(0.9, (2 * len(drawn) + 2) / max(6, height - 4))
    )
    all_x, all_y = [p[0] for p in points], [p[1] for p in points]
    figure.legend(
        x=max(all_x) if ha == "right" else min(all_x),
        y=max(all_y) if va == "top" else min(all_y),
        ha=ha,
        va=va,
        relative=True,
    )
    figure.title(metric)
    figure.label("step")
    figure.plot_size(width, height)
    # build(), not show(): show() writes to the terminal, not to sys.stdout.
    text = str(figure.build())
    return plotext.uncolorize(text) if plain else text
