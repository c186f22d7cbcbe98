"""Pure array helpers for strategies: indicators, rebalance calendars, cross-sectional picks.

The indicators take a series and a window and return a float64 array of the
same length, NaN during warm-up. They are deterministic and cheap enough to
compute once per distinct window in a sweep and reuse across parameter
combinations. :func:`rebalance_bars` and :func:`top_k` serve portfolio
(weights) strategies: which bars rebalance, and which symbols a row picks.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from sparkbt.errors import StrategyError

__all__ = [
    "ema",
    "rebalance_bars",
    "rolling_max",
    "rolling_min",
    "rolling_std",
    "rsi",
    "sma",
    "sma_many",
    "top_k",
]


def _check_window(window: int) -> int:
    if int(window) != window or window < 1:
        raise ValueError(f"window must be an int >= 1 (got {window!r})")
    return int(window)


def sma(x: np.ndarray, window: int) -> np.ndarray:
    """Simple moving average over ``window`` bars (cumulative-sum form, centred for precision)."""
    return sma_many(x, (window,))[0]


def sma_many(x: np.ndarray, windows: tuple[int, ...] | list[int]) -> list[np.ndarray]:
    """Several SMAs of one series sharing one cumulative sum (equal to :func:`sma` each)."""
    ws = [_check_window(w) for w in windows]
    x = np.asarray(x, dtype=np.float64)
    offset = x[: min(len(x), 1024)].mean() if len(x) else 0.0
    cs = np.cumsum(x - offset)
    out = []
    for w in ws:
        ma = np.full(x.shape, np.nan)
        if w <= len(x):
            ma[w - 1] = cs[w - 1] / w
            np.subtract(cs[w:], cs[:-w], out=ma[w:])
            ma[w:] /= w
            ma[w - 1 :] += offset
        out.append(ma)
    return out


def ema(x: np.ndarray, window: int) -> np.ndarray:
    """Exponential moving average, span ``window`` (alpha = 2/(window+1)), seeded at bar 0."""
    w = _check_window(window)
    s = pd.Series(np.asarray(x, dtype=np.float64))
    return s.ewm(span=w, adjust=False, min_periods=w).mean().to_numpy()


def rsi(x: np.ndarray, window: int) -> np.ndarray:
    """Wilder's relative strength index in [0, 100]."""
    w = _check_window(window)
    s = pd.Series(np.asarray(x, dtype=np.float64))
    delta = s.diff()
    up = delta.clip(lower=0.0).ewm(alpha=1.0 / w, adjust=False, min_periods=w).mean()
    down = (-delta.clip(upper=0.0)).ewm(alpha=1.0 / w, adjust=False, min_periods=w).mean()
    with np.errstate(divide="ignore", invalid="ignore"):
        out: np.ndarray = 100.0 - 100.0 / (1.0 + up.to_numpy() / down.to_numpy())
    out[(down.to_numpy() == 0.0) & (up.to_numpy() > 0.0)] = 100.0
    out[(down.to_numpy() == 0.0) & (up.to_numpy() == 0.0)] = 50.0
    return out


def rolling_std(x: np.ndarray, window: int) -> np.ndarray:
    """Population standard deviation over ``window`` bars."""
    w = _check_window(window)
    return pd.Series(np.asarray(x, dtype=np.float64)).rolling(w).std(ddof=0).to_numpy()


def rolling_max(x: np.ndarray, window: int) -> np.ndarray:
    """Highest value over the last ``window`` bars (including this one); NaN in it: NaN."""
    return _sliding(x, window, lowest=False)


def rolling_min(x: np.ndarray, window: int) -> np.ndarray:
    """Lowest value over the last ``window`` bars (including this one); NaN in it: NaN."""
    return _sliding(x, window, lowest=True)


def _sliding(x: np.ndarray, window: int, *, lowest: bool) -> np.ndarray:
    """One compiled pass (engine.window_loop), equal to pandas' ``rolling(w).max()/min()``."""
    from sparkbt.engine.window_loop import sliding_extreme

    w = _check_window(window)
    out: np.ndarray = sliding_extreme(np.ascontiguousarray(x, dtype=np.float64), w, lowest)
    return out


_EVERY_RE = re.compile(r"^\s*(\d*)\s*([dwmqy])\s*$", re.IGNORECASE)
_EVERY_UNITS = {"d": ("D", 1), "w": ("W", 1), "m": ("M", 1), "q": ("M", 3), "y": ("Y", 1)}


def _period_ids(stamps: np.ndarray, every: str) -> np.ndarray:
    """Calendar period number of each UTC ``datetime64[ns]`` stamp, counted from 1970."""
    m = _EVERY_RE.match(every) if isinstance(every, str) else None
    count = int(m.group(1) or 1) if m else 0
    if m is None or not 1 <= count <= 10_000:
        raise StrategyError(
            "every: expected a count (1 to 10000) and a calendar unit D (day), W (week), "
            f"M (month), Q (quarter) or Y (year), such as 1D, 1W, 1M, 3M, 1Y (got {every!r})"
        )
    unit, scale = _EVERY_UNITS[m.group(2).lower()]
    if unit == "W":  # ISO weeks start on Monday; 1970-01-01 was a Thursday
        ids = (stamps.astype("M8[D]").astype(np.int64) + 3) // 7
    else:
        ids = stamps.astype(f"M8[{unit}]").astype(np.int64)
    return ids // (count * scale)


def rebalance_bars(index: pd.DatetimeIndex | pd.Index, every: str) -> np.ndarray:
    """True on the first bar of each calendar period ``every`` (UTC), False elsewhere.

    ``every`` is a count and a unit: ``D`` day, ``W`` ISO week (from Monday), ``M``
    month (``m`` too: these are calendar periods, never minutes), ``Q`` quarter,
    ``Y`` year, e.g. ``"1D"``, ``"1W"``, ``"1M"``, ``"3M"``, ``"1Y"``. Periods of
    several units count from 1970 (``"3M"``: calendar quarters; ``"2W"``: fixed
    fortnights), so they do not depend on where the data starts. The first bar
    of the index always starts a period. ``index`` is sorted (a panel's union
    index); NaT entries are never rebalance bars. A bad ``every`` is a StrategyError.
    """
    stamps = pd.DatetimeIndex(index)
    if stamps.tz is not None:
        stamps = stamps.tz_convert("UTC").tz_localize(None)
    values = stamps.to_numpy(dtype="M8[ns]")
    valid = ~np.isnat(values)
    ids = _period_ids(values[valid], every)
    out = np.zeros(len(values), dtype=bool)
    starts = np.ones(len(ids), dtype=bool)
    np.not_equal(ids[1:], ids[:-1], out=starts[1:])
    out[valid] = starts
    return out


def top_k(scores: np.ndarray, k: int | np.ndarray) -> np.ndarray:
    """Per row of ``scores`` (bars x symbols), True on the ``k`` highest; NaN is never picked.

    ``k`` is one count for every row or an array of one count per row. Ties go to
    the earlier column, so the pick is deterministic. A row with fewer than ``k``
    non-NaN scores picks all of them. ``top_k(-scores, k)`` picks the lowest.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D bars x symbols (got {scores.ndim}-D)")
    counts = np.asarray(k)
    if counts.ndim == 1 and len(counts) == len(scores):
        counts = counts[:, None]
    elif counts.ndim != 0:
        raise ValueError(f"k must be an int or one count per row (got shape {counts.shape})")
    if counts.size and (counts.dtype.kind not in "iu" or counts.min() < 0):
        raise ValueError(f"k must be ints >= 0 (got {k!r})")
    order = np.argsort(-scores, axis=1, kind="stable")  # NaN sorts last
    rank = np.empty_like(order)
    rows = np.arange(scores.shape[0])[:, None]
    rank[rows, order] = np.arange(scores.shape[1])[None, :]
    picked: np.ndarray = (rank < counts) & ~np.isnan(scores)
    return picked
