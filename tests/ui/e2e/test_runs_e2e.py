"""A backtest started from the web UI, followed to its report, checked against its evidence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tests.ui.e2e.conftest import JOB_WAIT_MS, UIServer, shot, signin, wait_charts_drawn
from tests.ui.e2e.reportcheck import (
    check_csv,
    check_rows,
    expect_ids,
    read_trades,
    table_rows,
    wait_rows,
)

CHARTS = ["#equity-chart", "#drawdown-chart", "#price-chart"]


def check_sorting(page: Any, headers: list[str], trades: pd.DataFrame) -> None:
    """Clicking a header sorts by it (ascending, then descending; ties keep id order)."""
    pnl = np.round(trades["pnl"].to_numpy(float), 12)
    button = page.locator(f'#trade-table th button[data-col="{headers.index("pnl")}"]')
    button.click()
    want = trades.assign(k=pnl).sort_values("k", kind="stable")["id"].tolist()
    expect_ids(page, want)
    assert page.get_attribute("#trade-table th:has(button:text-is('pnl'))", "aria-sort") == (
        "ascending"
    )
    button.click()
    want = trades.assign(k=-pnl).sort_values("k", kind="stable")["id"].tolist()
    expect_ids(page, want)
    page.locator('#trade-table th button[data-col="0"]').click()  # back to id order
    expect_ids(page, trades["id"].tolist())


def check_filters(page: Any, trades: pd.DataFrame) -> None:
    """The text filter and the exit-reason select keep only the matching trades."""
    total = len(trades)
    stops = trades.loc[trades["exit_reason"] == "stop_loss", "id"].tolist()
    assert 0 < len(stops) < total, "the run should have stop-loss exits and others"
    page.fill("#trade-filter", "stop_loss")
    expect_ids(page, stops)
    assert page.inner_text("#trade-count") == f"{len(stops)} of {total} trades"
    page.fill("#trade-filter", "")
    expect_ids(page, trades["id"].tolist())
    page.select_option("#trade-reason", "signal")
    signals = trades.loc[trades["exit_reason"] == "signal", "id"].tolist()
    expect_ids(page, signals)
    page.select_option("#trade-reason", "")
    expect_ids(page, trades["id"].tolist())


def test_backtest_from_the_form_to_the_report(page: Any, server: UIServer) -> None:
    page.goto(f"{server.url}/ui/signin")
    shot(page, "signin")
    signin(page, server, "proposer")

    # the start form
    page.goto(f"{server.url}/ui/runs/new?strategy=sma_cross")
    assert page.input_value("#strategy") == "sma_cross"
    page.fill('[name="param.fast"]', "10")
    page.fill('[name="param.slow"]', "30")
    page.fill('[name="opt.sl_stop"]', "0.05")
    shot(page, "new-backtest")
    with page.expect_navigation():
        page.click("#start-form button[type=submit]")
    assert "/ui/jobs/" in page.url, page.inner_text("main")
    job_id = page.url.rsplit("/", 1)[1]

    # the job page follows the job until it is done
    link = page.locator("#open-report")
    link.wait_for(timeout=JOB_WAIT_MS)
    assert page.get_attribute("#job-status .status", "data-status") == "done"
    shot(page, "job")
    run_id = link.get_attribute("href").rsplit("/", 1)[1]
    job = server.get(f"/api/backtest/{job_id}").json()
    assert job["status"] == "done" and job["run_id"] == run_id

    # the report: charts drawn, table and CSV equal to the evidence
    with page.expect_navigation():
        link.click()
    assert page.url.endswith(f"/ui/runs/{run_id}")
    assert page.inner_text("#run-id") == run_id
    wait_charts_drawn(page, CHARTS)
    trades = read_trades(server.evidence, run_id)
    wait_rows(page, len(trades))
    headers, rows = table_rows(page)
    check_rows(rows, headers, trades)
    shot(page, "report")

    with page.expect_download() as info:
        page.click("#csv-download")
    download = info.value
    assert download.suggested_filename == f"trades-{run_id}.csv"
    check_csv(Path(download.path()), trades)

    check_sorting(page, headers, trades)
    check_filters(page, trades)

    # the runs list shows the finished job
    page.goto(f"{server.url}/ui/runs")
    row = page.locator("#runs-body tr", has=page.locator(f'a[href="/ui/runs/{run_id}"]'))
    assert row.count() == 1
    assert row.get_attribute("data-status") == "done"
    assert row.locator(".status").inner_text() == "done"
    shot(page, "runs-list")
