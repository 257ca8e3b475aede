"""RunSeries columns, debiased EMA, previews of big logs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from fgtui.engine.runs.series import RunSeries, ema_extend, load_series, sample_series, to_float_array
from fgtui.engine.runs.synthetic import run_records, write_run


def _reference_ema(values, weight):
    """TensorBoard's loop, written plainly."""
    out, last, n = [], 0.0, 0
    for v in values:
        if not math.isfinite(v):
            out.append(out[-1] if out else math.nan)
            continue
        last = last * weight + (1 - weight) * v
        n += 1
        out.append(last / (1 - weight**n))
    return np.array(out)


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.9, 0.999])
def test_ema_matches_the_plain_loop(weight):
    rng = np.random.default_rng(0)
    values = rng.normal(3.0, 1.0, 5000)
    values[[10, 11, 4000]] = [np.nan, np.inf, np.nan]
    got, _ = ema_extend(values, weight, (0.0, 0))
    np.testing.assert_allclose(got, _reference_ema(values, weight), rtol=1e-9)


def test_ema_continues_across_batches():
    values = np.linspace(5.0, 1.0, 1000)
    whole, _ = ema_extend(values, 0.95, (0.0, 0))
    first, state = ema_extend(values[:333], 0.95, (0.0, 0))
    second, _ = ema_extend(values[333:], 0.95, state)
    np.testing.assert_allclose(np.r_[first, second], whole, rtol=1e-12)


def test_ema_rejects_bad_weight():
    with pytest.raises(ValueError):
        ema_extend(np.ones(3), 1.0, (0.0, 0))


def test_to_float_array_turns_junk_into_nan():
    got = to_float_array([1, None, "x", True, 2.5])
    assert got[0] == 1 and got[4] == 2.5
    assert np.isnan(got[[1, 2, 3]]).all()


def test_series_columns_and_rare_records():
    series = RunSeries(smoothing=0.5)
    records = list(run_records(30, eval_every=10))
    series.extend(records[:12])
    series.extend(records[12:])
    steps, loss = series.metric("loss")
    assert list(steps) == list(range(1, 31))
    assert loss[0] == records[1]["loss"]
    assert len(series.metric("loss_smoothed")[1]) == 30
    assert list(series.metric("eval_loss")[0]) == [10, 20, 30]
    assert len(series.samples) == 3
    assert series.event("end")["status"] == "completed"
    assert len(series.events_named("checkpoint")) == 3


def test_null_metrics_become_nan():
    record = dict(next(r for r in run_records(2) if r["type"] == "train"), grad_norm=None, mfu=None)
    series = RunSeries()
    series.extend([record])
    assert np.isnan(series.metric("grad_norm")[1][0])


def test_nonfinite_loss_is_counted():
    records = [r for r in run_records(5) if r["type"] == "train"]
    records[2] = dict(records[2], loss=float("nan"))
    series = RunSeries()
    series.extend(records)
    assert series.nonfinite_losses == 1


def test_set_smoothing_recomputes():
    series = RunSeries(smoothing=0.0)
    series.extend(run_records(100))
    raw = series.metric("loss")[1].copy()
    np.testing.assert_allclose(series.metric("loss_smoothed")[1], raw)
    series.set_smoothing(0.9)
    assert not np.allclose(series.metric("loss_smoothed")[1], raw)


def test_load_series_follows_afterwards(tmp_path):
    run = write_run(tmp_path / "run", 200, eval_every=50, end_status=None)
    series, reader = load_series(run / "metrics.jsonl")
    assert len(series) == 200
    with open(run / "metrics.jsonl", "a") as handle:
        handle.write(
            json.dumps({"type": "event", "event": "end", "time": 1.0, "step": 200, "status": "stopped", "exit_code": 0})
            + "\n"
        )
    series.extend(reader.poll())
    assert series.event("end")["status"] == "stopped"


def test_sample_series_spans_the_whole_run(tmp_path):
    run = write_run(tmp_path / "run", 5000)
    preview = sample_series(run / "metrics.jsonl", max_lines=100)
    steps = preview.metric("loss")[0]
    assert 50 <= len(steps) <= 200
    assert steps[0] <= 60 and steps[-1] >= 4900
    assert (np.diff(steps) > 0).all()


def test_sample_series_of_small_and_empty_files(tmp_path):
    run = write_run(tmp_path / "run", 10)
    assert len(sample_series(run / "metrics.jsonl")) == 10
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert len(sample_series(empty)) == 0
