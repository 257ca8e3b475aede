"""Min/max decimation keeps spikes and respects a shared x range."""

from __future__ import annotations

import numpy as np
import pytest

from fgtui.engine.runs.decimate import decimate


def test_spike_survives_decimation():
    x = np.arange(1_000_000, dtype=float)
    y = np.ones_like(x)
    y[654_321] = 50.0
    buckets = decimate(x, y, 200)
    assert buckets.hi.max() == 50.0
    assert np.nanmin(buckets.lo) == 1.0
    assert buckets.count.sum() == len(x)
    assert buckets.filled().all()


def test_bucket_summaries_against_brute_force():
    rng = np.random.default_rng(1)
    x = np.sort(rng.uniform(0, 100, 5000))
    y = rng.normal(size=5000)
    buckets = decimate(x, y, 37)
    index = np.minimum(((x - x.min()) * (37 / (x.max() - x.min()))).astype(int), 36)
    for column in range(37):
        part = y[index == column]
        if len(part):
            assert buckets.lo[column] == part.min() and buckets.hi[column] == part.max()
            assert buckets.first[column] == part[0] and buckets.last[column] == part[-1]
        else:
            assert np.isnan(buckets.lo[column])


def test_unsorted_x_from_a_resumed_run():
    x = np.r_[np.arange(0, 100), np.arange(50, 150)].astype(float)
    y = np.r_[np.zeros(100), np.ones(100)]
    buckets = decimate(x, y, 150)
    assert buckets.count.sum() == 200
    assert buckets.hi[140] == 1.0 and buckets.lo[10] == 0.0


def test_nonfinite_points_are_dropped_and_range_is_honoured():
    x = np.array([0.0, 1, 2, 3, np.nan, 5])
    y = np.array([1.0, np.nan, np.inf, 4, 5, 6])
    buckets = decimate(x, y, 4, x_range=(0.0, 4.0))
    assert buckets.count.sum() == 2
    assert (buckets.x_lo, buckets.x_hi) == (0.0, 4.0)


def test_single_point_and_empty():
    one = decimate(np.array([3.0]), np.array([7.0]), 10)
    assert one.count.sum() == 1 and np.nanmax(one.hi) == 7.0
    none = decimate(np.array([]), np.array([]), 10)
    assert none.count.sum() == 0
    with pytest.raises(ValueError):
        decimate(np.array([1.0]), np.array([1.0]), 0)


def _same(a, b):
    for name in ("lo", "hi", "first", "last", "count"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_bucket_cache_grows_to_the_same_buckets_as_a_full_pass():
    from fgtui.engine.runs.decimate import BucketCache
    from fgtui.engine.runs.series import Column

    rng = np.random.default_rng(3)
    xs, ys, cache = Column(), Column(), BucketCache()
    step = 0
    for chunk in (1, 7, 300, 0, 2500, 40):
        xs.extend(np.arange(step, step + chunk, dtype=float))
        ys.extend(rng.normal(size=chunk) * 10)
        step += chunk
        got = cache.get(xs.values, ys.values, 61, (0.0, 5000.0))
        _same(got, decimate(xs.values, ys.values, 61, (0.0, 5000.0)))


def test_bucket_cache_recomputes_for_a_new_buffer_or_steps_that_go_back():
    from fgtui.engine.runs.decimate import BucketCache
    from fgtui.engine.runs.series import Column

    xs, ys, cache = Column(capacity=4096), Column(capacity=4096), BucketCache()
    xs.extend(np.arange(100, dtype=float))
    ys.extend(np.ones(100))
    cache.get(xs.values, ys.values, 10, (0.0, 200.0))
    # A resumed run repeats steps 50..59 with other losses.
    xs.extend(np.arange(50, 60, dtype=float))
    ys.extend(np.full(10, 5.0))
    _same(cache.get(xs.values, ys.values, 10, (0.0, 200.0)), decimate(xs.values, ys.values, 10, (0.0, 200.0)))
    # Another y buffer with the same x (a new smoothing weight) is not mistaken for growth.
    other = Column()
    other.extend(np.full(110, 2.0))
    _same(cache.get(xs.values, other.values, 10, (0.0, 200.0)), decimate(xs.values, other.values, 10, (0.0, 200.0)))
