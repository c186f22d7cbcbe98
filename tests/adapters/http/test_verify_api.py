"""``POST /api/runs/{id}/verify``: a worker re-runs a stored run; the API and page tell."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import sparkbt as sb
from sparkbt.adapters.http.app import create_app
from sparkbt.platform.settings import Settings
from tests.adapters.http.conftest import TOKEN
from tests.research.verify_fixtures import candles, edit_table, make_store


@pytest.fixture
def service(tmp_path, monkeypatch):
    data = make_store(tmp_path, monkeypatch)
    folder = sb.backtest(candles(data), "sma_cross", fast=10, slow=30).save(tmp_path / "ev")
    settings = Settings(
        admin_token=TOKEN, workers=1, evidence_dir=tmp_path / "ev", data_dir=data, impl="mock"
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        client.headers["x-admin-token"] = TOKEN
        yield client, folder


def verify_job(client: TestClient, run_id: str) -> dict:
    resp = client.post(f"/api/runs/{run_id}/verify")
    assert resp.status_code == 201, resp.text
    job_id = resp.json()["id"]
    deadline = time.monotonic() + 120
    while (job := client.get(f"/api/backtest/{job_id}").json())["status"] not in ("done", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
    return dict(job)


def test_a_verify_job_marks_the_report_verified_then_differs(service):
    client, folder = service
    run_id = folder.name
    assert client.get(f"/api/runs/{run_id}/verify").status_code == 404
    assert 'id="verify-mark"' not in client.get(f"/ui/runs/{run_id}").text
    job = verify_job(client, run_id[:8])
    assert job["status"] == "done", job
    assert job["run_id"] == run_id and job["stats"]["verify"]["status"] == "verified"
    latest = client.get(f"/api/runs/{run_id}/verify").json()
    assert latest["state"] == "verified" and latest["at"][:4].isdigit()
    page = client.get(f"/ui/runs/{run_id}").text
    assert 'id="verify-mark"' in page and ">verified</span>" in page
    assert latest["at"][:10] in page

    edit_table(Path(folder) / "equity.parquet", "equity", 7)
    job = verify_job(client, run_id)
    assert job["stats"]["verify"]["status"] == "differs"
    first = client.get(f"/api/runs/{run_id}/verify").json()["first_difference"]
    assert (first["file"], first["where"], first["row"]) == ("equity.parquet", "equity", 7)
    page = client.get(f"/ui/runs/{run_id}").text
    assert ">differs</span>" in page and "equity.parquet: equity row 7" in page


def test_verifying_an_unknown_run_is_404(service):
    client, _ = service
    resp = client.post("/api/runs/feedfacefeedface/verify")
    assert resp.status_code == 404 and "feedfacefeedface" in resp.json()["detail"]


def test_verifying_needs_a_caller_who_may_start_runs(service):
    client, folder = service
    resp = client.post(f"/api/runs/{folder.name}/verify", headers={"x-admin-token": ""})
    assert resp.status_code in (401, 403)
