"""Portfolio runs through the service: ``pairs`` start -> job -> report, and each refusal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import sparkbt as sb

from .conftest import Server, make_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

PAIRS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]

BAD_WEIGHTS = '''
import pandas as pd


def all_in_twice(panel):
    """Every symbol at full weight on every bar: a gross above 1."""
    return pd.DataFrame(1.0, index=panel.index, columns=panel.symbols)
'''


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("portfolio")
    strategies = root / "strategies"
    strategies.mkdir()
    (strategies / "all_in_twice.py").write_text(BAD_WEIGHTS)
    srv = make_server(root / "srv", workers=1)
    srv.env["SPARKBT_STRATEGIES_DIR"] = str(strategies)
    srv.start()
    yield srv
    srv.stop()


def test_pairs_start_runs_a_portfolio_and_reports_it(server: Server, tmp_path: Path) -> None:
    job_id = server.start_job(pairs=["btcusdt", "ETHUSDT", "SOLUSDT"], strategy="equal_weight")
    job = server.wait(job_id, timeout=90)
    assert job["status"] == "done", job["error"]
    assert job["pairs"] == PAIRS and "pair" not in job
    assert job["params"] == {"every": "1M"}
    report = server.get(f"/api/backtest/{job_id}/report").json()
    assert report["kind"] == "portfolio"
    assert report["metadata"]["symbols"] == PAIRS
    assert sorted(report["assets"]) == sorted(PAIRS)
    assert report["stats"]["turnover"] == job["stats"]["turnover"]
    folder = server.evidence / "backtest" / job["run_id"]
    assert {"weights.parquet", "assets.parquet", "positions.parquet"} <= {
        p.name for p in folder.iterdir()
    }
    # the same run as the library's: same id, same stats
    here = sb.backtest(sb.load_panel(PAIRS, timeframe="4h"), "equal_weight")
    assert here.run_id == job["run_id"]
    assert json.loads((folder / "report.json").read_text())["stats"] == report["stats"]
    # the audit log names the pairs
    audit = [json.loads(x) for x in (server.evidence / "audit.jsonl").read_text().splitlines()]
    start = next(e for e in audit if e["job_id"] == job_id and e["event"] == "start")
    assert start["pairs"] == PAIRS


@pytest.mark.parametrize(
    "lots",
    [{"BTCUSDT": 0.001, "ETHUSDT": 0.01, "SOLUSDT": 1.0}, "BTCUSDT=0.001,ETHUSDT=0.01,SOLUSDT=1"],
)
def test_a_start_gives_each_pair_its_own_lot(server: Server, lots: object) -> None:
    """Per-symbol rules as a JSON object or as the text items the form sends."""
    job = server.wait(
        server.start_job(pairs=PAIRS, strategy="equal_weight", options={"lot_size": lots}),
        timeout=90,
    )
    assert job["status"] == "done", job["error"]
    report = server.get(f"/api/backtest/{job['id']}/report").json()
    assert report["config"]["lot_size"] == {"BTCUSDT": 0.001, "ETHUSDT": 0.01, "SOLUSDT": 1.0}
    bad = server.post({"pairs": PAIRS, "options": {"lot_size": "BTCUSDT=0.001"}})
    assert bad.status_code == 422 and "not for ETHUSDT" in bad.json()["detail"]


def test_a_single_pair_start_is_unchanged(server: Server) -> None:
    job = server.wait(server.start_job(pair="ETHUSDT"), timeout=90)
    assert job["status"] == "done", job["error"]
    assert job["pair"] == "ETHUSDT" and "pairs" not in job
    assert "kind" not in server.get(f"/api/backtest/{job['id']}/report").json()


BAD_PORTFOLIOS = [
    ({"pair": "ETHUSDT", "pairs": PAIRS}, "pair, pairs: give one of them"),
    ({"pairs": ["BTCUSDT", "DOGEUSDT"]}, "unknown symbol DOGEUSDT"),
    ({"pairs": ["BTCUSDT", "ETHTRY"]}, "one quote currency, got USDT (BTCUSDT) and TRY"),
    ({"pairs": PAIRS, "timeframe": "1h"}, "BTCUSDT has no 1h candles (only 4h)"),
    ({"pairs": ["BTCUSDT", "btcusdt"]}, "pairs: symbol BTCUSDT given twice"),
    ({"pairs": PAIRS, "options": {"sl_stop": 0.05}}, "sl_stop: stops, loss_streak and cooldown"),
    ({"pairs": PAIRS, "options": {"gates": {"loss_streak": 3}}}, "loss_streak: stops"),
    ({"pairs": PAIRS, "options": {"gates": {"cooldown": 2}}}, "cooldown: stops"),
    ({"pairs": []}, "pairs: List should have at least 1 item"),
    ({"pairs": "BTCUSDT,ETHUSDT"}, "pairs: Input should be a valid list"),
    ({"pairs": ["A" * 40]}, "pairs.0: String should have at most 32 characters"),
    ({"pairs": PAIRS, "paramset": "core"}, "paramset: runs the approved version as it is"),
    ({"pairs": PAIRS, "strategy": "momentum_rotation", "params": {"lookback": 0}}, "lookback"),
]


@pytest.mark.parametrize(("body", "needle"), BAD_PORTFOLIOS)
def test_bad_portfolio_starts_are_422_and_queue_nothing(
    server: Server, body: dict, needle: str
) -> None:
    before = len(server.jobs(limit=1000))
    resp = server.post(body)
    assert resp.status_code == 422, resp.text
    detail = resp.json()["detail"]
    assert needle in detail, detail
    assert "\n" not in detail
    assert len(server.jobs(limit=1000)) == before


def test_bad_weights_fail_the_job_and_its_report_is_422(server: Server) -> None:
    job = server.wait(server.start_job(pairs=PAIRS, strategy="all_in_twice"), timeout=90)
    assert job["status"] == "failed"
    assert job["error"].startswith("WeightsError: all_in_twice: weights at ")
    assert "gross 3" in job["error"]
    resp = server.get(f"/api/backtest/{job['id']}/report")
    assert resp.status_code == 422
    assert resp.json() == {"detail": job["error"]}


def test_openapi_documents_pairs(server: Server) -> None:
    schema = server.get("/openapi.json").json()["components"]["schemas"]["StartRequest"]
    pairs = schema["properties"]["pairs"]
    array = next(s for s in pairs["anyOf"] if s.get("type") == "array")
    assert array["items"]["type"] == "string"
    assert "portfolio" in pairs["description"]
