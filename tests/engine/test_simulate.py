"""Stops, next-open fills, gates and ruin through the public API: properties and hand checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import sparkbt as sb
from tests.conftest import discrete_target, engine_options, fractional_target, ohlc

STOP_REASONS = ("stop_loss", "trailing_stop", "take_profit")


def fixed(targets, sl=None, tp=None):
    """A strategy returning the given targets (and per-bar stop columns, if given)."""

    def strat(candles):
        out = pd.Series(np.asarray(targets, dtype=float), index=candles.index)
        if sl is None and tp is None:
            return out
        frame = pd.DataFrame({"target": out})
        if sl is not None:
            frame["sl_stop"] = np.asarray(sl, dtype=float)
        if tp is not None:
            frame["tp_stop"] = np.asarray(tp, dtype=float)
        return frame

    return strat


def daily_bars(open_, high, low, close) -> pd.DataFrame:
    """Daily candles from 2024-01-01 with the given prices (volume 1)."""
    idx = pd.date_range("2024-01-01", periods=len(close), freq="1D", tz="UTC", name="timestamp")
    frame = {"open": open_, "high": high, "low": low, "close": close, "volume": 1.0}
    return pd.DataFrame(frame, index=idx)


def targets_for(data, candles):
    target = st.one_of(discrete_target, fractional_target)
    return data.draw(st.lists(target, min_size=len(candles), max_size=len(candles)))


@given(data=st.data(), candles=ohlc(), opts=engine_options())
def test_stop_fills_lie_in_their_bar_or_at_its_open(data, candles, opts):
    res = sb.backtest(candles, fixed(targets_for(data, candles)), **opts)
    fills = res.fills[res.fills["reason"].isin(STOP_REASONS)]
    bars = candles.loc[fills["timestamp"]]
    slip = opts["slippage"]
    raw = np.where(
        fills["side"] == "sell", fills["price"] / (1 - slip), fills["price"] / (1 + slip)
    )
    at_open = np.isclose(raw, bars["open"].to_numpy(), rtol=1e-12)
    inside = (raw >= bars["low"].to_numpy() * (1 - 1e-12)) & (
        raw <= bars["high"].to_numpy() * (1 + 1e-12)
    )
    assert (at_open | inside).all()


@given(data=st.data(), candles=ohlc(), opts=engine_options())
def test_a_stop_loss_without_a_gap_loses_at_most_the_stop(data, candles, opts):
    opts = {**opts, "sl_trail": False, "sl_stop": opts["sl_stop"] or 0.05}
    res = sb.backtest(candles, fixed(targets_for(data, candles)), **opts)
    trades = res.trades[res.trades["exit_reason"] == "stop_loss"]
    slip, sl = opts["slippage"], opts["sl_stop"]
    for tr in trades.itertuples():
        ref = candles["close"].loc[tr.entry_time]  # the entry bar's close
        bar = candles.loc[tr.exit_time]
        if tr.side == "long":
            if bar["open"] <= ref * (1 - sl):
                continue  # gapped through the stop: filled at the open, may lose more
            loss = 1 - tr.exit_price / ref
        else:
            if bar["open"] >= ref * (1 + sl):
                continue
            loss = tr.exit_price / ref - 1
        assert loss <= sl + slip + sl * slip + 1e-12  # (1 + sl)(1 + slip) - 1 for shorts
        assert tr.exit_fee <= tr.units * tr.exit_price * opts["fees"] * (1 + 1e-12)


@given(data=st.data(), candles=ohlc(), opts=engine_options())
def test_no_position_is_open_on_a_locked_bar(data, candles, opts):
    res = sb.backtest(candles, fixed(targets_for(data, candles)), **opts)
    for lock in res.locks.itertuples():
        held = res.position.loc[lock.start : lock.end]
        assert (held == 0.0).all(), (lock, held)
        assert lock.bars == len(held)


@given(data=st.data(), candles=ohlc(), opts=engine_options())
def test_equity_is_constant_after_ruin(data, candles, opts):
    opts = {**opts, "direction": "both"}
    res = sb.backtest(candles, fixed(targets_for(data, candles)), **opts)
    eq = res.equity.to_numpy()
    if res.stats["ruined"]:
        first = int(np.flatnonzero(eq <= 0.0)[0])
        after = first + 1 if res.trades["exit_reason"].eq("ruin").any() else first
        assert (eq[after:] == eq[-1]).all() and (res.position.to_numpy()[after:] == 0.0).all()
        assert len(res.fills) == 0 or res.fills["timestamp"].max() <= res.equity.index[first]
    else:
        assert (eq > 0.0).all()


@given(data=st.data(), candles=ohlc(big=False), opts=engine_options())
def test_a_stop_that_never_fires_changes_nothing(data, candles, opts):
    targets = targets_for(data, candles)
    base = {**opts, "sl_stop": None, "tp_stop": None}
    with_stop = {**opts, "sl_stop": 0.9, "tp_stop": 0.95}
    a = sb.backtest(candles, fixed(targets), **base)
    b = sb.backtest(candles, fixed(targets), **with_stop)
    # a long run of falling bars can still reach a 90% stop: such cases say nothing here
    assume(sum(b.stats[f"exits_{r}"] for r in STOP_REASONS) == 0)
    # the same numbers; with stops set the per-bar kernel computes them, without stops the
    # closed form may, so they agree to rounding rather than bit for bit
    np.testing.assert_allclose(a.equity.to_numpy(), b.equity.to_numpy(), rtol=1e-12)
    pd.testing.assert_frame_equal(a.trades, b.trades, check_exact=False, rtol=1e-12)


def test_next_open_exit_at_the_open_beats_a_later_stop_in_that_bar():
    # Long from bar 1's open (100). The exit signal of bar 2 fills at bar 3's open (97);
    # bar 3's low (90) also reaches the 5% stop (level 0.95 * 101 = 95.95) later in the bar.
    # The exit at the open comes first: a signal exit at 97, not a stop at 95.95
    # (vectorbt checks the stop first and would fill at 95.95).
    candles = daily_bars(
        [100.0, 100.0, 101.0, 97.0, 92.0],
        [101.0, 102.0, 102.0, 98.0, 93.0],
        [99.0, 99.5, 99.0, 90.0, 91.0],
        [100.0, 101.0, 99.0, 92.0, 92.0],
    )
    idx = candles.index
    res = sb.backtest(candles, fixed([1, 1, 0, 0, 0]), fill="next_open", sl_stop=0.05)
    (tr,) = res.trades.itertuples()
    assert tr.entry_time == idx[1] and tr.entry_price == 100.0
    assert tr.exit_time == idx[3] and tr.exit_price == 97.0 and tr.exit_reason == "signal"
    units = 10_000 / 100.0
    assert tr.pnl == pytest.approx(units * (97.0 - 100.0))
    np.testing.assert_allclose(
        res.equity, [10_000, units * 101, units * 99, units * 97, units * 97], rtol=1e-12
    )
    # the same bars without the exit signal: the stop fires in bar 3 at its level
    res = sb.backtest(candles, fixed([1, 1, 1, 1, 1]), fill="next_open", sl_stop=0.05)
    (tr,) = res.trades.itertuples()
    assert tr.exit_reason == "stop_loss" and tr.exit_price == pytest.approx(0.95 * 101.0)


def test_per_bar_stop_columns_use_the_entry_bar_value():
    # entry at bar 1 (close 100) where the strategy asks for a 2% stop; the 50% it gives on
    # later bars does not move the trade's stop: bar 3's low (97.5) hits 98
    candles = daily_bars(
        [100.0, 100.0, 100.5, 100.0, 98.0],
        [101.0, 101.0, 101.0, 100.5, 99.0],
        [99.0, 99.5, 99.0, 97.5, 97.0],
        [100.0, 100.0, 100.0, 98.5, 98.0],
    )
    idx = candles.index
    sl = [0.5, 0.02, 0.5, 0.5, 0.5]
    res = sb.backtest(candles, fixed([0, 1, 1, 1, 1], sl=sl))
    (tr,) = res.trades.itertuples()
    assert tr.exit_reason == "stop_loss" and tr.exit_time == idx[3] and tr.exit_price == 98.0
    # NaN in the column means "no stop from the strategy": the option applies
    res = sb.backtest(candles, fixed([0, 1, 1, 1, 1], sl=[np.nan] * 5), sl_stop=0.3)
    assert res.trades["exit_reason"].tolist() == ["open"]


def test_bad_per_bar_stop_values_name_the_row():
    candles = sb.synthetic_candles(10, seed=1)
    with pytest.raises(sb.StrategyError, match=r"sl_stop at row 3 is 1.5.*\(0, 1\)"):
        sb.backtest(candles, fixed(np.ones(10), sl=[0.1, 0.1, 1.5] + [0.1] * 7))
    with pytest.raises(sb.StrategyError, match="unexpected column"):
        sb.backtest(candles, lambda c: pd.DataFrame({"target": 1.0, "size": 2.0}, index=c.index))


def test_gate_locks_are_a_table_and_in_the_evidence(sample, tmp_path):
    res = sb.backtest(
        sample,
        "sma_cross",
        fast=5,
        slow=20,
        fees=0.001,
        gates={"max_drawdown": 0.1, "cooldown": 30, "loss_streak": 3},
    )
    assert list(res.locks.columns) == ["gate", "start", "end", "bars", "equity", "limit"]
    assert set(res.locks["gate"]) >= {"max_drawdown", "loss_streak"}
    assert res.stats["exits_gate"] >= 1
    folder = res.save(tmp_path)
    stored = sb.read_evidence(res.run_id, tmp_path)
    pd.testing.assert_frame_equal(stored.locks, res.locks)
    assert (folder / "locks.parquet").exists()
    assert set(stored.trades["exit_reason"]) <= {"signal", "gate", "open"}


def test_ruin_example_agrees_everywhere():
    close = [100.0, 150, 250, 300, 320, 330]
    candles = daily_bars(close, close, close, close)
    targets = [-1, -1, -1, 1, 1, 1]
    for opts in ({}, {"fill": "close", "gates": {"cooldown": 0}}):
        res = sb.backtest(candles, fixed(targets), direction="both", **opts)
        assert res.equity.tolist() == [10_000, 5_000, -5_000, -5_000, -5_000, -5_000]
        assert res.stats["ruined"] is True and res.stats["exits_ruin"] == 1
        assert res.trades["side"].tolist() == ["short"]


def test_year_length_is_inferred_recorded_and_can_be_set(sample):
    weekdays = sample[sample.index.day_of_week < 5]
    a = sb.backtest(weekdays, "sma_cross", timeframe="4h")
    b = sb.backtest(weekdays, "sma_cross", timeframe="4h", year_days=365)
    assert a.config["year_days"] == 252 and b.config["year_days"] == 365
    assert b.stats["sharpe"] == pytest.approx(a.stats["sharpe"] * np.sqrt(365 / 252), rel=1e-12)
    assert a.run_id != b.run_id
    assert sb.backtest(sample, "sma_cross").config["year_days"] == 365


def test_a_strategy_may_not_take_an_engine_option_name(tmp_path):
    path = tmp_path / "bad.py"
    path.write_text("def bad(candles, sl_stop: float = 0.1):\n    return candles['close'] * 0\n")
    with pytest.raises(sb.StrategyError, match="'sl_stop', which is an engine or run option"):
        sb.get_strategy(f"{path}:bad")


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"sl_stop": -0.1}, r"sl_stop: must be a fraction in \(0, 1\)"),
        ({"tp_stop": 1.0}, r"tp_stop: must be a fraction in \(0, 1\)"),
        ({"sl_stop": "tight"}, "sl_stop: expected a number"),
        ({"fill": "open"}, "fill: expected close or next_open"),
        ({"gates": {"max_drawdwn": 0.2}}, "did you mean 'max_drawdown'"),
        ({"gates": {"max_drawdown": "a lot"}}, "gate max_drawdown: expected a number"),
        ({"gates": {"loss_streak": 0}}, "gate loss_streak: expected a whole number in .1, "),
        ({"gates": {"cooldown": 2.5}}, "gate cooldown: expected a whole number in .0, "),
        ({"year_days": 0}, "year_days: must be in .1, 366."),
        ({"year_days": -252}, "year_days: must be in .1, 366."),
        ({"sl_trail": "maybe"}, "sl_trail: expected true or false"),
    ],
)
def test_bad_engine_options_are_config_errors(sample, kwargs, match):
    with pytest.raises(sb.ConfigError, match=match) as info:
        sb.backtest(sample, "sma_cross", **kwargs)
    assert isinstance(info.value, ValueError)
