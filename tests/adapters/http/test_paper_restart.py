"""A real ``sparkbt serve``: its paper sessions survive a stop and a start of the service."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from sparkbt.platform.users import UserStore
from sparkbt.research.paper import reconcile, session_status
from tests.adapters.http.conftest import Server, make_server
from tests.adapters.http.paper_env import STORE_FEED, approve, more_candles, store_candles

pytestmark = pytest.mark.timeout(180)


def wait_for(srv: Server, sid: str, test: Any, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = srv.get(f"/api/paper/sessions/{sid}").json()
        if test(status):
            return dict(status)
        assert time.monotonic() < deadline, status
        time.sleep(0.1)


def test_a_running_session_is_resumed_after_a_restart_and_a_stopped_one_is_not(
    tmp_path: Path,
) -> None:
    srv = make_server(tmp_path / "srv", impl="mock")
    srv.env |= STORE_FEED
    db = srv.evidence / "service" / "jobs.sqlite"
    db.parent.mkdir(parents=True)
    approve(db, "btc-fast")
    with UserStore(db) as users:
        key = users.add("carol", "approver")[1]
    auth = {"authorization": f"Bearer {key}"}
    data = srv.root / "data"
    store_candles(data)
    srv.start()
    try:
        resp = httpx.post(
            f"{srv.url}/api/paper/sessions", json={"paramset": "btc-fast", "id": "r1"}, headers=auth
        )
        assert resp.status_code == 201, resp.text
        first = wait_for(srv, "r1", lambda s: s["bars"] >= 10)
        srv.stop()
        assert session_status("r1", evidence_dir=srv.evidence)["state"] == "interrupted"
        more_candles(data, "BTCTRY", 10)  # bars close while the service is down

        srv.start()
        again = wait_for(srv, "r1", lambda s: s["bars"] >= first["bars"] + 10)
        assert again["state"] == "running" and again["service"] is True
        assert reconcile("r1", evidence_dir=srv.evidence).identical
        lines = [json.loads(x) for x in (srv.evidence / "audit.jsonl").read_text().splitlines()]
        events = [(a["event"], a.get("session_id")) for a in lines]
        assert ("paper_started", "r1") in events and ("paper_resumed", "r1") in events

        stop = httpx.post(f"{srv.url}/api/paper/sessions/r1/stop", headers=auth)
        assert stop.status_code == 200
        wait_for(srv, "r1", lambda s: s["state"] == "stopped")
        srv.stop()
        srv.start()
        time.sleep(1.0)
        status = srv.get("/api/paper/sessions/r1").json()
        assert status["state"] == "stopped" and status["service"] is False
    finally:
        srv.stop()
