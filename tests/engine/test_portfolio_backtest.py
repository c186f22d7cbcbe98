"""Portfolio backtests end to end: weights in, PortfolioResult and evidence out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sparkbt as sb
from sparkbt.data.panel import Panel
from sparkbt.engine.portfolio_result import ASSET_COLUMNS, PortfolioResult
from sparkbt.engine.statspec import PORTFOLIO_STAT_KEYS


def _frames(n: int = 300) -> dict[str, pd.DataFrame]:
    a = sb.synthetic_candles(n, timeframe="1d", seed=1)
    b = sb.synthetic_candles(n, timeframe="1d", seed=2, price=50.0)
    c = sb.synthetic_candles(n, timeframe="1d", seed=3, price=3.0)
    return {"AAA": a, "BBB": b.drop(b.index[40:55]), "CCC": c.iloc[30:]}


def rotate(panel: Panel, lookback: int = 20) -> pd.DataFrame:
    """Hold the symbol with the best return over ``lookback`` bars, rebalanced every 10 bars."""
    ret = panel.close.pct_change(lookback, fill_method=None)
    w = pd.DataFrame(np.nan, index=panel.index, columns=panel.symbols)
    for t in range(lookback, len(panel), 10):
        row = ret.iloc[t].dropna()
        if len(row):
            w.iloc[t] = 0.0
            w.iloc[t, panel.symbols.index(row.idxmax())] = 1.0
    return w


def over_gross(panel: Panel) -> pd.DataFrame:
    """Weights that lever up on bar 5."""
    w = pd.DataFrame(np.nan, index=panel.index, columns=panel.symbols)
    w.iloc[5] = 0.6
    return w


def test_a_mapping_runs_a_portfolio_with_every_table():
    res = sb.backtest(_frames(), rotate, fees=0.001, slippage=0.0005)
    assert isinstance(res, PortfolioResult)
    assert list(res.stats) == list(PORTFOLIO_STAT_KEYS)
    assert res.symbols == ["AAA", "BBB", "CCC"]
    assert list(res.assets.columns) == list(ASSET_COLUMNS)
    # the symbols' pnl adds up to the portfolio's
    assert res.assets["pnl"].sum() == pytest.approx(res.stats["pnl"], rel=1e-9, abs=1e-6)
    assert res.assets["fees"].sum() == pytest.approx(res.fills["fee"].sum())
    assert set(res.fills["symbol"]) <= set(res.symbols)
    assert res.stats["total_trades"] == len(res.trades) > 0
    # never more than one symbol held at a time by this strategy, never traded where no candle
    held = (res.positions != 0).sum(axis=1)
    assert held.max() <= 2  # the sell and the buy of a rotation land on one bar
    gap = res.panel.frames["BBB"].index
    assert set(res.fills.loc[res.fills["symbol"] == "BBB", "timestamp"]) <= set(gap)
    # realised weights: units at the last close over equity
    w = res.weights.iloc[-1]
    last = res.panel.close.ffill().iloc[-1]
    assert w.to_numpy() == pytest.approx(
        (res.positions.iloc[-1] * last / res.equity.iloc[-1]).to_numpy()
    )


def test_benchmark_is_the_equal_weight_basket():
    frames = _frames()
    res = sb.backtest(frames, rotate)
    expected = np.mean([f["close"].iloc[-1] / f["close"].iloc[0] for f in frames.values()]) - 1
    assert res.stats["benchmark_return"] == pytest.approx(expected)


def test_a_targets_strategy_runs_per_symbol_with_equal_slots():
    frames = _frames()
    res = sb.backtest(frames, "sma_cross", fast=5, slow=20)
    # every order is x / N of the value: a buy of 1/3 of the value, or a sale of everything
    buys = res.targets.to_numpy()
    given = buys[~np.isnan(buys)]
    assert set(np.round(given, 12)) <= {0.0, round(1 / 3, 12)}
    single = sb.backtest(frames["AAA"], "sma_cross", fast=5, slow=20)
    entries = single.fills.loc[single.fills["side"] == "buy", "timestamp"]
    mine = res.fills[(res.fills["symbol"] == "AAA") & (res.fills["side"] == "buy")]
    assert list(mine["timestamp"]) == list(entries)


def test_evidence_round_trip_and_deterministic_id(tmp_path):
    res = sb.backtest(_frames(), rotate, fees=0.001)
    again = sb.backtest(_frames(), rotate, fees=0.001)
    assert res.run_id == again.run_id
    folder = res.save(tmp_path)
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(
        [
            "report.json",
            "trades.parquet",
            "fills.parquet",
            "equity.parquet",
            "locks.parquet",
            "assets.parquet",
            "positions.parquet",
            "weights.parquet",
        ]
    )
    ev = sb.read_evidence(res.run_id, tmp_path)
    assert ev.is_portfolio and ev.report["kind"] == "portfolio"
    assert ev.report["engine_version"] == sb.ENGINE_VERSION == "3"
    assert list(ev.assets.index) == res.symbols
    assert list(ev.positions.columns) == res.symbols
    assert ev.report["stats"] == res.stats
    # the same run saved again is the same bytes
    other = again.save(tmp_path / "again")
    for name in names:
        if name != "report.json":
            assert (folder / name).read_bytes() == (other / name).read_bytes()


def test_the_id_covers_every_symbols_candles():
    frames = _frames()
    base = sb.backtest(frames, rotate).run_id
    changed = dict(frames)
    bumped = frames["CCC"].copy()
    bumped.iloc[-1, bumped.columns.get_loc("volume")] += 1.0
    changed["CCC"] = bumped
    assert sb.backtest(changed, rotate).run_id != base


def test_a_single_frame_still_runs_one_symbol():
    res = sb.backtest(_frames()["AAA"], "sma_cross", fast=5, slow=20)
    assert isinstance(res, sb.BacktestResult)
    assert res.report["engine_version"] == "2"


def test_a_weights_strategy_on_one_frame_is_a_one_symbol_portfolio():
    res = sb.backtest(_frames()["AAA"], rotate)
    assert isinstance(res, PortfolioResult)
    assert len(res.symbols) == 1


def test_weights_over_full_gross_name_the_bar():
    with pytest.raises(sb.StrategyError, match=r"at 2021-01-06.*gross 1\.8"):
        sb.backtest(_frames(), over_gross)


def test_weights_for_an_unknown_symbol_are_refused():
    def stray(panel: Panel) -> pd.DataFrame:
        return pd.DataFrame({"ZZZ": np.nan}, index=panel.index)

    with pytest.raises(sb.StrategyError, match="ZZZ, not in the candles"):
        sb.backtest(_frames(), stray)


@pytest.mark.parametrize(
    "options",
    [
        {"sl_stop": 0.05},
        {"tp_stop": 0.05},
        {"gates": {"loss_streak": 3}},
        {"gates": {"cooldown": 3}},
    ],
)
def test_per_trade_rules_are_refused_for_portfolios(options):
    with pytest.raises(sb.ConfigError, match="per-trade rules"):
        sb.backtest(_frames(), rotate, **options)


def test_trade_from_makes_warmup_bars():
    frames = _frames()
    res = sb.backtest(frames, rotate, trade_from="2021-06-01")
    assert res.panel.index[0] == pd.Timestamp("2021-06-01", tz="UTC")
    assert res.warmup_bars > 0 and res.metadata["warmup_bars"] == res.warmup_bars
    assert res.equity.iloc[0] == pytest.approx(res.config["cash"], rel=1e-2)


@pytest.mark.parametrize("fill", ["close", "next_open"])
def test_one_symbol_through_the_portfolio_path_is_the_single_run(fill):
    frame = _frames()["AAA"]
    single = sb.backtest(frame, "sma_cross", fast=5, slow=20, fill=fill)
    through = sb.backtest({"AAA": frame}, "sma_cross", fast=5, slow=20, fill=fill)
    np.testing.assert_allclose(through.equity, single.equity, rtol=1e-9)
    np.testing.assert_allclose(through.positions["AAA"], single.position, rtol=1e-9)
    assert len(through.trades) == len(single.trades)
    np.testing.assert_allclose(through.trades["pnl"], single.trades["pnl"], rtol=1e-9)


def test_weights_held_from_the_first_bar_are_the_basket_held():
    frames = {s: f.iloc[:200] for s, f in _frames().items() if s != "CCC"}

    def hold(panel: Panel) -> pd.DataFrame:
        w = pd.DataFrame(np.nan, index=panel.index, columns=panel.symbols)
        w.iloc[0] = 0.5
        return w

    res = sb.backtest(frames, hold)
    cash = res.config["cash"]
    units = {s: 0.5 * cash / f["close"].iloc[0] for s, f in frames.items()}
    last = pd.DataFrame({s: f["close"] for s, f in frames.items()}).ffill()
    basket = sum(units[s] * last[s] for s in frames)
    np.testing.assert_allclose(res.equity.to_numpy(), basket.to_numpy(), rtol=1e-12)
    assert res.stats["total_return"] == pytest.approx(res.stats["benchmark_return"], rel=1e-12)


def test_portfolio_refusals_are_config_errors_too():
    """A portfolio's bad input is a ConfigError as well as a candle or strategy error."""
    frames = _frames()
    other = sb.synthetic_candles(50, timeframe="4h", seed=9)
    with pytest.raises(sb.ConfigError, match="one timeframe"):
        sb.backtest({"AAA": frames["AAA"], "DDD": other}, rotate)
    with pytest.raises(sb.ConfigError, match="one quote currency"):
        sb.backtest({"BTCTRY": frames["AAA"], "ETHUSDT": frames["BBB"]}, rotate)
    with pytest.raises(sb.ConfigError, match="gross"):
        sb.backtest(frames, over_gross)
    with pytest.raises(sb.CandleError):
        sb.backtest({"BTCTRY": frames["AAA"], "ETHUSDT": frames["BBB"]}, rotate)
    with pytest.raises(sb.StrategyError):
        sb.backtest(frames, over_gross)
