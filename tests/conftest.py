"""Shared fixtures and hypothesis strategies."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

# sparkbt's compiled kernel runs with bounds checks in the tests: an out-of-range
# index raises IndexError instead of corrupting memory. Those builds get their own cache.
os.environ.setdefault("SPARKBT_BOUNDSCHECK", "1")
# numba checks a cached kernel against its own file only: a kernel whose imported helpers
# or record types changed would load stale, so the cache is keyed on every engine source.
os.environ.setdefault(
    "NUMBA_CACHE_DIR",
    str(
        Path.home()
        / ".cache"
        / "sparkbt-tests-numba"
        / hashlib.sha256(
            b"".join(
                p.read_bytes()
                for p in sorted((Path(__file__).parents[1] / "sparkbt" / "engine").glob("*.py"))
            )
        ).hexdigest()[:16]
    ),
)

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import sparkbt as sb

settings.register_profile(
    "sparkbt", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("sparkbt")


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path, monkeypatch):
    """Every test gets its own evidence and data folders (never the repo's)."""
    monkeypatch.setenv("SPARKBT_EVIDENCE_DIR", str(tmp_path / "evidence"))
    monkeypatch.setenv("SPARKBT_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture(scope="session")
def sample() -> pd.DataFrame:
    return sb.resolve_candles("ETHUSDT", "4h", "/nonexistent-store")


def make_candles(close, start="2024-01-01", freq="1h") -> pd.DataFrame:
    close = np.asarray(close, dtype=float)
    open_ = np.concatenate([[close[0]], close[:-1]])
    idx = pd.date_range(start, periods=len(close), freq=freq, tz="UTC", name="timestamp", unit="ns")
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * 1.01,
            "low": np.minimum(open_, close) * 0.99,
            "close": close,
            "volume": np.full(len(close), 100.0),
        },
        index=idx,
    )


@st.composite
def closes(draw, min_size=2, max_size=60):
    """Positive price paths: a start price and bounded multiplicative steps."""
    n = draw(st.integers(min_size, max_size))
    start = draw(st.floats(1.0, 1000.0))
    steps = draw(st.lists(st.floats(-0.2, 0.2, allow_nan=False), min_size=n - 1, max_size=n - 1))
    return start * np.exp(np.concatenate([[0.0], np.cumsum(steps)]))


discrete_target = st.sampled_from([-1.0, 0.0, 1.0, np.nan])
# Subnormal targets (|x| < 2.2e-308) are left out: a position of 1e-320 units has a
# handful of significant bits, so the prices its trade records average from fill
# values are off in the fourth digit, which says nothing about the engine.
fractional_target = st.one_of(
    st.sampled_from([-1.0, 0.0, 1.0, np.nan, 0.5, -0.5]),
    st.floats(-1.0, 1.0, allow_nan=False, allow_subnormal=False),
)


@st.composite
def ohlc(draw, min_size=2, max_size=60, big=True):
    """Valid OHLC bars: gaps at the open, wicks, and (``big``) moves up to e^±1 per bar.

    Large moves are what make shorts lose everything (ruin) and stops gap through.
    """
    n = draw(st.integers(min_size, max_size))
    limit = 1.0 if big and draw(st.booleans()) else 0.2
    steps = draw(
        st.lists(st.floats(-limit, limit, allow_nan=False), min_size=n - 1, max_size=n - 1)
    )
    close = draw(st.floats(1.0, 1000.0)) * np.exp(np.concatenate([[0.0], np.cumsum(steps)]))
    gaps = np.array(draw(st.lists(st.floats(-0.05, 0.05), min_size=n, max_size=n)))
    open_ = np.concatenate([[close[0]], close[:-1]]) * np.exp(gaps)
    up = np.array(draw(st.lists(st.floats(0.0, 0.08), min_size=n, max_size=n)))
    down = np.array(draw(st.lists(st.floats(0.0, 0.08), min_size=n, max_size=n)))
    high = np.maximum(open_, close) * (1.0 + up)
    low = np.minimum(open_, close) * (1.0 - down)
    freq = draw(st.sampled_from(["1h", "6h", "1D"]))
    idx = pd.date_range("2024-01-01", periods=n, freq=freq, tz="UTC", name="timestamp", unit="ns")
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": np.ones(n)},
        index=idx,
    )


@st.composite
def engine_options(draw):
    """Engine options as ``backtest`` takes them, stops and gates switched on at random."""
    opts = {
        "fees": draw(st.sampled_from([0.0, 0.001, 0.01])),
        "slippage": draw(st.sampled_from([0.0, 0.0005])),
        "direction": draw(st.sampled_from(["long", "short", "both"])),
        "fill": draw(st.sampled_from(["close", "next_open"])),
        "sl_stop": draw(st.sampled_from([None, 0.01, 0.05, 0.2])),
        "tp_stop": draw(st.sampled_from([None, 0.02, 0.1, 0.5])),
        "sl_trail": draw(st.booleans()),
    }
    gates = {}
    if draw(st.booleans()):
        gates["max_drawdown"] = draw(st.sampled_from([0.05, 0.2, 0.5]))
    if draw(st.booleans()):
        gates["daily_loss"] = draw(st.sampled_from([0.02, 0.1]))
    if draw(st.booleans()):
        gates["loss_streak"] = draw(st.integers(1, 3))
    if draw(st.booleans()):
        gates["cooldown"] = draw(st.integers(0, 4))
    opts["gates"] = gates
    return opts
