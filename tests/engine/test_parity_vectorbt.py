"""Parity with vectorbt 1.2 ``Portfolio.from_signals`` on real daily and hourly candles.

Real data: daily GOOG (weekdays only: a 252-day year) and hourly EURUSD (with
weekend bars: 365 days) shipped inside backtesting.py. vectorbt gets the same
year length through ``year_freq``. The test extra installs both libraries; CI
checks they import before the suite runs, so these tests never skip there.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import sparkbt as sb

vbt = pytest.importorskip("vectorbt")
bt_test = pytest.importorskip("backtesting.test")

KEYS = (
    "total_return",
    "total_trades",
    "win_rate",
    "max_drawdown",
    "sharpe",
    "sortino",
    "profit_factor",
    "expectancy",
    "total_fees",
)
DATASETS = [("GOOG", "1d"), ("EURUSD", "1h")]


def load(dataset: str, timeframe: str) -> pd.DataFrame:
    return sb.load_candles(getattr(bt_test, dataset), timeframe=timeframe)


def edges(targets: pd.Series, direction: str) -> dict[str, pd.Series]:
    """Entries and exits as the signal's edges (a target becoming +1 from anything else...)."""
    t = targets
    prev = t.shift(1, fill_value=0.0)
    long_in, long_out = (t > 0) & (prev <= 0), (t <= 0) & (prev > 0)
    short_in, short_out = (t < 0) & (prev >= 0), (t >= 0) & (prev < 0)
    if direction == "long":
        return {"entries": long_in, "exits": long_out}
    if direction == "short":
        return {"entries": short_in, "exits": short_out, "direction": "shortonly"}
    return {
        "entries": long_in,
        "exits": long_out,
        "short_entries": short_in,
        "short_exits": short_out,
    }


def vectorbt_portfolio(candles, targets, direction, *, shift=0, year_days, **kw):
    signals = edges(targets, direction)
    if shift:  # next-open fills: the signal of bar t acts at bar t+1's open
        signals = {
            k: v.shift(shift, fill_value=False) if isinstance(v, pd.Series) else v
            for k, v in signals.items()
        }
        kw["price"] = candles["open"].tz_localize(None)
    naive = candles.tz_localize(None)  # vectorbt is slow on tz-aware indexes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return vbt.Portfolio.from_signals(
            naive["close"],
            open=naive["open"],
            high=naive["high"],
            low=naive["low"],
            **{
                k: (v.tz_localize(None) if isinstance(v, pd.Series) else v)
                for k, v in signals.items()
            },
            size=np.inf,
            init_cash=10_000.0,
            freq=pd.Timedelta(candles.attrs["timeframe"]),
            **kw,
        )


@pytest.fixture(autouse=True)
def _restore_year_freq():
    saved = vbt.settings.returns["year_freq"]
    yield
    vbt.settings.returns["year_freq"] = saved


def vectorbt_stats(pf, year_days) -> dict[str, float]:
    vbt.settings.returns["year_freq"] = f"{year_days} days"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        closed = pf.trades.closed
        return {
            "total_return": pf.total_return(),
            "total_trades": pf.trades.count(),
            "win_rate": closed.win_rate(),
            "max_drawdown": -pf.max_drawdown(),
            "sharpe": pf.sharpe_ratio(),
            "sortino": pf.sortino_ratio(),
            "profit_factor": closed.profit_factor(),
            "expectancy": closed.expectancy(),
            "total_fees": pf.orders.fees.sum(),
        }


def assert_same(res: sb.BacktestResult, pf) -> None:
    np.testing.assert_allclose(res.equity.to_numpy(), pf.value().to_numpy(), rtol=1e-9)
    ref = vectorbt_stats(pf, res.config["year_days"])
    for key in KEYS:
        want = float(ref[key])
        if np.isnan(want):
            assert res.stats[key] is None, key
        else:
            assert res.stats[key] == pytest.approx(want, rel=1e-9, abs=1e-12), key
    # trade by trade: bars, prices, PnL
    rec = pf.trades.records_readable
    got = res.trades
    assert len(got) == len(rec)
    naive = res.candles.index.tz_localize(None)
    np.testing.assert_array_equal(got["entry_time"].dt.tz_localize(None), rec["Entry Timestamp"])
    closed = ~got["open"].to_numpy()
    np.testing.assert_array_equal(
        got["exit_time"].dt.tz_localize(None)[closed], rec["Exit Timestamp"][closed]
    )
    assert naive.is_monotonic_increasing
    np.testing.assert_allclose(got["entry_price"], rec["Avg Entry Price"], rtol=1e-12)
    np.testing.assert_allclose(got["exit_price"][closed], rec["Avg Exit Price"][closed], rtol=1e-12)
    np.testing.assert_allclose(got["pnl"], rec["PnL"], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("dataset,timeframe", DATASETS)
@pytest.mark.parametrize("direction", ["long", "short", "both"])
@pytest.mark.parametrize("fast,slow", [(10, 30), (5, 50)])
def test_sma_cross_matches_vectorbt(dataset, timeframe, direction, fast, slow):
    candles = load(dataset, timeframe)
    res = sb.backtest(
        candles, "sma_cross", fast=fast, slow=slow, fees=0.001, slippage=0.0005, direction=direction
    )
    assert res.config["year_days"] == (252 if dataset == "GOOG" else 365)
    pf = vectorbt_portfolio(
        candles,
        res.targets,
        direction,
        fees=0.001,
        slippage=0.0005,
        year_days=res.config["year_days"],
    )
    assert res.stats["closed_trades"] > 5  # a meaningful comparison
    assert_same(res, pf)


STOPS = [
    {"sl_stop": 0.02},
    {"tp_stop": 0.03},
    {"sl_stop": 0.02, "sl_trail": True},
    {"sl_stop": 0.015, "tp_stop": 0.04, "sl_trail": True},
]


@pytest.mark.parametrize("dataset,timeframe", DATASETS)
@pytest.mark.parametrize("direction", ["long", "short", "both"])
@pytest.mark.parametrize("stops", STOPS, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
def test_stops_match_vectorbt(dataset, timeframe, direction, stops):
    candles = load(dataset, timeframe)
    if timeframe == "1h":  # hourly moves are small: scale the stops to hit often enough
        stops = {k: (v / 5 if isinstance(v, float) else v) for k, v in stops.items()}
    res = sb.backtest(
        candles, "sma_cross", fast=10, slow=30, fees=0.001, direction=direction, **stops
    )
    pf = vectorbt_portfolio(
        candles, res.targets, direction, fees=0.001, year_days=res.config["year_days"], **stops
    )
    stop_exits = sum(res.stats[f"exits_{r}"] for r in ("stop_loss", "trailing_stop", "take_profit"))
    assert stop_exits >= 5, "the stops must actually fire for the comparison to mean anything"
    assert_same(res, pf)


@pytest.mark.parametrize("dataset,timeframe", DATASETS)
@pytest.mark.parametrize("direction", ["long", "short", "both"])
def test_next_open_fills_match_vectorbt(dataset, timeframe, direction):
    candles = load(dataset, timeframe)
    res = sb.backtest(
        candles, "sma_cross", fast=10, slow=30, fees=0.001, direction=direction, fill="next_open"
    )
    pf = vectorbt_portfolio(
        candles, res.targets, direction, shift=1, fees=0.001, year_days=res.config["year_days"]
    )
    assert res.stats["closed_trades"] > 5
    assert_same(res, pf)


def test_fee_free_all_in_matches_vectorbt_equity():
    candles = load("GOOG", "1d")
    res = sb.backtest(candles, "ema_cross", fast=8, slow=21, direction="both")
    pf = vectorbt_portfolio(candles, res.targets, "both", year_days=252)
    np.testing.assert_allclose(res.equity.to_numpy(), pf.value().to_numpy(), rtol=1e-9)
