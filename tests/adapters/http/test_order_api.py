"""Order runs through the service: start -> job -> report, and the order options in the API."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from tests.adapters.order_strategy import write_bracket

from .conftest import Server, make_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("orders")
    srv = make_server(root / "srv", workers=1)
    srv.env["SPARKBT_STRATEGIES_DIR"] = str(write_bracket(root / "strategies").parent)
    srv.start()
    yield srv
    srv.stop()


def test_an_orders_strategy_runs_and_its_report_is_served(server: Server) -> None:
    options = {"fees": 0.001, "maker_fees": 0.0002, "lot_size": 0.5}
    job_id = server.start_job(pair="ETHUSDT", strategy="bracket", options=options)
    job = server.wait(job_id, timeout=150)
    assert job["status"] == "done", job["error"]
    report = server.get(f"/api/backtest/{job_id}/report").json()
    assert report["kind"] == "orders" and report["engine_version"] == "3"
    assert report["config"]["maker_fees"] == 0.0002 and report["config"]["lot_size"] == 0.5
    run_dir = server.evidence / "backtest" / job["run_id"]
    orders = pd.read_parquet(run_dir / "orders.parquet")
    assert report["stats"]["orders_filled"] == orders["status"].isin(["filled", "partial"]).sum()
    fills = orders[orders["fee_kind"] == "maker"]
    assert len(fills) and (fills["fee"] == fills["fill_price"] * fills["filled"] * 0.0002).all()


def test_a_bad_order_option_is_refused_with_its_reason(server: Server) -> None:
    resp = server.post({"pair": "ETHUSDT", "strategy": "bracket", "options": {"min_notional": -1}})
    assert resp.status_code == 422, resp.text
    assert "min_notional: must be > 0" in resp.text


def test_the_order_options_are_in_the_api_schema(server: Server) -> None:
    schema = server.get("/openapi.json").json()["components"]["schemas"]["EngineOptions"]
    props = schema["properties"]
    for name in ("maker_fees", "tick_size", "lot_size", "min_notional", "exchange_rules"):
        assert props[name]["description"], name
    assert props["exchange_rules"]["enum"] == ["btcturk"]
