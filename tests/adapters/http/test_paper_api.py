"""Paper sessions through the API, in process: roles, refusals, status, journal, stop,
reconcile, audit lines and the paper_* metrics (the store feed)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from sparkbt.adapters.http.app import create_app
from sparkbt.platform.settings import Settings
from sparkbt.platform.users import UserStore
from tests.adapters.http.conftest import TOKEN
from tests.adapters.http.paper_env import approve, propose_only, store_candles
from tests.data.feeds.fake_btcturk import FakeBtcturk, Tape

pytestmark = pytest.mark.timeout(120)


class Env:
    def __init__(self, client: TestClient, keys: dict[str, str], root: Path) -> None:
        self.client, self.keys, self.root = client, keys, root

    def as_(self, role: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.keys[role]}"}

    def start(self, role: str = "approver", **body: Any) -> Any:
        return self.client.post("/api/paper/sessions", json=body, headers=self.as_(role))

    def wait_bars(self, sid: str, n: int, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status = self.client.get(f"/api/paper/sessions/{sid}").json()
            if status["bars"] >= n:
                return dict(status)
            assert time.monotonic() < deadline, status
            time.sleep(0.1)

    def audit(self) -> list[dict[str, Any]]:
        path = self.root / "audit.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()]


def make_env(root: Path, **settings: Any) -> Iterator[Env]:
    settings = {"paper_feed": "store", "paper_settle": -1e6} | settings
    s = Settings(
        admin_token=TOKEN,
        workers=1,
        evidence_dir=root,
        data_dir=root / "data",
        impl="mock",
        **settings,
    )
    keys = {}
    with UserStore(s.db_file) as users:
        for role in ("proposer", "approver", "admin"):
            keys[role] = users.add(f"u-{role}", role)[1]
    with TestClient(create_app(s), raise_server_exceptions=False) as client:
        yield Env(client, keys, root)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    store_candles(tmp_path / "data", ("BTCTRY",))
    approve(tmp_path / "service" / "jobs.sqlite", "btc-fast")
    yield from make_env(tmp_path)


def one_line(resp: Any, status: int) -> str:
    assert resp.status_code == status, resp.text
    detail = resp.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail
    return detail


def test_start_status_journal_stop_reconcile_and_metrics(env: Env) -> None:
    resp = env.start(paramset="btc-fast", id="s1")
    assert resp.status_code == 201, resp.text
    assert resp.json()["id"] == "s1" and resp.json()["symbols"] == ["BTCTRY"]
    status = env.wait_bars("s1", 15)
    assert status["state"] == "running" and status["paramset"]["name"] == "btc-fast"
    assert status["service"] is True and status["bars_behind"] == 0
    assert "folder" not in status
    rows = env.client.get("/api/paper/sessions/s1/journal", params={"limit": 5}).json()
    assert rows["count"] == 5 and rows["bars"][0]["time"] == status["start_bar"]
    listed = env.client.get("/api/paper/sessions").json()
    assert [s["id"] for s in listed["sessions"]] == ["s1"]

    text = env.client.get("/metrics").text
    samples = {
        (s.name, s.labels.get("session")): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }
    assert samples[("paper_equity_quote", "s1")] > 0
    assert samples[("paper_fills_total", "s1")] >= 2
    assert samples[("paper_behind_bars", "s1")] == 0
    assert samples[("paper_reconciliation_status", "s1")] == -1
    assert ("paper_drift_warnings_total", "s1") in samples

    found = env.client.post("/api/paper/sessions/s1/reconcile", headers=env.as_("approver"))
    assert found.status_code == 200 and found.json()["identical"] is True
    assert env.client.get("/api/paper/sessions/s1").json()["reconcile"]["state"] == "identical"
    text = env.client.get("/metrics").text
    assert 'paper_reconciliation_status{session="s1"} 1.0' in text

    stopped = env.client.post("/api/paper/sessions/s1/stop", headers=env.as_("admin"))
    assert stopped.status_code == 200
    deadline = time.monotonic() + 20
    while env.client.get("/api/paper/sessions/s1").json()["state"] != "stopped":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    events = [(a["event"], a.get("session_id"), a["user"]) for a in env.audit()]
    assert ("paper_started", "s1", "u-approver") in events
    assert ("paper_reconciled", "s1", "u-approver") in events
    assert ("paper_stopped", "s1", "u-admin") in events


def test_refusals_are_one_line(env: Env, tmp_path: Path) -> None:
    db = tmp_path / "service" / "jobs.sqlite"
    propose_only(db, "waiting")
    approve(db, "eth", pair="ETHTRY")
    detail = one_line(env.start("proposer", paramset="btc-fast"), 403)
    assert detail == "role proposer may not start a paper session"
    assert "nope" in one_line(env.start(paramset="nope"), 404)
    assert "no version is approved" in one_line(env.start(paramset="waiting"), 404)
    assert "ETHTRY" in one_line(env.start(paramset="eth"), 422)
    one_line(env.start(paramset="btc-fast", id="../x"), 422)
    one_line(env.start(paramset="btc-fast", colour="red"), 422)
    assert env.start(paramset="btc-fast", id="dup").status_code == 201
    assert "exists already" in one_line(env.start(paramset="btc-fast", id="dup"), 409)
    one_line(env.client.post("/api/paper/sessions/dup/stop", headers=env.as_("proposer")), 403)
    one_line(env.client.post("/api/paper/sessions/none/stop", headers=env.as_("admin")), 404)
    one_line(env.client.get("/api/paper/sessions/none"), 404)
    one_line(env.client.post("/api/paper/sessions/dup/reconcile"), 401)


def test_a_pair_the_exchange_does_not_list_is_422(tmp_path: Path, monkeypatch) -> None:
    approve(tmp_path / "service" / "jobs.sqlite", "xyz", pair="XYZTRY")
    with FakeBtcturk(Tape(), ["BTCTRY"]) as fake:
        monkeypatch.setenv("SPARKBT_BTCTURK_REST_URL", fake.url)
        monkeypatch.setenv("SPARKBT_BTCTURK_GRAPH_URL", fake.url)
        for env in make_env(tmp_path, paper_feed="live"):
            detail = one_line(env.start(paramset="xyz", id="x1"), 422)
            assert "lists no pair 'XYZTRY'" in detail
            assert env.client.get("/api/paper/sessions").json()["count"] == 0


def test_a_portfolio_param_set_runs_every_symbol(tmp_path: Path) -> None:
    store_candles(tmp_path / "data", ("BTCTRY", "ETHTRY"))
    approve(
        tmp_path / "service" / "jobs.sqlite",
        "basket",
        pair=["BTCTRY", "ETHTRY"],
        strategy="equal_weight",
        params={"every": "1D"},
    )
    for env in make_env(tmp_path):
        assert env.start(paramset="basket", id="p1").status_code == 201
        status = env.wait_bars("p1", 15)
        assert status["symbols"] == ["BTCTRY", "ETHTRY"]
        assert set(status["positions"]) == {"BTCTRY", "ETHTRY"}
        found = env.client.post("/api/paper/sessions/p1/reconcile", headers=env.as_("admin"))
        assert found.json()["identical"] is True
        assert pd.Timestamp(status["start_bar"]) <= pd.Timestamp.now(tz="UTC")
