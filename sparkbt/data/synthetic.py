"""Seeded synthetic candles with realistic volatility regimes.

Used for the packaged sample data (``sparkbt/_data``), benchmarks and tests.
Log returns follow a three-state Markov regime (calm, normal, turbulent) with
fat tails (Student-t, 4 degrees of freedom); highs and lows stretch beyond the
open/close by a fraction of the bar's volatility; volume rises with |return|.
The same arguments always give the same frame, bit for bit, marked
``attrs["synthetic"] = True`` so every report made from it says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sparkbt.data.timeframes import format_timeframe, parse_timeframe

__all__ = ["synthetic_candles"]

# Annualised volatility of each regime and the chance per bar of leaving it,
# scaled for the bar size so regimes last days to weeks whatever the timeframe.
_REGIME_VOL = np.array([0.35, 0.70, 1.40])
_REGIME_DAYS = np.array([30.0, 20.0, 7.0])


def synthetic_candles(
    n: int,
    *,
    timeframe: str = "4h",
    start: str = "2021-01-01",
    price: float = 700.0,
    seed: int = 7,
    symbol: str = "SYNTH",
) -> pd.DataFrame:
    """``n`` canonical candles of a seeded regime-switching random walk."""
    tf = parse_timeframe(timeframe)
    rng = np.random.default_rng(seed)
    bars_per_year = pd.Timedelta(days=365) / tf
    stay = 1.0 - 1.0 / (_REGIME_DAYS * (pd.Timedelta(days=1) / tf))
    # regime path: geometric run lengths, drawn in one go
    regimes = np.empty(n, dtype=np.int64)
    pos, state = 0, 1
    while pos < n:
        run = int(rng.geometric(1.0 - stay[state]))
        regimes[pos : pos + run] = state
        pos += run
        state = int(rng.choice([s for s in range(3) if s != state]))
    sigma = _REGIME_VOL[regimes] / np.sqrt(bars_per_year)
    shocks = rng.standard_t(4, size=n) / np.sqrt(2.0)  # unit variance for 4 dof
    logret = sigma * shocks + 0.05 / bars_per_year
    close = price * np.exp(np.cumsum(logret))
    open_ = np.empty(n)
    open_[0] = price
    open_[1:] = close[:-1] * np.exp(rng.normal(0.0, 0.05, n - 1) * sigma[1:])
    body_hi = np.maximum(open_, close)
    body_lo = np.minimum(open_, close)
    high = body_hi * np.exp(np.abs(rng.normal(0.0, 0.6, n)) * sigma)
    low = body_lo * np.exp(-np.abs(rng.normal(0.0, 0.6, n)) * sigma)
    volume = np.round(rng.lognormal(7.0, 0.5, n) * (1.0 + 40.0 * np.abs(logret) / sigma.mean()), 4)
    index = pd.date_range(start, periods=n, freq=tf, tz="UTC", unit="ns", name="timestamp")
    frame = pd.DataFrame(
        {
            "open": np.round(open_, 2),
            "high": np.round(high, 2),
            "low": np.round(low, 2),
            "close": np.round(close, 2),
            "volume": volume,
        },
        index=index,
    )
    # rounding may break the OHLC envelope by a cent: restore it
    frame["high"] = frame[["open", "high", "close"]].max(axis=1)
    frame["low"] = frame[["open", "low", "close"]].min(axis=1)
    frame.attrs.update(timeframe=format_timeframe(tf), symbol=symbol, synthetic=True)
    return frame
