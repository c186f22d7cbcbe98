"""Exchange rules in every run: resolved from the store's snapshot, named in the report."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import sparkbt as sb
from sparkbt.adapters.cli.app import app
from sparkbt.data.exchange_info import write_exchange_info
from sparkbt.data.store import CandleStore
from sparkbt.engine.statspec import STAT_KEYS
from sparkbt.research.sweep import sweep
from sparkbt.research.walkforward import walk_forward

DATE = "2024-03-01T00:00:00Z"


def _info(lot_scale: int, minimum: str = "100") -> dict[str, object]:
    return {
        "numeratorScale": lot_scale,
        "denominatorScale": 2,
        "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.5", "minExchangeValue": minimum}],
    }


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with 1,500 4h candles of BTCTRY, ETHTRY and XRPTRY and their snapshots."""
    root = tmp_path_factory.mktemp("store")
    base = sb.sample_candles().iloc[:1500]
    store = CandleStore(root)
    for sym, scale in (("BTCTRY", 2), ("ETHTRY", 2), ("XRPTRY", 0)):
        store.merge(sym, "4h", base)
        write_exchange_info(sym, "btcturk", _info(scale), DATE, root)
    return root


def _candles(store: Path, symbol: str = "BTCTRY") -> pd.DataFrame:
    return CandleStore(store).read(symbol, "4h")


def test_a_target_run_takes_the_snapshot_and_names_it(store: Path) -> None:
    res = sb.backtest(_candles(store), "sma_cross", exchange_rules="btcturk", data_dir=store)
    assert (res.config["tick_size"], res.config["lot_size"], res.config["min_notional"]) == (
        0.5,
        0.01,
        100.0,
    )
    info = res.report["metadata"]["exchange_rules"]
    assert info["date"] == DATE and info["exchange"] == "btcturk" and info["lot_size"] == 0.01
    assert info["source"].endswith("BTCTRY.exchange.json")
    assert res.report["engine_version"] == "3"
    assert list(res.stats) == [*STAT_KEYS, "rejected_orders"]
    assert res.stats["rejected_orders"] == 0
    # every fill is a whole number of lots
    units = res.fills["units"].to_numpy()
    assert ((units * 100).round(6) % 1 == 0).all()
    explicit = sb.backtest(
        _candles(store), "sma_cross", tick_size=0.5, lot_size=0.01, min_notional=100.0
    )
    assert explicit.stats["total_return"] == res.stats["total_return"]
    assert explicit.engine_version == "3" and "exchange_rules" not in explicit.metadata
    plain = sb.backtest(_candles(store), "sma_cross")
    assert plain.report["engine_version"] == "2" and list(plain.stats) == list(STAT_KEYS)


def test_fills_under_the_minimum_are_counted_as_rejected(store: Path) -> None:
    res = sb.backtest(
        _candles(store), "sma_cross", exchange_rules="btcturk", min_notional=1e9, data_dir=store
    )
    assert res.stats["total_trades"] == 0 and res.stats["rejected_orders"] > 0


def test_an_order_run_takes_the_snapshot(store: Path) -> None:
    res = sb.backtest(_candles(store), "breakout_stop", exchange_rules="btcturk", data_dir=store)
    assert res.config["lot_size"] == 0.01
    assert res.report["metadata"]["exchange_rules"]["date"] == DATE
    filled = res.orders["filled"].to_numpy()
    assert filled.any() and ((filled * 100).round(6) % 1 == 0).all()


def test_a_portfolio_takes_each_symbols_rules(store: Path) -> None:
    both = {s: _candles(store, s) for s in ("BTCTRY", "ETHTRY")}
    res = sb.backtest(both, "sma_cross", exchange_rules="btcturk", data_dir=store)
    info = res.report["metadata"]["exchange_rules"]
    assert res.config["lot_size"] == 0.01 and info["date"] == DATE
    assert set(info["snapshots"]) == {"BTCTRY", "ETHTRY"}
    mixed = {s: _candles(store, s) for s in ("BTCTRY", "XRPTRY")}
    res = sb.backtest(mixed, "sma_cross", exchange_rules="btcturk", data_dir=store)
    assert res.config["lot_size"] == {"BTCTRY": 0.01, "XRPTRY": 1.0}
    assert res.config["tick_size"] == 0.5 and res.config["min_notional"] == 100.0
    snapshots = res.report["metadata"]["exchange_rules"]["snapshots"]
    assert snapshots["XRPTRY"]["lot_size"] == 1.0 and snapshots["BTCTRY"]["lot_size"] == 0.01
    fills = res.fills
    xrp = fills.loc[fills["symbol"] == "XRPTRY", "units"].to_numpy()
    assert len(xrp) and (xrp == xrp.round()).all()


def test_a_sweep_resolves_once_and_its_rows_equal_the_runs(store: Path) -> None:
    frame = _candles(store)
    rows = sweep(
        frame, "sma_cross", fast=[5, 10], slow=30, exchange_rules="btcturk", data_dir=store
    )
    ident = rows.attrs["sweep"]
    assert ident["engine_version"] == "3" and ident["config"]["lot_size"] == 0.01
    one = sb.backtest(
        frame, "sma_cross", fast=10, slow=30, exchange_rules="btcturk", data_dir=store
    )
    assert rows.iloc[1]["total_return"] == one.stats["total_return"]
    wf = walk_forward(
        frame,
        "sma_cross",
        fast=[5, 10],
        slow=30,
        train=600,
        test=300,
        exchange_rules="btcturk",
        data_dir=store,
    )
    assert len(wf.folds) >= 2


def test_cli_run_and_sweep_use_the_store(store: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    common = ["--symbol", "BTCTRY", "--timeframe", "4h", "--data-dir", str(store)]
    out = runner.invoke(
        app, ["run", *common, "--exchange-rules", "btcturk", "--evidence-dir", str(tmp_path)]
    )
    assert out.exit_code == 0, out.output
    assert f"exchange rules: btcturk snapshot of {DATE}" in out.output
    js = runner.invoke(app, ["run", *common, "--exchange-rules", "btcturk", "--json", "--no-save"])
    report = json.loads(js.stdout)
    assert report["config"]["lot_size"] == 0.01 and report["engine_version"] == "3"
    args = ["sweep", *common, "--fast", "5,10", "--exchange-rules", "btcturk"]
    sw = runner.invoke(app, [*args, "--evidence-dir", str(tmp_path)])
    assert sw.exit_code == 0, sw.output
    meta = json.loads(next((tmp_path / "sweep").glob("*/sweep.json")).read_text())
    assert meta["identity"]["config"]["lot_size"] == 0.01
    assert meta["identity"]["engine_version"] == "3"


def test_service_start_uses_its_store(store: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from sparkbt.adapters.http.app import create_app
    from sparkbt.platform.settings import Settings
    from sparkbt.platform.users import UserStore

    settings = Settings(
        admin_token="exchange-test-token-0123456789",
        evidence_dir=tmp_path / "evidence",
        data_dir=store,
        workers=1,
    )
    users = UserStore(settings.db_file)
    key = users.add("proposer-1", "proposer")[1]
    users.close()
    headers = {"authorization": f"Bearer {key}"}
    body = {
        "pair": "BTCTRY",
        "timeframe": "4h",
        "strategy": "sma_cross",
        "options": {"exchange_rules": "btcturk"},
    }
    with TestClient(create_app(settings)) as c:
        r = c.post("/api/backtest/start", json=body, headers=headers)
        assert r.status_code in (200, 201, 202), r.text
        job_id = r.json()["id"]
        job = r.json()
        deadline = time.monotonic() + 60
        while job["status"] not in ("done", "failed") and time.monotonic() < deadline:
            time.sleep(0.2)
            job = c.get(f"/api/backtest/{job_id}", headers=headers).json()
        assert job["status"] == "done", job
        page = c.get(f"/ui/runs/{job['run_id']}", headers=headers)
        assert page.status_code == 200
        assert "btcturk snapshot of 2024-03-01 00:00" in page.text
    report = json.loads(
        next((tmp_path / "evidence" / "backtest").glob("*/report.json")).read_text()
    )
    assert report["config"]["lot_size"] == 0.01
    assert report["metadata"]["exchange_rules"]["date"] == DATE


def test_the_orders_table_keeps_oco_text_and_says_when_each_order_ended() -> None:
    frame = sb.sample_candles().iloc[:50]
    t = frame.index
    price = float(frame["close"].iloc[0])
    rows = pd.DataFrame(
        {
            "timestamp": [t[0], t[1], t[1], t[2]],
            "side": ["buy", "sell", "sell", "buy"],
            "qty": [1.0, 1.0, 1.0, 1e9],
            "type": ["market", "limit", "stop", "market"],
            "price": [None, price * 10, None, None],
            "stop": [None, None, price / 10, None],
            "oco": [None, 40, 40, None],  # pandas makes this float: 40.0
        }
    )
    res = sb.backtest(frame, lambda candles: rows, cash=1e6)
    orders = res.orders
    assert list(orders.columns)[-1] == "end_time"
    assert list(orders["oco"].iloc[1:3]) == ["40", "40"] and orders["oco"].iloc[[0, 3]].isna().all()
    assert list(orders["status"]) == ["filled", "open", "open", "partial"]
    assert orders["end_time"].iloc[0] == t[0] and orders["end_time"].iloc[3] == t[2]
    assert orders["end_time"].iloc[1:3].isna().all()  # still resting
