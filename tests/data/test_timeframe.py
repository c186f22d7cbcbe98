"""A declared timeframe must be the candles' own: it sets the annualisation of every ratio."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

import sparkbt as sb
from sparkbt.adapters.cli.app import app
from tests.conftest import make_candles

MISMATCH = "timeframe: declared 1h but the candles are 4h apart (median step)"


def test_declared_timeframe_that_disagrees_with_the_median_step_is_refused(tmp_path):
    four_hourly = make_candles(np.linspace(100, 120, 50), freq="4h")
    with pytest.raises(sb.CandleError) as info:
        sb.load_candles(four_hourly, timeframe="1h")
    assert MISMATCH in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(sb.CandleError, match="declared 1d but the candles are 4h apart"):
        sb.backtest(four_hourly, "sma_cross", timeframe="1d")
    hourly = make_candles(np.linspace(100, 120, 50), freq="1h")
    with pytest.raises(sb.CandleError, match="declared 4h but the candles are 1h apart"):
        sb.load_candles(hourly, timeframe="4h")
    assert sb.load_candles(four_hourly, timeframe="240m").attrs["timeframe"] == "4h"


def test_cli_refuses_a_wrong_timeframe_in_one_line(tmp_path):
    path = tmp_path / "c.csv"
    make_candles(np.linspace(100, 120, 50), freq="4h").reset_index().to_csv(path, index=False)
    res = CliRunner().invoke(app, ["run", "--data", str(path), "--timeframe", "1h", "--no-save"])
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert MISMATCH in err and len(err.splitlines()) == 1
    res = CliRunner().invoke(app, ["data", "validate", str(path), "--timeframe", "1h"])
    assert res.exit_code == 2 and MISMATCH in res.stderr


def test_gaps_and_single_candles_are_accepted(tmp_path):
    one = make_candles([100.0], freq="1h")
    assert sb.load_candles(one, timeframe="1h").attrs["timeframe"] == "1h"
    # a quiet market: most hours have no trade, so most steps are longer than one bar
    hourly = make_candles(np.linspace(100, 120, 60), freq="1h")
    quiet = hourly.iloc[[0, 1, 3, 6, 8, 11, 14, 16, 19, 22, 25, 28, 30, 33, 36, 40, 45, 52, 59]]
    steps = np.diff(quiet.index.asi8) // 3_600_000_000_000
    assert np.median(steps) > 1 and steps.min() == 1
    assert sb.load_candles(quiet, timeframe="1h").attrs["timeframe"] == "1h"
    store = sb.CandleStore(tmp_path / "store")
    store.merge("BTCTRY", "1h", quiet)
    assert len(store.read("BTCTRY", "1h")) == len(quiet)
    daily = make_candles(np.linspace(100, 120, 30), freq="B")  # weekdays only
    assert sb.load_candles(daily, timeframe="1d").attrs["timeframe"] == "1d"
