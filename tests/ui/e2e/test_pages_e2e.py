"""The compare and sweep pages in Chromium: charts draw, a heatmap cell opens its backtest,
nothing reports an error; the error page and the runs list at phone width."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pandas as pd
import pytest

import sparkbt as sb
from tests.ui.e2e.conftest import JOB_WAIT_MS, UIServer, shot, signin, wait_charts_drawn


@pytest.fixture(scope="module")
def stored(server: UIServer) -> dict[str, Any]:
    """Two stored runs and a stored 3 x 3 sweep in the server's evidence folder."""
    candles = sb.sample_candles()
    a = sb.backtest(candles, "sma_cross", fast=10, slow=30)
    b = sb.backtest(candles, "sma_cross", fast=20, slow=50, sl_stop=0.05)
    for res in (a, b):
        res.save(server.evidence)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "sparkbt.adapters.cli.app",
            "sweep",
            "--strategy",
            "sma_cross",
            "--fast",
            "5,10,15",
            "--slow",
            "30,40,50",
            "--evidence-dir",
            str(server.evidence),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    sweep_id = next(p.name for p in (server.evidence / "sweep").iterdir())
    assert sweep_id in out.stdout
    return {"a": a, "b": b, "sweep": sweep_id}


def test_compare_draws_both_runs(page: Any, server: UIServer, stored: dict[str, Any]) -> None:
    a, b = stored["a"], stored["b"]
    page.goto(f"{server.url}/ui/runs")
    page.check(f'input.pick[value="{a.run_id}"]')
    page.check(f'input.pick[value="{b.run_id}"]')
    with page.expect_navigation():
        page.click("#compare-go")
    assert "/ui/compare?runs=" in page.url
    wait_charts_drawn(page, ["#compare-equity", "#compare-drawdown"])
    text = page.inner_text("#compare-stats")
    from sparkbt.engine.result import format_stat

    for res in (a, b):
        assert format_stat("total_return", res.stats["total_return"]) in text
    shot(page, "compare")


def test_sweep_heatmap_cell_opens_its_backtest(
    page: Any, server: UIServer, stored: dict[str, Any]
) -> None:
    sweep_id = stored["sweep"]
    signin(page, server, "proposer", "/ui/sweeps")
    shot(page, "sweeps")
    with page.expect_navigation():
        page.click(f'a[href="/ui/sweeps/{sweep_id}"]')
    assert page.locator("#heatmap td[data-value]").count() == 9
    shot(page, "sweep")
    results = pd.read_parquet(server.evidence / "sweep" / sweep_id / "results.parquet")
    row = results[(results["fast"] == 15) & (results["slow"] == 40)].iloc[0]
    cell = page.locator('#heatmap [aria-label^="fast=15, slow=40"]').first
    cell.focus()  # the keyboard way: focus the cell, press Enter
    with page.expect_navigation():
        page.keyboard.press("Enter")
    # the cell's backtest is a queued job: its page follows it, then links the report
    assert "/ui/jobs/" in page.url, page.inner_text("main")
    link = page.locator("#open-report")
    link.wait_for(timeout=JOB_WAIT_MS)
    with page.expect_navigation():
        link.click()
    assert "/ui/runs/" in page.url
    wait_charts_drawn(page, ["#equity-chart", "#drawdown-chart", "#price-chart"])
    from sparkbt.engine.result import format_stat

    shown = page.inner_text('#stats-table tr[data-key="sharpe"] td.num >> nth=0')
    assert shown == format_stat("sharpe", row["sharpe"])


def test_error_page_and_phone_runs_list(page: Any, server: UIServer, watch: Any) -> None:
    watch.allow("404")
    page.goto(f"{server.url}/ui/runs/ffffffffffff")
    assert page.inner_text("h1") == "404"
    assert "no stored run with id" in page.inner_text("p.error")
    shot(page, "error")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{server.url}/ui/runs")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, f"the runs list scrolls sideways at 390 px ({width} px wide)"
