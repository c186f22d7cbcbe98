"""Targets the direction throws away are counted and reported, never dropped silently."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from typer.testing import CliRunner

import sparkbt as sb
from sparkbt.adapters.cli.app import app
from tests.conftest import make_candles

runner = CliRunner()

# NaN = no opinion: forward-filled, so the -1 at bar 1 holds for bars 1-2 and 6-7.
TARGETS = [np.nan, -1.0, np.nan, 1.0, 0.5, 0.0, -0.5, np.nan]


def fixed(candles: pd.DataFrame) -> pd.Series:
    return pd.Series(TARGETS, index=candles.index)


def candles() -> pd.DataFrame:
    return make_candles([100, 101, 102, 101, 103, 104, 102, 101])


def test_clipped_targets_are_counted_after_forward_fill():
    counts = {
        d: sb.backtest(candles(), fixed, direction=d).metadata["clipped_targets"]
        for d in ("long", "short", "both")
    }
    assert counts == {"long": 4, "short": 2, "both": 0}
    report = sb.backtest(candles(), fixed).report
    assert report["metadata"]["clipped_targets"] == 4


def test_built_in_strategies_count_what_the_direction_drops(sample):
    assert sb.backtest(sample, "buy_and_hold").metadata["clipped_targets"] == 0
    both = sb.backtest(sample, "sma_cross", fast=10, slow=30, direction="both")
    assert both.metadata["clipped_targets"] == 0
    shorts = int((both.targets < 0).sum())
    assert shorts > 0
    long_only = sb.backtest(sample, "sma_cross", fast=10, slow=30)
    assert long_only.metadata["clipped_targets"] == shorts


def test_run_summary_says_once_how_many_short_targets_were_ignored(tmp_path):
    strat = tmp_path / "fixed.py"
    strat.write_text(
        f"import pandas as pd\n\nTARGETS = {TARGETS!r}\n".replace("nan", "float('nan')")
        + "\n\ndef fixed(candles):\n    return pd.Series(TARGETS, index=candles.index)\n"
    )
    data = tmp_path / "c.csv"
    candles().reset_index().to_csv(data, index=False)
    args = ["run", "--data", str(data), "--strategy", f"{strat}:fixed", "--no-save"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    note = "4 bars of short targets ignored: direction is long; use --direction both"
    assert res.stdout.count(note) == 1
    res = runner.invoke(app, [*args, "--direction", "short"])
    assert res.stdout.count("2 bars of long targets ignored: direction is short") == 1
    res = runner.invoke(app, [*args, "--direction", "both"])
    assert res.exit_code == 0 and "ignored" not in res.stdout
    res = runner.invoke(app, [*args, "--json"])
    assert json.loads(res.stdout)["metadata"]["clipped_targets"] == 4
