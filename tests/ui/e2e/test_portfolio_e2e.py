"""A portfolio started from the web UI, its report drawn in Chromium, and the compare page."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from tests.ui.e2e.conftest import JOB_WAIT_MS, UIServer, shot, signin, wait_charts_drawn

PAIRS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
CHARTS = ["#equity-chart", "#drawdown-chart", "#weights-chart", "#price-0", "#price-1", "#price-2"]


def test_portfolio_from_the_form_to_its_report_and_compare(page: Any, server: UIServer) -> None:
    signin(page, server, "proposer", "/ui/runs/new")
    page.goto(f"{server.url}/ui/runs/new?strategy=momentum_rotation")
    page.fill("#pair", ", ".join(PAIRS))
    page.fill('[name="param.every"]', "1M")
    with page.expect_navigation():
        page.click("#start-form button[type=submit]")
    assert "/ui/jobs/" in page.url, page.inner_text("main")
    link = page.locator("#open-report")
    link.wait_for(timeout=JOB_WAIT_MS)
    run_id = link.get_attribute("href").rsplit("/", 1)[1]
    with page.expect_navigation():
        link.click()

    # the report: every chart drawn, the symbols named, the weights legend per symbol
    wait_charts_drawn(page, CHARTS)
    assert page.inner_text("#portfolio-symbols") == ", ".join(PAIRS)
    report = json.loads((server.evidence / "backtest" / run_id / "report.json").read_text())
    assets = page.locator("#assets-table tbody tr")
    assert assets.count() == 3
    for row, sym in zip(assets.all(), PAIRS, strict=True):
        assert row.get_attribute("data-symbol") == sym
        trades = row.locator("td").nth(3).inner_text()
        assert int(trades) == report["assets"][sym]["trades"]
    legend = page.inner_text("#weights-chart .u-legend")
    assert all(sym in legend for sym in PAIRS)
    assert page.locator(".symbol-chart .notice").count() == 0  # the samples give every close
    trades = pd.read_parquet(server.evidence / "backtest" / run_id / "trades.parquet")
    page.wait_for_function(
        "(n) => document.querySelectorAll('#trade-table tbody tr').length === n", arg=len(trades)
    )
    first = page.locator("#trade-table tbody tr").first.locator("td").first.inner_text()
    assert first == trades["symbol"].iloc[0]
    shot(page, "portfolio-report")

    # the runs list names the symbols; the compare page puts a single run beside it
    single = server.start_job(pair="ETHUSDT")
    single_run = server.wait(single, timeout=JOB_WAIT_MS / 1000)["run_id"]
    page.goto(f"{server.url}/ui/runs")
    row = page.locator("#runs-body tr", has=page.locator(f'a[href="/ui/runs/{run_id}"]'))
    assert ", ".join(PAIRS) in row.inner_text()
    page.goto(f"{server.url}/ui/compare?runs={run_id},{single_run}")
    wait_charts_drawn(page, ["#compare-equity", "#compare-drawdown"])
    main = page.inner_text("main")
    assert run_id[:8] in main and single_run[:8] in main
    assert ", ".join(PAIRS) in main
    turnover = page.locator("#compare-stats tr", has_text="turnover").inner_text().split("\t")
    assert turnover[1] == f"{report['stats']['turnover']:.3f}" and turnover[2] == "—"
    shot(page, "portfolio-compare")
