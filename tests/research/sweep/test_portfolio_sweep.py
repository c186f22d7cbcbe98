"""Portfolio sweeps and walk-forward: rows equal ``backtest``, chunking, evidence, refusals."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest

import sparkbt as sb
from sparkbt.data.panel import Panel
from sparkbt.engine.options import Config
from sparkbt.engine.registry import get_strategy
from sparkbt.engine.statspec import PORTFOLIO_STAT_KEYS
from sparkbt.errors import ConfigError
from sparkbt.research.grid import build_grid
from sparkbt.research.portfolio_jobs import PortfolioJob
from sparkbt.research.portfolio_walkforward import panel_window
from sparkbt.research.sweep_evidence import save_sweep

SAMPLES = ["ETHUSDT", "BTCUSDT", "SOLUSDT", "AVAXUSDT"]


@pytest.fixture(scope="module")
def panel() -> Panel:
    """The packaged 4h samples (AVAXUSDT starts half-way: a symbol listed late)."""
    return sb.load_panel(SAMPLES, timeframe="4h")


def assert_row_equals(row: pd.Series, stats: dict) -> None:
    """Every portfolio stat of the row equals the backtest's, bit for bit.

    A stat without a value is NaN in a sweep row and None in a backtest's stats.
    """
    for key in PORTFOLIO_STAT_KEYS:
        a, b = row[key], stats[key]
        same = (a != a and b is None) or a == b
        assert same, f"{key}: sweep {a!r} != backtest {b!r}"


def test_rows_equal_backtest(panel) -> None:
    out = sb.sweep(
        panel,
        "momentum_rotation",
        lookback=range(10, 121, 10),
        k=[1, 2, 3],
        fees=[0.0, 0.002],
        direction=["long", "both"],
        workers=1,
    )
    assert len(out) == 12 * 3 * 2 * 2
    assert {"turnover", "rejected_orders"} <= set(out.columns)
    assert out["total_trades"].dtype == np.int64 and out["turnover"].gt(0).all()
    for i in (0, 5, 17, 58, 101, 143):
        r = out.iloc[i]
        res = sb.backtest(
            panel,
            "momentum_rotation",
            lookback=int(r["lookback"]),
            k=int(r["k"]),
            fees=float(r["fees"]),
            direction=r["direction"],
        )
        assert_row_equals(r, res.stats)
    # every lookback, k and fee gives its own run; a long-only strategy runs alike in "both"
    assert out["total_return"].nunique() == 72


def test_targets_strategy_on_mapping_and_weights_strategy_on_frame(panel) -> None:
    frames = {s: panel.frames[s] for s in SAMPLES[:3]}
    out = sb.sweep(frames, "sma_cross", fast=[5, 10], slow=[30, 60], workers=1)
    for i in range(len(out)):
        r = out.iloc[i]
        res = sb.backtest(frames, "sma_cross", fast=int(r["fast"]), slow=int(r["slow"]))
        assert_row_equals(r, res.stats)
    frame = panel.frames["ETHUSDT"]
    one = sb.sweep(frame, "momentum_rotation", lookback=[20, 40], workers=1)
    assert one.attrs["sweep"]["symbols"] == ["ETHUSDT"]
    assert_row_equals(one.iloc[1], sb.backtest(frame, "momentum_rotation", lookback=40).stats)


def test_chunking_and_workers_give_the_same_rows(panel) -> None:
    grid = {"lookback": [10, 30, 50, 70], "k": [1, 2], "fees": [0.0, 0.001]}
    base = sb.sweep(panel, "momentum_rotation", workers=1, chunk_size=1000, **grid)
    # a budget that holds one combination per worker, no more
    tiny = sb.sweep(panel, "momentum_rotation", workers=2, max_memory="40MB", **grid)
    ones = sb.sweep(panel, "momentum_rotation", workers=1, chunk_size=1, **grid)
    assert tiny.attrs["timing"]["chunks"] > 1 and ones.attrs["timing"]["chunks"] == len(base)
    pd.testing.assert_frame_equal(base, tiny)
    pd.testing.assert_frame_equal(base, ones)
    with pytest.raises(ConfigError, match=r"max_memory 5 MiB is too small for 6,000 bars x 4"):
        sb.sweep(panel, "momentum_rotation", workers=1, max_memory="5MB", **grid)


def test_one_combination_stays_within_its_memory_estimate(panel) -> None:
    strat = get_strategy("momentum_rotation")
    combos = build_grid(strat, {"lookback": 30, "k": 2})
    job = PortfolioJob(panel, strat, Config(year_days=365), combos)
    job.run(0, 1)  # compiled, panel arrays and the traded panel built
    tracemalloc.start()
    try:
        job.run(0, 1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert 0 < peak < job.bytes_per_combination()


def test_identity_and_evidence(panel, tmp_path) -> None:
    out = sb.sweep(panel, "momentum_rotation", lookback=[10, 20], k=[1, 2], workers=1)
    ident = out.attrs["sweep"]
    assert ident["run_kind"] == "portfolio" and ident["engine_version"] == "3"
    assert ident["symbols"] == SAMPLES and list(ident["data_sha256"]) == SAMPLES
    res = sb.backtest(panel, "momentum_rotation", lookback=10, k=1)
    assert ident["data_sha256"] == res.data_sha256_by_symbol
    path = save_sweep(out, tmp_path)
    back = sb.read_evidence(path)
    assert back.kind == "sweep" and back.id == path.name
    pd.testing.assert_frame_equal(back.results, out, check_like=False)
    # another symbol's data gives another identity
    other = dict(panel.frames)
    other["BTCUSDT"] = other["BTCUSDT"].iloc[1:]
    moved = sb.sweep(other, "momentum_rotation", lookback=[10, 20], k=[1, 2], workers=1)
    assert save_sweep(moved, tmp_path).name != path.name


@pytest.mark.parametrize(
    "options",
    [
        {"sl_stop": 0.05},
        {"tp_stop": [None, 0.1]},
        {"sl_trail": True},
        {"gates": {"loss_streak": 3}},
        {"gates": {"cooldown": 5}},
    ],
)
def test_per_trade_options_are_refused(panel, options) -> None:
    with pytest.raises(ConfigError, match="per-trade rules of one symbol") as err:
        sb.sweep(panel, "momentum_rotation", lookback=[10, 20], workers=1, **options)
    assert "\n" not in str(err.value)


def test_walk_forward_on_a_panel(panel, tmp_path) -> None:
    wf = sb.walk_forward(
        panel,
        "momentum_rotation",
        lookback="10:60:10",
        k=[1, 2],
        train=1500,
        test=500,
        fees=0.001,
        workers=1,
    )
    assert len(wf.folds) == 9 and wf.identity["run_kind"] == "portfolio"
    # AVAXUSDT has no candle before 2023-05-16: it joins the folds from there on
    assert wf.folds["symbols"].iloc[0] == "ETHUSDT,BTCUSDT,SOLUSDT"
    assert wf.folds["symbols"].iloc[-1] == ",".join(SAMPLES)
    year_days = wf.identity["config"]["year_days"]
    for f in (0, 3, 8):
        row, oos = wf.folds.iloc[f], wf.oos.iloc[f]
        s = f * 500
        assert row["test_start"] == panel.index[s + 1500]
        window = panel_window(panel, s, s + 2000, traded_from=row["test_start"])
        res = sb.backtest(
            window.frames,
            "momentum_rotation",
            lookback=int(row["lookback"]),
            k=int(row["k"]),
            fees=0.001,
            year_days=year_days,
            trade_from=row["test_start"],
        )
        assert res.warmup_bars > 0
        assert_row_equals(oos, res.stats)
        ins = sb.sweep(
            panel_window(panel, s, s + 1500).frames,
            "momentum_rotation",
            lookback="10:60:10",
            k=[1, 2],
            fees=0.001,
            year_days=year_days,
            workers=1,
        )
        assert row["is_sharpe"] == ins["sharpe"].max()
    back = sb.read_evidence(wf.save(tmp_path))
    assert back.kind == "walkforward" and back.meta["identity"]["symbols"] == SAMPLES
    pd.testing.assert_frame_equal(back.oos, wf.oos)


def test_walk_forward_refuses_swept_options_and_stops(panel) -> None:
    with pytest.raises(ConfigError, match="one value each"):
        sb.walk_forward(panel, "momentum_rotation", train=1500, test=500, fees=[0.0, 0.1])
    with pytest.raises(ConfigError, match="per-trade rules"):
        sb.walk_forward(panel, "momentum_rotation", train=1500, test=500, sl_stop=0.1)
