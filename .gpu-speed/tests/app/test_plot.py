"""The hand-drawn plot: rasterizing decimated columns, glyph encoding, axis numbers."""

from __future__ import annotations

import numpy as np

from fgtui.app.widgets.plot import PlotSeries, encode_cells, format_number, glyph, rasterize
from fgtui.app.widgets.status import format_count, format_duration


def test_rising_line_goes_from_bottom_left_to_top_right():
    x = np.arange(100.0)
    lit = rasterize([PlotSeries("a", x, x, "red")], 20, 8, (0.0, 99.0), (0.0, 99.0))[0]
    assert lit[7, 0] and lit[0, 19]
    assert not lit[0, 0] and not lit[7, 19]
    # Connected: every column has at least one dot.
    assert lit.any(axis=0).all()


def test_spike_draws_a_full_column():
    x = np.arange(1000.0)
    y = np.zeros(1000)
    y[500] = 10.0
    lit = rasterize([PlotSeries("a", x, y, "red")], 50, 10, (0.0, 999.0), (0.0, 10.0))[0]
    column = 500 * 50 // 1000
    assert lit[:, column].all()


def test_braille_bits_and_owner():
    lit = np.zeros((2, 4, 2), dtype=bool)
    lit[0, 0, 0] = True  # series 0: top-left dot
    lit[1, 3, 1] = True  # series 1: bottom-right dot, same cell
    codes, owner = encode_cells(lit, "braille")
    assert codes.shape == (1, 1)
    assert glyph(int(codes[0, 0]), "braille") == chr(0x2800 + 0x01 + 0x80)
    assert owner[0, 0] == 1  # the later series owns a shared cell


def test_block_and_ascii_glyphs():
    lit = np.zeros((1, 2, 1), dtype=bool)
    lit[0, 1, 0] = True
    codes, _ = encode_cells(lit, "block")
    assert glyph(int(codes[0, 0]), "block") == "▄"
    assert glyph(int(codes[0, 0]), "ascii") == "."
    assert glyph(3, "ascii") == ":"


def test_log_axis_ignores_nonpositive_values():
    x = np.arange(4.0)
    y = np.array([-1.0, 0.0, 10.0, 100.0])
    lit = rasterize([PlotSeries("a", x, y, "red")], 4, 4, (0.0, 3.0), (10.0, 100.0), log=True)[0]
    assert not lit[:, 0].any()
    assert lit[0, 3] and lit[3, 2]


def test_numbers_fit_the_axis():
    assert format_number(3e-4) == "3.0e-4"
    assert format_number(12345) == "12.3k"
    assert format_number(2.5) == "2.5"
    assert format_number(0) == "0"
    assert all(len(format_number(v)) <= 7 for v in (1e-9, 123456789.0, -0.5, 99999.0))
    assert format_duration(3725) == "1:02:05" and format_duration(65) == "1:05"
    assert format_duration(None) == "–" and format_duration(90000) == "1d01h"
    assert format_count(12_300_000) == "12.3M" and format_count(None) == "–"


def test_sparse_points_are_joined_across_empty_columns():
    x = np.array([0.0, 50.0, 100.0])
    y = np.array([0.0, 10.0, 0.0])
    lit = rasterize([PlotSeries("a", x, y, "red")], 40, 8, (0.0, 100.0), (0.0, 10.0))[0]
    assert lit.any(axis=0).all()  # no gaps between the three points
    assert lit[0, 20] and lit[7, 0] and lit[7, 39]


def test_the_app_names_the_plot_widgets_modes():
    from fgtui.app.app import PLOT_MODES
    from fgtui.app.widgets.plot import MODES

    assert PLOT_MODES == MODES
