"""The bounded job queue: a maximum depth and a per-user cap, refused as 429 with Retry-After,
counted and audited, atomic with the insert, and the same for starts and proposals."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from sparkbt.adapters.cli.app import app as cli
from sparkbt.adapters.http.app import create_app
from sparkbt.errors import ConfigError, TooMany
from sparkbt.platform.jobs import JobStore, QueueLimits
from sparkbt.platform.settings import Settings
from sparkbt.platform.users import UserStore

pytestmark = pytest.mark.timeout(120)

TOKEN = "limits-test-admin-token"
ADMIN = {"x-admin-token": TOKEN}


def test_the_queue_refuses_over_its_depth_and_over_a_users_share(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite", QueueLimits(total=3, per_user=2))
    try:
        store.create({}, "mock", user="alice")
        store.create({}, "mock", user="alice")
        with pytest.raises(TooMany, match=r"alice has 2 jobs queued \(limit 2 per user\)") as err:
            store.create({}, "mock", user="alice")
        assert (err.value.kind, err.value.reason) == ("too_many", "user_cap")
        store.create({}, "mock", user="bob")
        with pytest.raises(TooMany, match=r"job queue is full \(3 jobs queued, limit 3\)") as err:
            store.create({}, "mock", user="carl")
        assert err.value.reason == "queue_full"
        assert store.counts()["queued"] == 3
        # only queued jobs count: once one runs, there is room again
        claimed = store.claim_next(worker_pid=1)
        assert claimed is not None and claimed.user == "alice"
        store.create({}, "mock", user="alice")
        # recovery queues what it must, whatever the limits
        store.create({}, "mock", user="alice", capped=False)
        assert store.counts()["queued"] == 4
    finally:
        store.close()


@pytest.mark.parametrize(("total", "per_user", "users"), [(40, 1000, 8), (1000, 25, 1)])
def test_concurrent_creates_never_overshoot(
    tmp_path: Path, total: int, per_user: int, users: int
) -> None:
    limits = QueueLimits(total, per_user)
    stores = [JobStore(tmp_path / "jobs.sqlite", limits) for _ in range(4)]  # 4 connections
    made: list[str] = []
    refused: list[str] = []

    def fill(i: int) -> None:
        store = stores[i % len(stores)]
        for _ in range(30):
            try:
                made.append(store.create({}, "mock", user=f"u{i % users}").id)
            except TooMany as exc:
                refused.append(exc.reason)

    threads = [threading.Thread(target=fill, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        want = min(total, per_user * users)
        assert len(made) == want == stores[0].counts()["queued"]
        assert len(refused) == 8 * 30 - want
    finally:
        for s in stores:
            s.close()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def wait_for(fn: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not fn():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_starts_and_proposals_over_the_limits_are_429_counted_and_audited(
    tmp_path: Path,
) -> None:
    settings = Settings(
        admin_token=TOKEN,
        evidence_dir=tmp_path,
        workers=1,
        impl="mock",
        mock_seconds=60,
        max_queue=4,
        max_queued_per_user=2,
    )
    with UserStore(settings.db_file) as users:
        keys = {name: users.add(name, "proposer")[1] for name in ("alice", "dave")}

    def bearer(name: str) -> dict[str, str]:
        return {"authorization": f"Bearer {keys[name]}"}

    with TestClient(create_app(settings)) as c:
        svc = c.app.state.service  # type: ignore[attr-defined]
        wait_for(lambda: c.get("/healthz").json()["ready"] == 1)
        assert c.post("/api/backtest/start", json={}, headers=ADMIN).status_code == 201
        wait_for(lambda: c.get("/healthz").json()["busy"] == 1)  # running: not in the queue
        for _ in range(2):
            assert c.post("/api/backtest/start", json={}, headers=bearer("alice")).is_success
        r = c.post("/api/backtest/start", json={}, headers=bearer("alice"))
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        assert r.json() == {"detail": "alice has 2 jobs queued (limit 2 per user); retry once "
                            "some have run"}  # fmt: skip
        for _ in range(2):
            assert c.post("/api/backtest/start", json={}, headers=bearer("dave")).is_success
        r = c.post("/api/backtest/start", json={}, headers=ADMIN)
        assert r.status_code == 429 and "job queue is full" in r.json()["detail"]
        assert r.headers["retry-after"].isdigit()
        # a proposal queues an evaluation: refused alike, and then nothing is recorded
        body = {"paramset": "eth-sma", "strategy": "sma_cross", "params": {"fast": 9}}
        r = c.post("/api/guard/proposals", json=body, headers=bearer("dave"))
        assert r.status_code == 429 and r.headers["retry-after"].isdigit(), r.text
        assert svc.guard.list() == []
        assert c.get("/healthz").json()["queued"] == 4
        m = samples(c.get("/metrics").text)
    assert m[("sparkbt_refused_total", (("reason", "user_cap"),))] == 1
    assert m[("sparkbt_refused_total", (("reason", "queue_full"),))] == 2
    assert m[("bt_start_rejected_total", (("code", "429"),))] == 2
    assert m[("bt_queue_depth", ())] == 4
    audit = [json.loads(line) for line in settings.audit_file.read_text().splitlines()]
    rejected = [(a["user"], a["status"]) for a in audit if a["event"] == "rejected"]
    assert rejected == [("alice", 429), ("admin-token", 429)]


def test_limits_come_from_flags_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARKBT_ADMIN_TOKEN", TOKEN)
    assert (Settings.from_env().max_queue, Settings.from_env().max_queued_per_user) == (1000, 50)
    monkeypatch.setenv("SPARKBT_MAX_QUEUE", "7")
    monkeypatch.setenv("SPARKBT_MAX_QUEUED_PER_USER", "3")
    got = Settings.from_env()
    assert (got.max_queue, got.max_queued_per_user) == (7, 3)
    assert Settings.from_env(max_queue=9).max_queue == 9  # the flag wins
    monkeypatch.setenv("SPARKBT_MAX_QUEUE", "lots")
    with pytest.raises(ConfigError, match=r"^SPARKBT_MAX_QUEUE: expected a whole number"):
        Settings.from_env()
    with pytest.raises(ConfigError, match="max queued per user: must be >= 1"):
        Settings(admin_token=TOKEN, max_queued_per_user=0)
    res = CliRunner().invoke(cli, ["serve", "--help"], env={"COLUMNS": "300"})
    for text in (
        "--max-queue",
        "SPARKBT_MAX_QUEUE",
        "--max-queued-per-user",
        "SPARKBT_MAX_QUEUED_PER_USER",
    ):
        assert text in res.output, text
    bad = CliRunner().invoke(cli, ["serve", "--max-queue", "0"], env={"SPARKBT_ADMIN_TOKEN": TOKEN})
    assert bad.exit_code == 2
