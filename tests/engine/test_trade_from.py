"""``backtest(trade_from=...)``: warm-up bars the strategy sees, a simulation of the rest."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import sparkbt as sb
from sparkbt.adapters.cli.app import app
from sparkbt.engine.options import Config
from sparkbt.engine.registry import get_strategy
from sparkbt.engine.stats import stats_row
from sparkbt.errors import ConfigError
from sparkbt.research.sweep_jobs import SweepJob, run_chunk

SPLIT = 4200
OPTIONS = [
    {"fees": 0.001},
    {"fees": 0.001, "sl_stop": 0.03, "sl_trail": True},
    {"direction": "both", "fill": "next_open", "gates": {"max_drawdown": 0.2}},
]


@pytest.fixture(scope="module")
def candles() -> pd.DataFrame:
    return sb.sample_candles()


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        x, y = a[k], b[k]
        if isinstance(y, float) and math.isnan(y):
            assert x is None or (isinstance(x, float) and math.isnan(x)), k
        else:
            assert x == y, k


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("strategy", ["sma_cross", "rsi_reversion"])
def test_matches_a_sweep_job_started_at_the_split(candles, options, strategy):
    strat = get_strategy(strategy)
    params = strat.validate({})
    run = sb.backtest(candles, strategy, trade_from=candles.index[SPLIT], **options, **params)
    config = Config(**{**Config().to_dict(), **options}).resolved(candles)
    job = SweepJob(candles, strat, config, pd.DataFrame([params]), start=SPLIT)
    _same(run.stats, stats_row(run_chunk(job, 0, 1), 0))
    assert run.warmup_bars == SPLIT
    assert len(run.equity) == len(candles) - SPLIT
    assert run.equity.index[0] == candles.index[SPLIT]
    assert run.equity.iloc[0] <= run.config["cash"]


def test_metadata_and_id(candles, tmp_path):
    run = sb.backtest(candles, "sma_cross", trade_from="2023-12-01", fees=0.001)
    meta = run.metadata
    first = candles.index.searchsorted(pd.Timestamp("2023-12-01", tz="UTC"))
    assert meta["warmup_bars"] == first
    assert meta["warmup_start"] == candles.index[0].isoformat()
    assert meta["start"] == candles.index[first].isoformat()
    assert meta["candle_count"] == len(candles) - first
    assert meta["data_sha256"] == sb.backtest(candles, "sma_cross", fees=0.001).data_sha256
    # the same first traded bar, however it is written, is the same run
    same = sb.backtest(
        candles, "sma_cross", trade_from=pd.Timestamp("2023-11-30T22:00:01Z"), fees=0.001
    )
    assert same.run_id == run.run_id
    assert sb.backtest(candles, "sma_cross", trade_from="2023-12-01T00:00Z", fees=0.001).run_id == (
        run.run_id
    )
    # not the run of the traded bars alone (cold indicators), nor of the whole window
    cold = sb.backtest(candles.iloc[first:], "sma_cross", fees=0.001)
    assert run.run_id != cold.run_id
    assert run.run_id != sb.backtest(candles, "sma_cross", fees=0.001).run_id
    report = json.loads((run.save(tmp_path) / "report.json").read_text())
    assert report["id"] == run.run_id
    assert report["metadata"]["warmup_bars"] == first
    trades = pd.read_parquet(tmp_path / "backtest" / run.run_id / "trades.parquet")
    assert (trades["entry_time"] >= candles.index[first]).all()


def test_at_or_before_the_first_bar_is_a_plain_run(candles):
    plain = sb.backtest(candles, "sma_cross")
    for when in (candles.index[0], "2000-01-01", None):
        run = sb.backtest(candles, "sma_cross", trade_from=when)
        assert run.run_id == plain.run_id
        assert run.warmup_bars == 0
        assert "warmup_bars" not in run.metadata
        assert run.report["metadata"] == plain.report["metadata"]
        _same(run.stats, plain.stats)


def test_bad_trade_from(candles):
    with pytest.raises(ConfigError, match=r"^trade_from: .*after the last candle"):
        sb.backtest(candles, "sma_cross", trade_from="2031-01-01")
    with pytest.raises(ConfigError, match=r"^trade_from: expected a timestamp"):
        sb.backtest(candles, "sma_cross", trade_from="soon")
    last = sb.backtest(candles, "sma_cross", trade_from=candles.index[-1])
    assert last.metadata["candle_count"] == 1


def test_naive_times_are_utc(candles):
    a = sb.backtest(candles, "sma_cross", trade_from="2023-06-01 12:00")
    b = sb.backtest(candles, "sma_cross", trade_from="2023-06-01T14:00+02:00")
    assert a.run_id == b.run_id
    assert np.array_equal(a.equity.to_numpy(), b.equity.to_numpy())


def test_cli_trade_from(candles, tmp_path):
    args = ["run", "--fast", "12", "--slow", "40", "--fees", "0.001", "--json"]
    out = CliRunner().invoke(
        app, [*args, "--trade-from", "2023-12-01", "--evidence-dir", str(tmp_path)]
    )
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    run = sb.backtest(candles, "sma_cross", fast=12, slow=40, fees=0.001, trade_from="2023-12-01")
    assert report["id"] == run.run_id
    assert (tmp_path / "backtest" / run.run_id / "report.json").is_file()
    bad = CliRunner().invoke(app, [*args, "--no-save", "--trade-from", "2031-01-01"])
    assert bad.exit_code == 2
    assert "trade_from" in bad.output
    help_text = CliRunner().invoke(app, ["run", "--help"]).output
    assert "--trade-from" in help_text
