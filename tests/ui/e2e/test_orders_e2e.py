"""An order run started from the web form, its report drawn in Chromium: orders, fills, levels."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from sparkbt.platform.users import ROLES, UserStore
from tests.adapters.http.conftest import make_server
from tests.adapters.order_strategy import write_bracket
from tests.ui.e2e.conftest import JOB_WAIT_MS, UIServer, shot, signin, wait_charts_drawn


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UIServer]:
    """A one-worker UI server whose strategies folder holds a strategy returning orders."""
    root: Path = tmp_path_factory.mktemp("orders-ui")
    base = make_server(root / "srv", impl="engine", workers=1)
    srv = UIServer(root=base.root, args=base.args, env=base.env)
    srv.env["SPARKBT_STRATEGIES_DIR"] = str(write_bracket(root / "strategies").parent)
    srv.db_file.parent.mkdir(parents=True, exist_ok=True)
    with UserStore(srv.db_file) as store:
        for role in ROLES:
            _user, key = store.add(f"e2e-{role}", role)
            srv.keys[role], srv.users[role] = key, f"e2e-{role}"
    srv.start(timeout=60)
    yield srv
    srv.stop()


def test_an_order_run_from_the_form_to_its_report(page: Any, server: UIServer) -> None:
    signin(page, server, "proposer", "/ui/runs/new")
    page.goto(f"{server.url}/ui/runs/new?strategy=bracket")
    for name in ("maker_fees", "tick_size", "lot_size", "min_notional", "exchange_rules"):
        assert page.locator(f'[name="opt.{name}"]').count() == 1, name
    page.fill('[name="param.every"]', "400")
    pair = page.input_value('[name="pair"]')
    page.fill('[name="opt.lot_size"]', f"{pair}=0.001")  # a lot given for the form's pair
    with page.expect_navigation():
        page.click("#start-form button[type=submit]")
    link = page.locator("#open-report")
    link.wait_for(timeout=JOB_WAIT_MS)
    run_id = link.get_attribute("href").rsplit("/", 1)[1]
    with page.expect_navigation():
        link.click()

    wait_charts_drawn(page, ["#equity-chart", "#drawdown-chart", "#price-chart"])
    report = json.loads((server.evidence / "backtest" / run_id / "report.json").read_text())
    assert report["config"]["lot_size"] == 0.001
    orders = pd.read_parquet(server.evidence / "backtest" / run_id / "orders.parquet")
    rows = page.locator("#order-table tbody tr")
    assert rows.count() == len(orders)
    for status in set(orders["status"]):
        badge = page.locator(f'#order-table tr[data-status="{status}"] .status').first
        assert badge.inner_text() == status
    cancelled = page.locator('#order-table tr[data-status="cancelled"] .status').first
    assert "skipped" in cancelled.get_attribute("class")
    fills = pd.read_parquet(server.evidence / "backtest" / run_id / "fills.parquet")
    assert page.locator("#fill-table tbody tr").count() == len(fills)
    kinds = set(page.locator("#fill-table tbody td:nth-child(7)").all_inner_texts())
    assert kinds == {"maker", "taker"}
    levels = page.evaluate("JSON.parse(document.getElementById('report-data').textContent).levels")
    assert levels and all(len(line["points"]) >= 2 for line in levels)
    assert page.locator("#level-legend").is_visible()
    shot(page, "orders-report")
    page.locator("#price-chart").screenshot(path=str(shot_path("orders-price")))
    # zoom the price chart onto its first orders to see each level's segment
    page.evaluate("window.sparkbtPrice.timeScale().setVisibleLogicalRange({from: 0, to: 160})")
    page.wait_for_timeout(300)
    page.locator("#price-chart").screenshot(path=str(shot_path("orders-price-zoom")))


def shot_path(name: str) -> Path:
    from tests.ui.e2e.conftest import ARTIFACTS

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / f"{name}.png"
