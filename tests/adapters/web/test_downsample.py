"""Downsampling kernels: hand-checked examples, invariants as hypothesis properties, edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sparkbt.adapters.web.downsample import bucket_of, minmax_indices, ohlc_buckets

finite = st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False)
series = hnp.arrays(np.float64, st.integers(0, 300), elements=finite)
with_nans = hnp.arrays(np.float64, st.integers(0, 300), elements=st.one_of(finite, st.just(np.nan)))


def _assert_valid_indices(idx: np.ndarray, n: int) -> None:
    assert idx.dtype == np.int64
    assert np.all(np.diff(idx) > 0)
    assert len(idx) == 0 or (idx[0] >= 0 and idx[-1] < n)


# minmax_indices


def test_minmax_keeps_each_buckets_low_and_high_and_the_endpoints():
    y = np.array([3.0, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8])
    # two buckets of six: lows at 1 and 6, highs at 5 and 11
    np.testing.assert_array_equal(minmax_indices(y, 2), [0, 1, 5, 6, 11])


def test_minmax_keeps_the_first_of_tied_extremes():
    y = np.array([2.0, 0, 0, 7, 7, 1, 5, 5, 5, 5, 5, 5, 4, 4])
    # buckets of five: [2 0 0 7 7] [1 5 5 5 5] [5 5 4 4]
    np.testing.assert_array_equal(minmax_indices(y, 3), [0, 1, 3, 5, 6, 10, 12, 13])


def test_minmax_keeps_a_drawdowns_trough():
    equity = np.concatenate([np.linspace(100, 200, 50_000), [120.0], np.linspace(200, 300, 49_999)])
    kept = minmax_indices(equity, 100)
    assert 50_000 in kept
    assert equity[kept].min() == equity.min()


def test_minmax_returns_short_series_whole():
    np.testing.assert_array_equal(minmax_indices(np.arange(10.0), 4), np.arange(10))
    assert minmax_indices(np.array([]), 5).tolist() == []
    assert minmax_indices(np.array([1.5]), 1).tolist() == [0]


def test_minmax_ignores_nans_and_keeps_the_first_index_of_an_all_nan_bucket():
    nan = np.nan
    y = np.array([nan, 5, nan, 1, nan, nan, nan, nan, 2, nan, 3, nan])
    # buckets of four: low 3 high 1; all NaN: 4; low 8 high 10
    np.testing.assert_array_equal(minmax_indices(y, 3), [0, 1, 3, 4, 8, 10, 11])


def test_minmax_prefers_a_real_infinity_over_nan():
    nan, inf = np.nan, np.inf
    y = np.array([nan, inf, inf, nan, inf, nan, -inf, nan, -inf, -inf])
    # buckets of five: every real value of the first is inf, of the second -inf
    np.testing.assert_array_equal(minmax_indices(y, 2), [0, 1, 6, 9])


def test_minmax_accepts_integers():
    y = np.array([5, 3, 8, 1, 9, 2, 7, 4, 6, 0], dtype=np.int64)
    np.testing.assert_array_equal(minmax_indices(y, 2), [0, 3, 4, 6, 9])


@given(series, st.integers(1, 40))
def test_minmax_properties(y, buckets):
    idx = minmax_indices(y, buckets)
    _assert_valid_indices(idx, len(y))
    assert len(idx) <= 2 * buckets + 2
    if len(y):
        assert idx[0] == 0
        assert idx[-1] == len(y) - 1
        assert y[idx].min() == y.min()
        assert y[idx].max() == y.max()


@given(with_nans, st.integers(1, 40))
def test_minmax_properties_with_nans(y, buckets):
    idx = minmax_indices(y, buckets)
    _assert_valid_indices(idx, len(y))
    assert len(idx) <= 2 * buckets + 2
    if not np.isnan(y).all():
        assert np.nanmin(y[idx]) == np.nanmin(y)
        assert np.nanmax(y[idx]) == np.nanmax(y)


def test_minmax_keeps_the_low_of_a_million_points():
    y = np.cumsum(np.random.default_rng(0).normal(size=1_000_000))
    idx = minmax_indices(y, 2000)
    assert len(idx) <= 4002
    assert y[idx].min() == y.min()


# ohlc_buckets


def _candles(n: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    c = 100 + np.cumsum(rng.normal(size=n))
    o = np.concatenate([[100.0], c[:-1]])[:n]
    h = np.maximum(o, c) + rng.random(n)
    low = np.minimum(o, c) - rng.random(n)
    t = np.arange(n, dtype=np.int64) * 60
    return t, o, h, low, c


def test_ohlc_buckets_hand_checked():
    t = np.array([0, 60, 120, 180, 240])
    o = np.array([10.0, 11, 12, 13, 14])
    h = np.array([12.0, 15, 13, 14, 16])
    low = np.array([9.0, 10, 8, 12, 13])
    c = np.array([11.0, 12, 13, 14, 15])
    bars = ohlc_buckets(t, o, h, low, c, 2)
    np.testing.assert_array_equal(bars.time, [0, 180])
    np.testing.assert_array_equal(bars.open, [10, 13])
    np.testing.assert_array_equal(bars.high, [15, 16])
    np.testing.assert_array_equal(bars.low, [8, 12])
    np.testing.assert_array_equal(bars.close, [13, 15])
    np.testing.assert_array_equal(bars.size, [3, 2])


def test_ohlc_buckets_returns_few_candles_unchanged():
    t, o, h, low, c = _candles(5)
    bars = ohlc_buckets(t, o, h, low, c, 5)
    for got, given_ in zip(bars[:5], (t, o, h, low, c), strict=True):
        assert got is given_
    np.testing.assert_array_equal(bars.size, np.ones(5))
    empty = ohlc_buckets(*(np.array([]),) * 5, 3)
    assert len(empty.time) == 0
    assert len(empty.size) == 0


def test_ohlc_buckets_ignores_nan_highs_and_lows():
    nan = np.nan
    t = np.arange(4)
    bars = ohlc_buckets(
        t, np.ones(4), np.array([nan, 3.0, 2, nan]), np.array([1.0, nan, nan, nan]), np.ones(4), 2
    )
    np.testing.assert_array_equal(bars.high, [3.0, 2.0])
    np.testing.assert_array_equal(bars.low, [1.0, nan])


@given(st.integers(0, 400), st.integers(1, 50), st.integers(0, 2**16))
def test_ohlc_buckets_properties(n, buckets, seed):
    t, o, h, low, c = _candles(n, seed)
    bars = ohlc_buckets(t, o, h, low, c, buckets)
    assert len(bars.time) <= buckets
    assert bars.size.sum() == n
    assert all(len(a) == len(bars.time) for a in bars)
    if n:
        assert bars.high.max() == h.max()
        assert bars.low.min() == low.min()
        assert bars.open[0] == o[0]
        assert bars.close[-1] == c[-1]
        assert bars.time[0] == t[0]
        assert np.all(np.diff(bars.time) > 0)


# bucket_of


def test_bucket_of_maps_times_onto_bucket_starts():
    starts = np.array([0, 180, 360])
    points = np.array([-5, 0, 1, 179, 180, 359, 360, 1000])
    np.testing.assert_array_equal(bucket_of(starts, points), [0, 0, 0, 0, 1, 1, 2, 2])


def test_bucket_of_matches_ohlc_buckets():
    t, o, h, low, c = _candles(1000)
    bars = ohlc_buckets(t, o, h, low, c, 7)
    which = bucket_of(bars.time, t)
    np.testing.assert_array_equal(np.bincount(which), bars.size)


def test_bucket_of_with_datetimes():
    starts = np.array(["2024-01-01", "2024-02-01"], dtype="datetime64[ns]")
    points = np.array(["2024-01-15", "2024-03-01"], dtype="datetime64[ns]")
    np.testing.assert_array_equal(bucket_of(starts, points), [0, 1])


def test_bucket_of_needs_a_bucket():
    with pytest.raises(ValueError, match="t_bucket_starts is empty"):
        bucket_of(np.array([]), np.array([1.0]))


# argument checks


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, None])
def test_bucket_counts_must_be_positive_integers(bad):
    y = np.arange(100.0)
    with pytest.raises(ValueError, match="buckets must be a positive integer"):
        minmax_indices(y, bad)
    with pytest.raises(ValueError, match="buckets must be a positive integer"):
        ohlc_buckets(y, y, y, y, y, bad)


def test_numpy_integers_are_accepted_as_counts():
    assert len(minmax_indices(np.arange(100.0), np.int64(5))) <= 12


def test_mismatched_lengths_are_rejected():
    a = np.arange(10.0)
    with pytest.raises(ValueError, match=r"same length.*l=9"):
        ohlc_buckets(a, a, a, a[:9], a, 3)


def test_multidimensional_input_is_rejected():
    with pytest.raises(ValueError, match="one-dimensional"):
        minmax_indices(np.ones((3, 3)), 1)
