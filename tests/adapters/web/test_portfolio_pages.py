"""The report page of a portfolio run, the runs list and compare, in process."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import sparkbt as sb
from sparkbt.adapters.http.app import create_app
from sparkbt.adapters.web.forms import with_pairs
from sparkbt.adapters.web.portfoliodata import portfolio_payload
from sparkbt.adapters.web.reportdata import CandleSource
from sparkbt.evidence import read_evidence
from sparkbt.platform.settings import Settings

PAIRS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("portfolio-ui")
    folio = sb.backtest(sb.load_panel(PAIRS), "equal_weight", every="1W", fees=0.001)
    folio.save(root / "evidence")
    single = sb.backtest(sb.sample_candles(), "sma_cross")
    single.save(root / "evidence")
    settings = Settings(admin_token="t" * 30, evidence_dir=root / "evidence", workers=1)
    with TestClient(create_app(settings)) as client:
        yield {"client": client, "folio": folio, "single": single, "root": root}


def _data(page: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page)
    assert found
    return dict(json.loads(html.unescape(found.group(1))))


def test_the_portfolio_report_shows_its_figures_weights_symbols_and_prices(env: dict) -> None:
    folio = env["folio"]
    r = env["client"].get(f"/ui/runs/{folio.run_id}")
    assert r.status_code == 200
    page = r.text
    assert 'id="weights-chart"' in page and 'id="assets-table"' in page
    assert "BTCUSDT, ETHUSDT, SOLUSDT" in page
    data = _data(page)
    assert data["kind"] == "portfolio" and data["symbols"] == PAIRS
    stats = {s["key"]: s["value"] for s in data["stats"]}
    assert stats["turnover"] == pytest.approx(folio.stats["turnover"])
    assert stats["total_return"] == pytest.approx(folio.stats["total_return"])
    # every asset row, as the run's assets
    for row in data["assets"]:
        assert row["pnl"] == pytest.approx(folio.assets.loc[row["symbol"], "pnl"])
        assert f'data-symbol="{row["symbol"]}"' in page
    # the weights: one series per symbol, equal to the realised weights at the drawn bars
    w = data["weights"]
    assert w["symbols"] == PAIRS and w["bars"] == len(folio.weights) and not w["short"]
    t = folio.weights.index.asi8 // 10**9
    at = {int(x): i for i, x in enumerate(t)}
    for j, sym in enumerate(PAIRS):
        for k in (0, len(w["t"]) // 2, -1):
            want = folio.weights[sym].iloc[at[w["t"][k]]]
            assert w["values"][j][k] == pytest.approx(want, rel=1e-5, abs=1e-9)
    # each symbol's close from the samples, with one marker per side and bucket of its fills
    for price in data["prices"]:
        assert price["note"] == "" and price["t"]
        fills = folio.fills[folio.fills["symbol"] == price["symbol"]]
        assert price["fills"] == len(fills) > 0
        marked = sum(int(m["text"] or 1) for m in price["markers"])
        assert marked == len(fills)
    # the trade table names each trade's symbol
    assert data["trade_columns"][0] == "symbol"
    assert {row[0] for row in data["trades"]} == set(PAIRS)


def test_a_symbol_without_candles_shows_its_fills_alone(env: dict) -> None:
    run = read_evidence(env["folio"].run_id, env["root"] / "evidence")
    payload = portfolio_payload(run, {"BTCUSDT": CandleSource(sb.sample_candles("ETHUSDT"))})
    by = {p["symbol"]: p for p in payload["prices"]}
    assert "differ" in by["BTCUSDT"]["note"] and "t" not in by["BTCUSDT"]
    assert by["SOLUSDT"]["note"] and "t" not in by["SOLUSDT"]
    sol = run.fills[run.fills["symbol"] == "SOLUSDT"]
    assert [p["price"] for p in by["SOLUSDT"]["fill_points"]] == pytest.approx(sol["price"])


def test_runs_list_and_compare_take_portfolios(env: dict) -> None:
    client, folio, single = env["client"], env["folio"], env["single"]
    runs = client.get("/ui/runs").text
    assert "BTCUSDT, ETHUSDT, SOLUSDT" in runs
    filtered = client.get("/ui/runs?symbol=solusdt").text
    assert folio.run_id[:12] in filtered and single.run_id[:12] not in filtered
    r = client.get(f"/ui/compare?runs={folio.run_id},{single.run_id}")
    assert r.status_code == 200
    assert "data.symbols" in r.text and "turnover" in r.text
    assert client.get(f"/ui/compare?runs={single.run_id},{folio.run_id}").status_code == 200


def test_the_single_run_page_is_not_a_portfolio_page(env: dict) -> None:
    page = env["client"].get(f"/ui/runs/{env['single'].run_id}").text
    assert 'id="price-chart"' in page and 'id="weights-chart"' not in page
    assert "kind" not in _data(page)


def test_the_start_form_reads_comma_separated_pairs() -> None:
    assert with_pairs({"pair": "ETHUSDT", "timeframe": "4h"}) == {
        "pair": "ETHUSDT",
        "timeframe": "4h",
    }
    assert with_pairs({"pair": "btcusdt, ETHUSDT,", "timeframe": "4h"}) == {
        "timeframe": "4h",
        "pairs": ["btcusdt", "ETHUSDT"],
    }


def test_paths_are_not_in_the_page(env: dict, tmp_path: Path) -> None:
    page = env["client"].get(f"/ui/runs/{env['folio'].run_id}").text
    assert str(env["root"]) not in page
