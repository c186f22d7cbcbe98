"""The numbers a run report shows: checked by hand or against the engine itself."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sparkbt as sb
from sparkbt.adapters.web.reportdata import (
    CandleSource,
    drawdown_periods,
    monthly_grid,
    monthly_returns,
    report_payload,
)
from sparkbt.adapters.web.tradetable import trades_csv
from sparkbt.evidence import read_evidence


def _series(values: list[float], start: str = "2024-01-30", freq: str = "D") -> pd.Series:
    index = pd.date_range(start, periods=len(values), freq=freq, tz="UTC")
    return pd.Series(values, index=index, dtype=float)


def test_monthly_returns_by_hand() -> None:
    # Jan 30, Jan 31 | Feb 1 .. Feb 29 (2024 is a leap year) | Mar 1
    values = [100.0, 110.0] + [120.0] * 28 + [99.0] + [132.0]
    eq = _series(values)
    assert eq.index[-1] == pd.Timestamp("2024-03-01", tz="UTC")
    months = monthly_returns(eq, cash=100.0)
    assert [(m["year"], m["month"]) for m in months] == [(2024, 1), (2024, 2), (2024, 3)]
    assert months[0]["return"] == pytest.approx(0.10)  # 100 -> 110
    assert months[1]["return"] == pytest.approx(99.0 / 110.0 - 1.0)  # 110 -> 99
    assert months[2]["return"] == pytest.approx(132.0 / 99.0 - 1.0)  # 99 -> 132
    grid = monthly_grid(months)
    assert grid["years"] == [2024]
    assert grid["rows"][0][:3] == [m["return"] for m in months]
    assert grid["rows"][0][3:] == [None] * 9
    assert grid["totals"][0] == pytest.approx(132.0 / 100.0 - 1.0)  # compounding the months
    assert grid["scale"] == pytest.approx(132.0 / 99.0 - 1.0)


def test_drawdown_periods_by_hand() -> None:
    #          0    1    2   3    4    5    6    7    8
    eq = _series([100, 120, 90, 60, 120, 130, 117, 130, 125])
    periods = drawdown_periods(eq)
    assert [round(p["depth"], 12) for p in periods] == [0.5, 0.1, round(1 - 125 / 130, 12)]
    worst = periods[0]
    assert worst["peak"].startswith("2024-01-31")  # bar 1
    assert worst["trough"].startswith("2024-02-02")  # bar 3
    assert worst["recovery"].startswith("2024-02-03")  # bar 4, back at 120
    assert periods[1]["trough"].startswith("2024-02-05")  # bar 6
    assert periods[2]["recovery"] is None  # still under water at the end
    assert drawdown_periods(eq, top=1) == periods[:1]
    assert drawdown_periods(_series([1.0, 2.0, 3.0])) == []


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, pd.DataFrame]:
    root = tmp_path_factory.mktemp("ev")
    candles = sb.sample_candles()
    res = sb.backtest(candles, "sma_cross", fast=10, slow=30, sl_stop=0.05, direction="both")
    path = res.save(root)
    return read_evidence(path), candles


def test_buy_and_hold_column_equals_an_always_long_backtest(stored: tuple) -> None:
    run, candles = stored
    payload = report_payload(run, CandleSource(candles))
    hold = sb.backtest(candles, "buy_and_hold").stats
    from sparkbt.engine.result import format_stat

    bench = {row["key"]: row["bench"] for row in payload["stats"]}
    for key in ("total_return", "cagr", "max_drawdown", "sharpe", "sortino", "calmar"):
        assert bench[key] == format_stat(key, hold[key]), key
    assert bench["exposure"] == "100.00%"
    assert bench["total_trades"] is None  # no buy-and-hold counterpart
    values = {row["key"]: row["value"] for row in payload["stats"]}
    assert values == {k: v for k, v in run.stats.items()}


def test_series_keep_every_extreme_and_the_numbers_use_all_bars(stored: tuple) -> None:
    run, candles = stored
    payload = report_payload(run, CandleSource(candles))
    s = payload["series"]
    equity = run.equity["equity"].to_numpy()
    assert s["bars"] == len(equity) == len(candles)
    assert s["points"] == len(s["t"]) == len(s["equity"]) == len(s["drawdown"])
    assert max(s["equity"]) == pytest.approx(equity.max())
    assert min(s["equity"]) == pytest.approx(equity.min())
    assert min(s["drawdown"]) == pytest.approx(-run.equity["drawdown"].max())
    assert s["t"][0] == candles.index[0].timestamp() and s["t"][-1] == candles.index[-1].timestamp()
    # the worst drawdown listed is the run's max drawdown, computed on every bar
    assert payload["drawdowns"][0]["depth"] == pytest.approx(run.stats["max_drawdown"])


def test_candles_are_bucketed_and_markers_count_every_trade(stored: tuple) -> None:
    run, candles = stored
    c = report_payload(run, CandleSource(candles))["candles"]
    assert len(c["t"]) <= 2000
    assert max(c["high"]) == candles["high"].max() and min(c["low"]) == candles["low"].min()
    assert c["open"][0] == candles["open"].iloc[0] and c["close"][-1] == candles["close"].iloc[-1]
    counts = [m["count"] for m in c["markers"]]
    trades = run.trades
    assert sum(counts) == len(trades) + int((~trades["open"]).sum())
    colours = {m["color"] for m in c["markers"] if m["shape"] == "circle"}
    reasons = set(trades.loc[~trades["open"], "exit_reason"])
    assert "stop_loss" in reasons  # the 5% stop did fire
    from sparkbt.adapters.web.reportdata import EXIT_COLOURS

    assert colours == {EXIT_COLOURS[r] for r in reasons}


def test_candles_that_are_not_the_runs_are_refused(stored: tuple) -> None:
    run, candles = stored
    other = candles.copy()
    other.iloc[100, other.columns.get_loc("close")] *= 1.01
    payload = report_payload(run, CandleSource(other))
    assert payload["candles"] is None
    assert "differ" in payload["candles_note"]
    assert all(row["bench"] is None for row in payload["stats"])
    short = report_payload(run, CandleSource(candles.iloc[:-5]))
    assert short["candles"] is None and "cover" in short["candles_note"]


def test_trades_csv_is_exactly_trades_parquet(stored: tuple) -> None:
    run, _ = stored
    back = pd.read_csv(io.StringIO(trades_csv(run.trades)))
    want = run.trades
    assert list(back.columns) == list(want.columns)
    for col in want.columns:
        if isinstance(want[col].dtype, pd.DatetimeTZDtype):
            assert (pd.to_datetime(back[col], utc=True) == want[col]).all(), col
        elif want[col].dtype.kind == "f":
            np.testing.assert_array_equal(back[col].to_numpy(), want[col].to_numpy(), err_msg=col)
        else:
            assert back[col].astype(str).tolist() == want[col].astype(str).tolist(), col


def test_trade_rows_hold_every_trade_in_order(stored: tuple) -> None:
    run, candles = stored
    payload = report_payload(run, CandleSource(candles))
    cols = payload["trade_columns"]
    rows = payload["trades"]
    assert payload["trade_count"] == len(run.trades) == len(rows)
    assert [r[cols.index("id")] for r in rows] == run.trades["id"].tolist()
    assert [r[cols.index("pnl")] for r in rows] == pytest.approx(run.trades["pnl"].tolist())
    assert [r[cols.index("exit_reason")] for r in rows] == run.trades["exit_reason"].tolist()


def test_gate_locks_are_listed(tmp_path: Path) -> None:
    candles = sb.sample_candles()
    res = sb.backtest(
        candles,
        "sma_cross",
        fast=10,
        slow=30,
        direction="both",
        sl_stop=0.03,
        gates={"daily_loss": 0.02, "loss_streak": 3},
    )
    run = read_evidence(res.save(tmp_path))
    locks = report_payload(run, CandleSource(candles))["locks"]
    assert len(locks) == len(run.locks) > 0
    first = run.locks.iloc[0]
    assert locks[0]["gate"] == first["gate"]
    assert locks[0]["start"] == first["start"].strftime("%Y-%m-%d %H:%M")
    assert locks[0]["equity"] == f"{first['equity']:,.2f}"
    assert report_payload(read_evidence(res.save(tmp_path)), CandleSource(None))["candles"] is None


def test_a_run_with_warm_up_bars_finds_its_candles(tmp_path: Path) -> None:
    candles = sb.sample_candles()
    res = sb.backtest(candles, "sma_cross", fast=10, slow=30, trade_from="2024-01-01")
    run = read_evidence(res.save(tmp_path))
    assert run.report["metadata"]["warmup_bars"] > 0
    payload = report_payload(run, CandleSource(candles))
    assert payload["candles_note"] == ""
    c = payload["candles"]
    assert c["t"][0] == pd.Timestamp("2024-01-01", tz="UTC").timestamp()
    traded = candles.loc["2024-01-01":]
    assert max(c["high"]) == traded["high"].max() and min(c["low"]) == traded["low"].min()
    hold = {row["key"]: row["bench"] for row in payload["stats"]}
    from sparkbt.engine.result import format_stat

    assert hold["total_return"] == format_stat("total_return", res.stats["benchmark_return"])
