"""Length histogram counts and the SVG writer."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import datasets
import pytest

from fgtui.engine.data import length_histogram, preprocess_dataset, write_histogram_svg
from fgtui.engine.data.histogram import format_histogram, stats_from_lengths
from fgtui.engine.errors import FgError


def test_stats_from_lengths():
    stats = stats_from_lengths([10, 20, 30, 40], max_length=40, bins=4)
    assert (stats.count, stats.min, stats.max) == (4, 10, 40)
    assert stats.mean == 25 and stats.median == 25
    assert stats.fill_ratio == pytest.approx(100 / 160)
    assert stats.bin_counts == [1, 1, 1, 1] and sum(stats.bin_counts) == stats.count
    assert stats.p90 == pytest.approx(37.0)


def test_histogram_of_tokenized_blocks(tokenizer, raw_splits, tmp_path):
    blocks = preprocess_dataset(
        raw_splits["train"],
        tokenizer,
        cache=False,
        fn_kwargs={"max_length": 128, "packed": True, "packing_strategy": "best_fit"},
    )
    stats = length_histogram(blocks, tokenized=True, max_length=128, sample=None)
    lengths = [len(r) for r in blocks["input_ids"]]
    assert stats.count == len(blocks) and sum(stats.bin_counts) == len(blocks)
    assert stats.max == max(lengths) <= 128
    assert stats.fill_ratio == pytest.approx(sum(lengths) / (128 * len(lengths)))
    assert stats.fill_ratio > 0.95
    assert "fill:" in format_histogram(stats)
    svg = write_histogram_svg(stats, tmp_path / "h.svg")
    root = ET.parse(svg).getroot()
    bars = [e for e in root.iter() if e.get("class") == "bar"]
    assert len(bars) == sum(1 for c in stats.bin_counts if c)


def test_histogram_of_text_samples_with_seed(tokenizer, raw_splits):
    a = length_histogram(raw_splits["train"], tokenizer, sample=5, seed=1)
    b = length_histogram(raw_splits["train"], tokenizer, sample=5, seed=1)
    assert a == b and a.count == 5
    full = length_histogram(raw_splits["train"], tokenizer, sample=None)
    expected = sorted(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in raw_splits["train"]["text"])
    assert (full.min, full.max, full.count) == (expected[0], expected[-1], len(expected))


def test_histogram_errors(tokenizer):
    ds = datasets.Dataset.from_dict({"text": ["a b c"]})
    with pytest.raises(FgError, match="input_ids"):
        length_histogram(ds, tokenized=True)
    with pytest.raises(FgError, match="tokenizer"):
        length_histogram(ds)
