"""Paper-session pages in Chromium: the sessions list and a session beside its backtest."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pandas as pd
import pytest

from sparkbt.platform.users import ROLES, UserStore
from sparkbt.research.paper import start_session
from tests.adapters.http.conftest import make_server
from tests.adapters.http.paper_env import STORE_FEED, approve, store_candles
from tests.ui.e2e.conftest import UIServer, shot, signin, wait_charts_drawn

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def paper_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UIServer]:
    """A server on the store feed running session ``live-1``, a stopped ``old-1`` and
    ``cut-1``, interrupted by an error."""
    base = make_server(tmp_path_factory.mktemp("paper-ui"), impl="mock", workers=1)
    srv = UIServer(root=base.root, args=base.args, env=base.env | STORE_FEED)
    srv.db_file.parent.mkdir(parents=True, exist_ok=True)
    with UserStore(srv.db_file) as store:
        for role in ROLES:
            srv.keys[role] = store.add(f"e2e-{role}", role)[1]
            srv.users[role] = f"e2e-{role}"
    approve(srv.db_file, "btc-fast")
    now = store_candles(srv.root / "data")
    # a session whose process ended on an error, before this server started
    cut = start_session(
        "sma_cross",
        symbols="BTCTRY",
        timeframe="1m",
        params={"fast": 2, "slow": 5},
        start=now - pd.Timedelta(minutes=30),
        session_id="cut-1",
        data_dir=srv.root / "data",
        evidence_dir=srv.evidence,
    )
    cut.advance(int((now - pd.Timedelta(minutes=10)).value))
    cut.close("interrupted", {"why": "RuntimeError: the indicator service is down"})
    srv.start(timeout=60)
    auth = {"authorization": f"Bearer {srv.keys['approver']}"}
    for sid in ("old-1", "live-1"):
        resp = httpx.post(
            f"{srv.url}/api/paper/sessions", json={"paramset": "btc-fast", "id": sid}, headers=auth
        )
        assert resp.status_code == 201, resp.text
    deadline = time.monotonic() + 60
    while srv.get("/api/paper/sessions/live-1").json()["bars"] < 15:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    httpx.post(f"{srv.url}/api/paper/sessions/old-1/stop", headers=auth)
    yield srv
    srv.stop()


def test_sessions_list_and_session_page(page: Any, paper_server: UIServer) -> None:
    signin(page, paper_server, "approver", "/ui/paper")
    rows = page.locator("#paper-body tr")
    rows.first.wait_for()
    page.wait_for_function(
        "() => document.querySelector('#paper-body tr[data-state=stopped]') !== null"
    )
    live = page.locator("#paper-body tr[data-state=running]")
    assert "live-1" in live.inner_text() and "BTCTRY 1m" in live.inner_text()
    assert rows.count() == 3
    assert "cut-1" in page.inner_text("#paper-body tr[data-state=interrupted]")
    shot(page, "paper-sessions")

    page.click("text=live-1")
    page.wait_for_url("**/ui/paper/live-1")
    wait_charts_drawn(page, ["#paper-equity"])
    legend = page.inner_text("#paper-equity")
    assert "paper session" in legend and "backtest" in legend
    assert page.locator("#fills tbody tr").count() >= 2
    assert "BTCTRY" in page.inner_text("#positions")
    assert "Not run yet" in page.inner_text("#reconcile-result")
    page.click("#reconcile")
    page.wait_for_function(
        "() => document.querySelector('#reconcile-result').innerText.includes('identical')"
    )
    assert "equal the backtest" in page.inner_text("#reconcile-result")
    wait_charts_drawn(page, ["#paper-equity"])
    shot(page, "paper-session")


def test_a_proposer_sees_no_reconcile_button(page: Any, paper_server: UIServer) -> None:
    signin(page, paper_server, "proposer", "/ui/paper/old-1")
    assert page.locator("#reconcile").count() == 0
    assert "stopped" in page.inner_text("#paper-live .card")


def test_an_interrupted_session_says_why_it_ended(page: Any, paper_server: UIServer) -> None:
    signin(page, paper_server, "approver", "/ui/paper/cut-1")
    card = page.inner_text("#paper-live .card")
    assert "interrupted" in card
    assert "the indicator service is down" in page.inner_text("#paper-ended")
    wait_charts_drawn(page, ["#paper-equity"])
    shot(page, "paper-session-ended")
