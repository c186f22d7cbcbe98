"""``sparkbt report --html``: the file opens from disk with no network and draws everything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import sparkbt as sb
from tests.ui.e2e.conftest import DESKTOP, WAIT_MS, PageWatch, shot, wait_charts_drawn
from tests.ui.e2e.reportcheck import check_csv, check_rows, read_trades, table_rows, wait_rows

CHARTS = ["#equity-chart", "#drawdown-chart", "#price-chart"]
LOCAL = ("file:", "data:", "blob:")


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A stored run and its self-contained report: (evidence root, html file, run id)."""
    root = tmp_path_factory.mktemp("offline")
    evidence = root / "evidence"
    run = sb.backtest(sb.sample_candles(), "sma_cross", fast=10, slow=30, sl_stop=0.05)
    run_id = run.save(evidence).name
    html = root / "report.html"
    cmd = ["report", run_id, "--html", str(html), "--evidence-dir", str(evidence)]
    done = subprocess.run(
        [sys.executable, "-m", "sparkbt.adapters.cli.app", *cmd],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return evidence, html, run_id


def test_report_file_draws_offline(browser: Any, report_file: tuple[Path, Path, str]) -> None:
    evidence, html, run_id = report_file
    network: list[str] = []

    def local_only(route: Any) -> None:
        url = route.request.url
        if url.startswith(LOCAL):
            route.continue_()
        else:
            network.append(url)
            route.abort()

    context = browser.new_context(
        viewport=DESKTOP, offline=True, accept_downloads=True, locale="en-US", timezone_id="UTC"
    )
    context.set_default_timeout(WAIT_MS)
    context.route("**/*", local_only)
    context.on("request", lambda r: None if r.url.startswith(LOCAL) else network.append(r.url))
    watch = PageWatch()
    try:
        page = context.new_page()
        watch.attach(page)
        page.goto(html.as_uri())
        assert page.inner_text("#run-id") == run_id
        wait_charts_drawn(page, CHARTS)
        trades = read_trades(evidence, run_id)
        wait_rows(page, len(trades))
        headers, rows = table_rows(page)
        check_rows(rows, headers, trades)
        # the CSV button of the file hands out the same trades as the served page
        with page.expect_download() as info:
            page.click("#csv-download")
        assert info.value.suggested_filename == f"trades-{run_id}.csv"
        check_csv(Path(info.value.path()), trades)
        shot(page, "report-offline")
    finally:
        context.close()
    assert not network, f"the report file asked the network for {network}"
    assert not watch.unexpected(), "\n".join(watch.unexpected())
