"""``sparkbt verify``: a line per file, --json, exit 0 verified, 1 differs, 2 cannot re-run."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import sparkbt as sb
from sparkbt.adapters.cli.app import app
from tests.research.verify_fixtures import candles, edit_json, edit_table, make_store


@pytest.fixture
def stored(tmp_path, monkeypatch):
    data = make_store(tmp_path, monkeypatch)
    folder = sb.backtest(candles(data), "sma_cross", fast=10, slow=30).save(tmp_path / "ev")
    return folder, data


def invoke(folder, data, *extra: str):
    args = ["verify", folder.name[:10], "--evidence-dir", str(folder.parents[1])]
    return CliRunner().invoke(app, [*args, "--data-dir", str(data), *extra])


def test_a_verified_run_prints_each_file_and_exits_0(stored):
    folder, data = stored
    out = invoke(folder, data)
    assert out.exit_code == 0, out.output
    for name in ("equity.parquet", "fills.parquet", "locks.parquet", "report.json"):
        assert any(line.split()[:2] == ["verified", name] for line in out.stdout.splitlines())
    assert f"backtest {folder.name} verified" in out.stdout


def test_a_changed_value_exits_1_naming_it(stored):
    folder, data = stored
    edit_table(folder / "trades.parquet", "pnl", 1)
    out = invoke(folder, data)
    assert out.exit_code == 1, out.output
    assert any(
        line.split()[:2] == ["differs", "trades.parquet"] for line in out.stdout.splitlines()
    )
    assert "trades.parquet: pnl row 1: stored" in out.stdout
    doc = json.loads(invoke(folder, data, "--json").stdout)
    assert doc["status"] == "differs" and doc["exit_code"] == 1
    assert doc["first_difference"]["file"] == "trades.parquet"
    assert (doc["first_difference"]["where"], doc["first_difference"]["row"]) == ("pnl", 1)


def test_changed_candles_exit_2(stored):
    folder, data = stored
    frame = candles(data)
    frame.iloc[10, frame.columns.get_loc("high")] *= 1.01
    sb.CandleStore(data).merge("ETHUSDT", "4h", frame)
    out = invoke(folder, data)
    assert out.exit_code == 2, out.output
    assert "cannot re-run: candles changed: ETHUSDT 4h" in " ".join(out.stdout.split())
    assert json.loads(invoke(folder, data, "--json").stdout)["status"] == "cannot_rerun"


def test_another_engine_version_exits_2(stored):
    folder, data = stored
    edit_json(folder / "report.json", "engine_version", value="9")
    out = invoke(folder, data)
    assert out.exit_code == 2 and "other engine version" in out.stdout


def test_an_unknown_id_exits_2(tmp_path):
    out = CliRunner().invoke(app, ["verify", "feedbeef", "--evidence-dir", str(tmp_path)])
    assert out.exit_code == 2 and "no evidence for 'feedbeef'" in out.output
