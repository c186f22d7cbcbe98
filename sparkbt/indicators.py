"""Pure array indicators: float64 arrays in, float64 arrays out, NaN during warm-up.

Each takes the series and a window and returns an array of the same length.
They are deterministic and cheap enough to compute once per distinct window
in a sweep and reuse across parameter combinations.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["ema", "rolling_max", "rolling_min", "rolling_std", "rsi", "sma", "sma_many"]


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
    """Highest value over the last ``window`` bars (including this one)."""
    w = _check_window(window)
    return pd.Series(np.asarray(x, dtype=np.float64)).rolling(w).max().to_numpy()


def rolling_min(x: np.ndarray, window: int) -> np.ndarray:
    """Lowest value over the last ``window`` bars (including this one)."""
    w = _check_window(window)
    return pd.Series(np.asarray(x, dtype=np.float64)).rolling(w).min().to_numpy()
