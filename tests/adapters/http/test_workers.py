"""Mock impl, worker timeouts and crash recovery, against the real server."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import time

import psutil
import pytest

from .conftest import SERVE, Server, free_port, wait_exited

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]


def test_mock_impl_turns_done_without_evidence_and_counts(launch) -> None:
    srv: Server = launch("mock", impl="mock", workers=2, mock_seconds=0.3)
    ids = [srv.start_job(params={"fast": 5, "slow": 20}) for _ in range(3)]
    jobs = [srv.wait(i) for i in ids]
    assert [j["status"] for j in jobs] == ["done"] * 3
    assert all(j["impl"] == "mock" and j["evidence"] is None for j in jobs)
    assert all(j["finished_at"] > j["started_at"] for j in jobs)
    assert not (srv.evidence / "backtest").exists()
    resp = srv.get(f"/api/backtest/{ids[0]}/report")
    assert resp.status_code == 404
    assert "wrote no report" in resp.json()["detail"]
    m = srv.metrics()
    assert m[("bt_runs_total", (("impl", "mock"), ("status", "done")))] == 3
    assert m[("bt_runs_total", (("impl", "engine"), ("status", "done")))] == 0
    assert m[("bt_latency_ms_count", (("impl", "mock"),))] == 3
    assert m[("bt_latency_ms_sum", (("impl", "mock"),))] >= 3 * 300


def test_queue_depth_gauge_follows_the_queue(launch) -> None:
    srv: Server = launch("depth", impl="mock", workers=1, mock_seconds=0.6)
    ids = [srv.start_job() for _ in range(4)]
    srv.wait(ids[0], until=("running",))
    assert srv.metrics()[("bt_queue_depth", ())] == 3
    srv.wait(ids[-1], timeout=15)
    assert srv.metrics()[("bt_queue_depth", ())] == 0


def test_a_hung_job_times_out_its_worker_is_killed_and_replaced(launch) -> None:
    srv: Server = launch(
        "timeout", impl="mock", workers=1, mock_seconds=30, extra=("--job-timeout", "0.5")
    )
    first_pid = srv.workers[0]
    a, b = srv.start_job(), srv.start_job()
    ja = srv.wait(a, timeout=15)
    assert ja["status"] == "failed"
    assert ja["error"] == "timed out after 0.5 s; worker killed"
    assert not psutil.pid_exists(first_pid) or psutil.Process(first_pid).status() == "zombie"
    jb = srv.wait(b, timeout=15)  # ran on the replacement worker, and timed out as well
    assert jb["status"] == "failed"
    health = srv.get("/healthz").json()
    assert health["workers"] == 1
    assert first_pid not in health["worker_pids"]
    m = srv.metrics()
    assert m[("bt_runs_total", (("impl", "mock"), ("status", "failed")))] == 2


def test_kill_9_with_jobs_queued_then_restart_loses_nothing(launch) -> None:
    srv: Server = launch("crash", impl="mock", workers=1, mock_seconds=1.5)
    ids = [srv.start_job(params={"fast": 3 + i, "slow": 30}) for i in range(3)]
    # the first job is mid-run (its 1.5 s of work has just begun) when the server dies
    assert srv.wait(ids[0], until=("running", "done"))["status"] == "running"
    orphans = srv.kill9()
    # the workers notice their server is gone and exit on their own
    assert not wait_exited(orphans, timeout=10)
    srv.start()
    jobs = {j["id"]: j for j in srv.jobs(limit=100)}
    assert set(ids) <= set(jobs)
    assert not [i for i in ids if jobs[i]["status"] == "failed"]
    finished = [srv.wait(i, timeout=20) for i in ids]
    assert [j["status"] for j in finished] == ["done"] * 3
    assert [j["params"]["fast"] for j in finished] == [3, 4, 5]
    # the interrupted job was run again (a second attempt); the others ran once
    assert [j["attempts"] for j in finished] == [2, 1, 1]


def test_clean_restart_requeues_running_jobs_without_counting_an_attempt(launch) -> None:
    srv: Server = launch("restart", impl="mock", workers=1, mock_seconds=600)
    job_id = srv.start_job()
    srv.wait(job_id, until=("running",))
    srv.stop()
    # SIGTERM ended the server (no SIGKILL was needed) although its job had minutes
    # of work left: the busy worker was not waited for, and the job is back in the
    # queue, unfinished
    assert srv.proc is not None and srv.proc.returncode == -signal.SIGTERM, srv.log_text
    with contextlib.closing(sqlite3.connect(srv.evidence / "service" / "jobs.sqlite")) as db:
        row = db.execute(
            "SELECT status, started_at, finished_at, attempts FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
    assert row == ("queued", None, None, 0)
    srv.env["SPARKBT_MOCK_SECONDS"] = "0.2"
    srv.start()
    job = srv.wait(job_id, timeout=15)
    assert job["status"] == "done"
    assert job["attempts"] == 1  # the run cut short by the shutdown is not counted


def test_a_worker_that_dies_fails_its_job_and_is_replaced(launch) -> None:
    srv: Server = launch("die", impl="mock", workers=1, mock_seconds=30)
    job_id = srv.start_job()
    srv.wait(job_id, until=("running",))
    victim = srv.workers[0]
    os.kill(victim, signal.SIGKILL)
    job = srv.wait(job_id, timeout=10)
    assert job["status"] == "failed"
    assert job["error"] == "worker process died (exit code -9) while running the job"
    deadline = time.monotonic() + 15
    while (health := srv.get("/healthz").json())["ready"] != 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert victim not in health["worker_pids"]


def test_a_second_service_on_the_same_database_is_refused(launch) -> None:
    srv: Server = launch("twice", impl="mock", workers=1)
    proc = subprocess.run(
        [*SERVE, "--port", str(free_port()), *srv.args],
        cwd=srv.root,
        env=srv.env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "another sparkbt service is using this job database" in proc.stderr
    assert srv.get("/healthz").status_code == 200
