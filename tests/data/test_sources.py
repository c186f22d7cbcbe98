"""Every report says where its candles came from and whether they are synthetic."""

from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

import sparkbt as sb
from sparkbt.adapters.cli.app import app
from tests.conftest import make_candles

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def _meta(res) -> dict:
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)["metadata"]


def test_run_without_data_says_the_candles_are_the_synthetic_sample(tmp_path):
    meta = _meta(invoke("run", "--json", "--no-save", "--data-dir", tmp_path / "empty"))
    assert (meta["source"], meta["synthetic"]) == ("sample", True)
    res = invoke("run", "--no-save", "--data-dir", tmp_path / "empty")
    assert res.exit_code == 0, res.output
    assert "ETHUSDT 4h (synthetic sample)" in res.stdout


def test_store_file_and_dataframe_sources(tmp_path):
    real = make_candles(100 + pd.Series(range(200)).mod(17).to_numpy(), freq="1h")
    store = sb.CandleStore(tmp_path / "store")
    store.merge("BTCTRY", "1h", real)
    args = ("--symbol", "BTCTRY", "--timeframe", "1h", "--data-dir", tmp_path / "store")
    meta = _meta(invoke("run", *args, "--json", "--no-save"))
    assert (meta["source"], meta["synthetic"]) == ("store", False)
    res = invoke("run", *args, "--no-save")
    assert "BTCTRY 1h (store)" in res.stdout and "synthetic" not in res.stdout

    csv = tmp_path / "c.csv"
    real.reset_index().to_csv(csv, index=False)
    meta = _meta(invoke("run", "--data", csv, "--json", "--no-save"))
    assert (meta["source"], meta["synthetic"]) == ("file", False)

    res = sb.backtest(real, "sma_cross", fast=5, slow=20)
    assert (res.metadata["source"], res.metadata["synthetic"]) == ("dataframe", False)
    assert (res.report["metadata"]["source"], res.report["metadata"]["synthetic"]) == (
        "dataframe",
        False,
    )


def test_synthetic_candles_stay_synthetic_through_files_and_the_store(tmp_path):
    synth = sb.synthetic_candles(300, timeframe="1h")
    res = sb.backtest(synth, "sma_cross", fast=5, slow=20)
    assert (res.metadata["source"], res.metadata["synthetic"]) == ("dataframe", True)

    path = tmp_path / "synth.parquet"
    synth.to_parquet(path)
    loaded = sb.load_candles(path)
    assert (loaded.attrs["source"], loaded.attrs["synthetic"]) == ("file", True)

    store = sb.CandleStore(tmp_path / "store")
    store.merge("BTCTRY", "1h", synth.iloc[:200])
    store.merge("BTCTRY", "1h", make_candles([1.0, 2.0], start="2030-01-01"))  # real, later
    back = store.read("BTCTRY", "1h")
    assert (back.attrs["source"], back.attrs["synthetic"]) == ("store", True)
    meta = _meta(
        invoke(
            "run",
            *("--symbol", "BTCTRY", "--timeframe", "1h", "--data-dir", tmp_path / "store"),
            "--json",
            "--no-save",
        )
    )
    assert (meta["source"], meta["synthetic"]) == ("store", True)


def test_source_is_descriptive_and_not_part_of_the_run_id(sample):
    as_sample = sb.backtest(sample, "sma_cross", fast=10, slow=30)
    plain = pd.DataFrame(sample.to_numpy(), index=sample.index, columns=sample.columns)
    as_frame = sb.backtest(plain, "sma_cross", fast=10, slow=30, symbol="ETHUSDT", timeframe="4h")
    assert as_sample.metadata["source"] == "sample" and as_frame.metadata["source"] == "dataframe"
    assert as_sample.run_id == as_frame.run_id


def test_data_list_shows_the_packaged_sample_even_with_an_empty_store(tmp_path):
    res = invoke("data", "list", "--data-dir", tmp_path / "empty")
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    sample_lines = [line for line in lines if "synthetic sample" in line]
    listed = [line.split()[:2] for line in sample_lines]
    assert listed == [["AVAXUSDT", "4h"], ["BTCUSDT", "4h"], ["ETHUSDT", "4h"], ["SOLUSDT", "4h"]]
    assert all(
        f"{sym}-4h.parquet" in line for (sym, _), line in zip(listed, sample_lines, strict=True)
    )
    sb.CandleStore(tmp_path / "store").merge("BTCTRY", "1h", make_candles([1.0, 2.0, 3.0]))
    res = invoke("data", "list", "--data-dir", tmp_path / "store")
    assert "BTCTRY 1h " in res.stdout and "synthetic sample" in res.stdout
