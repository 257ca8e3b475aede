"""`fgtui logs plot` in a pipe: one glyph per run, and a legend that leaves the first steps visible."""

from __future__ import annotations

import re

from fgtui.engine.cli import main
from fgtui.engine.runs.synthetic import write_run
from fgtui.engine.runs.terminal_plot import legend_corner


def test_runs_get_distinct_glyphs_and_the_legend_avoids_the_curve(tmp_path, capsys):
    write_run(tmp_path / "runs" / "alpha", 200, seed=1)
    write_run(tmp_path / "runs" / "beta", 150, seed=2)
    assert main(["logs", "plot", str(tmp_path / "runs"), "--metric", "loss"]) == 0
    lines = capsys.readouterr().out.splitlines()
    legend = dict(re.findall(r"│ (\S) (alpha|beta) ", "\n".join(lines)))
    glyphs = set(legend)
    assert len(glyphs) == 2, lines
    for glyph in glyphs:
        assert sum(line.count(glyph) for line in lines) > 20  # the curve is drawn with it
    # The loss starts high on the left: the first rows' left part shows data, not a box.
    first_data_row = next(line for line in lines if "┤" in line)
    left = first_data_row.split("┤", 1)[1][:12]
    assert "┌" not in left and any(g in left for g in glyphs), first_data_row


def test_legend_corner_prefers_an_empty_corner():
    falling = [(x, 10.0 - x) for x in range(10)]
    assert legend_corner(falling, 0.3, 0.3) == ("right", "top")
    rising = [(x, float(x)) for x in range(10)]
    assert legend_corner(rising, 0.3, 0.3) in (("right", "bottom"), ("left", "top"))
