"""Candles without a volume column (FX, indices) load with volume 0, and every report says so."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

import sparkbt as sb
from sparkbt.adapters.cli.app import app
from tests.conftest import make_candles

runner = CliRunner()


def no_volume(n: int = 60):
    return make_candles(np.linspace(1.10, 1.12, n), freq="1h").drop(columns=["volume"])


def test_files_and_frames_without_volume_load_with_zero_volume(tmp_path):
    csv = tmp_path / "eurusd.csv"
    no_volume().reset_index().to_csv(csv, index=False)
    for src in (csv, no_volume()):
        got = sb.load_candles(src)
        assert list(got.columns) == ["open", "high", "low", "close", "volume"]
        assert got["volume"].dtype == np.float64 and (got["volume"] == 0.0).all()
        assert got.attrs["volume_missing"] is True
    assert sb.load_candles(make_candles([1.0, 2.0])).attrs["volume_missing"] is False


def test_reports_and_the_store_keep_the_flag(tmp_path, sample):
    res = sb.backtest(no_volume(), "sma_cross", fast=5, slow=20)
    assert res.metadata["volume_missing"] is True
    assert sb.backtest(sample, "sma_cross").metadata["volume_missing"] is False
    store = sb.CandleStore(tmp_path / "store")
    store.merge("EURUSD", "1h", sb.load_candles(no_volume()))
    assert store.read("EURUSD", "1h").attrs["volume_missing"] is True


def test_cli_summary_and_json_say_the_volume_is_missing(tmp_path):
    csv = tmp_path / "eurusd.csv"
    no_volume().reset_index().to_csv(csv, index=False)
    args = ["run", "--data", str(csv), "--fast", "5", "--slow", "20", "--no-save"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "volume missing: set to 0" in res.stdout
    res = runner.invoke(app, [*args, "--json"])
    assert json.loads(res.stdout)["metadata"]["volume_missing"] is True
    res = runner.invoke(app, ["data", "validate", str(csv)])
    assert res.exit_code == 0 and "volume missing: set to 0" in res.stdout
