"""The SQLite job store and the settings, without a server."""

from __future__ import annotations

import sqlite3

import pytest

from sparkbt.errors import ConfigError
from sparkbt.platform.jobs import JobStore
from sparkbt.platform.settings import Settings

REQ = {"pair": "ETHUSDT", "timeframe": "4h", "strategy": "sma_cross", "params": {"fast": 5}}


@pytest.fixture
def store(tmp_path):
    s = JobStore(tmp_path / "jobs.sqlite")
    yield s
    s.close()


def test_store_is_wal_and_survives_reopening(tmp_path, store: JobStore) -> None:
    job = store.create(REQ, "engine", "10.0.0.1", "ua")
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    again = JobStore(store.path)
    try:
        got = again.get(job.id)
        assert got is not None
        assert got.status == "queued"
        assert got.request == REQ
        assert got.client_ip == "10.0.0.1"
        assert "client_ip" not in got.public()
    finally:
        again.close()


def test_claim_is_fifo_and_finish_only_closes_running_jobs(store: JobStore) -> None:
    a, b = store.create(REQ, "mock"), store.create(REQ, "mock")
    assert store.finish(a.id, "done") is None  # not running yet
    first = store.claim_next(worker_pid=42)
    assert first is not None
    assert first.id == a.id
    assert first.status == "running"
    assert first.attempts == 1
    assert first.worker_pid == 42
    assert store.claim_next(1).id == b.id
    assert store.claim_next(1) is None
    done = store.finish(a.id, "done", run_id="r", evidence="/e", stats={"sharpe": None})
    assert done.status == "done"
    assert done.stats == {"sharpe": None}
    assert store.finish(a.id, "failed", error="late") is None  # already closed
    assert store.counts() == {"queued": 0, "running": 1, "done": 1, "failed": 0}
    with pytest.raises(ValueError, match="done or failed"):
        store.finish(b.id, "queued")


def test_list_is_newest_first(store: JobStore) -> None:
    ids = [store.create(REQ, "mock").id for _ in range(4)]
    assert [j.id for j in store.list()] == ids[::-1]
    assert [j.id for j in store.list(limit=2)] == ids[:1:-1]
    store.claim_next(1)
    assert [j.id for j in store.list("running")] == [ids[0]]


def test_list_and_count_by_id_prefix(store: JobStore) -> None:
    ids = [store.create(REQ, "mock").id for _ in range(20)]
    store.claim_next(1)
    for prefix in {i[:1] for i in ids} | {ids[3][:5], ids[3], ""}:
        want = [i for i in ids[::-1] if i.startswith(prefix)]
        assert [j.id for j in store.list(prefix=prefix, limit=100)] == want
        assert store.count(prefix=prefix) == len(want)
    assert store.count("running", prefix=ids[0][:3]) == 1
    assert [j.id for j in store.list("running", prefix=ids[1])] == []
    for odd in ("%", "_", "g", ids[0] + "0"):
        assert store.list(prefix=odd) == []
        assert store.count(prefix=odd) == 0
    assert store.count() == 20


def test_recover_requeues_interrupted_jobs_and_stops_a_crash_loop(store: JobStore) -> None:
    a, b = store.create(REQ, "mock"), store.create(REQ, "mock")
    store.claim_next(1)
    requeued, failed = store.recover(max_attempts=2)
    assert [j.id for j in requeued] == [a.id]
    assert failed == []
    assert store.get(a.id).status == "queued"
    assert store.claim_next(1).id == a.id  # FIFO order is kept after requeueing
    assert store.get(a.id).attempts == 2
    requeued, failed = store.recover(max_attempts=2)
    assert requeued == []
    assert [j.id for j in failed] == [a.id]
    assert "interrupted 2 times" in store.get(a.id).error
    assert store.get(b.id).status == "queued"


def test_requeue_on_clean_shutdown_does_not_count_an_attempt(store: JobStore) -> None:
    a = store.create(REQ, "mock")
    store.claim_next(1)
    store.requeue(a.id)
    job = store.get(a.id)
    assert job.status == "queued"
    assert job.attempts == 0


def test_settings_validate_and_default_paths(tmp_path, monkeypatch) -> None:
    with pytest.raises(ConfigError, match="SPARKBT_ADMIN_TOKEN"):
        Settings(admin_token="  ")
    with pytest.raises(ConfigError, match="BACKTEST_IMPL"):
        Settings(admin_token="t", impl="legacy")
    s = Settings(admin_token="t", evidence_dir=tmp_path)
    assert s.db_file == tmp_path / "service" / "jobs.sqlite"
    assert s.audit_file == tmp_path / "audit.jsonl"
    assert "very-secret" not in repr(Settings(admin_token="very-secret"))
    monkeypatch.setenv("SPARKBT_ADMIN_TOKEN", "tok")
    monkeypatch.setenv("BACKTEST_IMPL", "MOCK")
    monkeypatch.setenv("SPARKBT_MOCK_SECONDS", "0.25")
    env = Settings.from_env(workers=3)
    assert (env.impl, env.mock_seconds, env.workers) == ("mock", 0.25, 3)
    monkeypatch.setenv("SPARKBT_MOCK_SECONDS", "soon")
    with pytest.raises(ConfigError, match="SPARKBT_MOCK_SECONDS"):
        Settings.from_env()
