"""Look-ahead check of strategies that return orders: orders decided up to t must not change."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sparkbt as sb
from sparkbt.research.lookahead import lookahead_check


@pytest.fixture(scope="module")
def candles() -> pd.DataFrame:
    return sb.synthetic_candles(400, timeframe="1h", seed=4)


def honest_limits(candles: pd.DataFrame) -> pd.DataFrame:
    """Every 10th bar: a buy limit 1% under that bar's close."""
    bars = np.arange(0, len(candles), 10)
    close = candles["close"].to_numpy()
    return pd.DataFrame(
        {"timestamp": candles.index[bars], "side": "buy", "qty": 1.0, "price": close[bars] * 0.99}
    )


def limits_at_the_low_ahead(candles: pd.DataFrame) -> pd.DataFrame:
    """Every 10th bar: a buy limit at the lowest low of the next 5 bars (reads the future)."""
    out = honest_limits(candles)
    ahead = candles["low"][::-1].rolling(5, min_periods=1).min()[::-1].shift(-1)
    bars = np.arange(0, len(candles), 10)
    out["price"] = ahead.to_numpy()[bars]
    return out.fillna({"price": 1.0})


def test_honest_orders_pass(candles) -> None:
    result = lookahead_check(honest_limits, candles, samples=10)
    assert result.passed, result.detail


def test_orders_priced_from_later_bars_fail_naming_the_row(candles) -> None:
    result = lookahead_check(limits_at_the_low_ahead, candles, samples=10)
    assert not result.passed
    assert "order row" in result.detail and "column 'price'" in result.detail
    assert result.first_mismatch is not None and result.first_mismatch % 10 == 0


def test_portfolio_orders_are_checked_per_symbol(candles) -> None:
    other = sb.synthetic_candles(400, timeframe="1h", seed=5)
    frames = {"A": candles, "B": other}
    assert lookahead_check(honest_limits, frames, samples=5).passed
    bad = lookahead_check(limits_at_the_low_ahead, frames, samples=5)
    assert not bad.passed and "order row" in bad.detail
