"""A bar histogram drawn with eighth blocks (or '#' in ASCII mode)."""

from __future__ import annotations

import numpy as np
from rich.text import Text

_EIGHTHS = " ▁▂▃▄▅▆▇█"


def histogram_bars(counts: list[int], width: int, height: int, ascii_only: bool = False) -> Text:
    """`counts` resampled to `width` columns (summing bins) as `height` rows of bars."""
    if not counts or width < 1 or height < 1:
        return Text("")
    values = np.asarray(counts, dtype=np.float64)
    edges = np.linspace(0, len(values), width + 1).astype(int)
    columns = np.array(
        [values[a:b].sum() if b > a else values[min(a, len(values) - 1)] for a, b in zip(edges[:-1], edges[1:])]
    )
    top = columns.max() or 1.0
    eighths = np.rint(columns / top * height * 8).astype(int)
    lines = []
    for row in range(height):
        level = (height - 1 - row) * 8  # eighths below this row
        fill = np.clip(eighths - level, 0, 8)
        if ascii_only:
            lines.append("".join("#" if f >= 4 else " " for f in fill))
        else:
            lines.append("".join(_EIGHTHS[f] for f in fill))
    return Text("\n".join(lines))
