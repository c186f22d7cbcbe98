"""Downsampling kernels for sending long series to the browser.

A chart a thousand or two pixels wide cannot show a million points, and shipping them all makes
the page slow. These kernels pick or aggregate points so that what the chart draws stays faithful
to the full series: arrays in, arrays out, numpy only.

- :func:`minmax_indices` keeps each bucket's minimum and maximum, so every peak and trough, and
  hence the depth of every drawdown, survives (equity and drawdown curves).
- :func:`ohlc_buckets` merges consecutive candles into wider candles (price charts).
- :func:`bucket_of` maps trade times onto those wider candles (trade markers).
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

__all__ = ["OHLCBuckets", "bucket_of", "minmax_indices", "ohlc_buckets"]


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _one_d(name: str, values: object) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    return array


def _same_length(**arrays: np.ndarray) -> int:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{name}={n}" for name, n in lengths.items())
        raise ValueError(f"arrays must have the same length, got {shown}")
    return next(iter(lengths.values()))


def _bucket_size(n: int, buckets: int) -> int:
    # Equal-width buckets of ceil(n / buckets) points (the last may be shorter): at most
    # `buckets` of them, and each covers the same span of a regularly sampled series.
    return -(-n // buckets)


def _extreme_indices(y: np.ndarray, k: int, *, largest: bool) -> np.ndarray:
    """Index of each bucket's first minimum (or maximum), ignoring NaN.

    A bucket of only NaN yields its first index.
    """
    n = len(y)
    floating = np.issubdtype(y.dtype, np.floating)
    nan = np.isnan(y) if floating else np.zeros(n, dtype=bool)
    has_nan = bool(nan.any())
    keyed = np.where(nan, -np.inf if largest else np.inf, y) if has_nan else y
    pick = np.argmax if largest else np.argmin
    full = n // k
    starts = np.arange(0, n, k, dtype=np.int64)
    chosen = np.empty(len(starts), dtype=np.int64)
    if full:
        chosen[:full] = pick(keyed[: full * k].reshape(full, k), axis=1)
    if full * k < n:
        chosen[full] = pick(keyed[full * k :])
    chosen += starts
    if has_nan:
        # A NaN ties with a real infinity of the same sign and may be picked first; the first
        # non-NaN point of such a bucket is then an extreme too.
        wrong = nan[chosen]
        if wrong.any():
            ends = np.minimum(starts + k, n)
            for b in np.flatnonzero(wrong):
                valid = np.flatnonzero(~nan[starts[b] : ends[b]])
                if len(valid):
                    chosen[b] = starts[b] + valid[0]
    return chosen


def minmax_indices(y: np.ndarray, buckets: int) -> np.ndarray:
    """Indices of the first and last points and of each bucket's minimum and maximum.

    The series is cut into at most ``buckets`` runs of consecutive points of equal length (the
    last may be shorter); each run keeps the index of its smallest and of its largest value,
    NaN ignored (a run of only NaN keeps its first index). Keeping both extremes means every
    peak and trough is drawn, so a drawdown's depth survives downsampling where averaging or
    striding would shave it off. Returns sorted unique int64 indices, at most
    ``2 * buckets + 2`` of them; a series that short already is returned whole.
    """
    buckets = _positive_int("buckets", buckets)
    y = _one_d("y", y)
    n = len(y)
    if n <= 2 * buckets + 2:
        return np.arange(n, dtype=np.int64)
    k = _bucket_size(n, buckets)
    lows = _extreme_indices(y, k, largest=False)
    highs = _extreme_indices(y, k, largest=True)
    ends = np.array([0, n - 1], dtype=np.int64)
    return np.unique(np.concatenate([ends, lows, highs]))


class OHLCBuckets(NamedTuple):
    """Candles merged by :func:`ohlc_buckets`; ``size`` is how many candles each bar holds."""

    time: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    size: np.ndarray


def ohlc_buckets(
    t: np.ndarray,
    o: np.ndarray,
    h: np.ndarray,
    l: np.ndarray,  # noqa: E741
    c: np.ndarray,
    buckets: int,
) -> OHLCBuckets:
    """Merge consecutive candles into at most ``buckets`` wider candles.

    Each bar spans the same number of candles (the last may hold fewer), so a regular series
    stays regular on the chart's time axis. A bar's time and open are its first candle's, its
    high the largest high, its low the smallest low (NaN ignored), its close its last candle's
    close: the range of every move is kept, unlike picking every k-th candle. With no more
    candles than ``buckets`` the inputs come back unchanged, each bar counting one candle.
    """
    buckets = _positive_int("buckets", buckets)
    arrays = {name: _one_d(name, a) for name, a in zip("tohlc", (t, o, h, l, c), strict=True)}
    n = _same_length(**arrays)
    t, o, h, lo, c = arrays.values()
    if n <= buckets:
        return OHLCBuckets(t, o, h, lo, c, np.ones(n, dtype=np.int64))
    starts = np.arange(0, n, _bucket_size(n, buckets), dtype=np.int64)
    lasts = np.append(starts[1:], n) - 1
    high = np.fmax.reduceat(h, starts)
    low = np.fmin.reduceat(lo, starts)
    return OHLCBuckets(t[starts], o[starts], high, low, c[lasts], lasts - starts + 1)


def bucket_of(t_bucket_starts: np.ndarray, t_points: np.ndarray) -> np.ndarray:
    """Index of the bucket each time falls in, given the buckets' sorted start times.

    Maps trade markers onto the bars of :func:`ohlc_buckets` (``OHLCBuckets.time``): a time
    belongs to the last bucket starting at or before it. Times before the first bucket map to
    the first one and times past the last bucket's start map to the last one, so every marker
    lands on a drawn bar.
    """
    starts = _one_d("t_bucket_starts", t_bucket_starts)
    points = np.asarray(t_points)
    if len(starts) == 0:
        raise ValueError("t_bucket_starts is empty: there is no bucket to map times onto")
    index = np.searchsorted(starts, points, side="right") - 1
    return np.clip(index, 0, len(starts) - 1).astype(np.int64)
