"""The real server (engine impl): auth, hostile input, the engine flow, evidence, metrics, audit."""

from __future__ import annotations

import json
import shutil

import httpx
import pytest
from typer.testing import CliRunner

from sparkbt.adapters.cli.app import app as cli_app
from sparkbt.engine.options import Config
from sparkbt.errors import ConfigError

from .conftest import TOKEN, Server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]


def test_healthz_reports_workers(engine_server: Server) -> None:
    health = engine_server.get("/healthz").json()
    assert health["status"] == "ok"
    assert health["impl"] == "engine"
    assert health["workers"] == health["ready"] == 2


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-admin-token": "wrong"}, {"x-admin-token": ""}, {"x-admin-token": TOKEN + "x"}],
)
def test_start_needs_the_right_token(engine_server: Server, headers: dict[str, str]) -> None:
    before = len(engine_server.jobs(limit=1000))
    resp = engine_server.post({}, token=None, headers=headers)
    assert resp.status_code == 401
    assert resp.json() == {"detail": "unauthorized"}  # nothing about the right token
    assert len(engine_server.jobs(limit=1000)) == before


BAD_BODIES = [
    (b"{not json", "malformed JSON"),
    (b"[1, 2]", "expected a JSON object"),
    (b'{"fees": NaN}', "malformed JSON"),
    (b'{"strategy": "sma_crosss"}', "did you mean 'sma_cross'"),
    (b'{"params": {"fats": 5}}', "unknown parameter 'fats'"),
    (b'{"params": {"fast": "ten"}}', "fast"),
    (b'{"params": {"fast": 0}}', "fast"),
    (b'{"params": {"fast": 50, "slow": 20}}', "fast < slow"),
    (b'{"fees": -0.1}', "fees: must be a fraction in [0, 1)"),
    (b'{"slippage": 1.5}', "slippage: must be a fraction in [0, 1)"),
    (b'{"fees": 1e999}', "fees: expected a finite number"),
    (b'{"fees": "0.1"}', "fees: Input should be a valid number"),
    (b'{"fees": true}', "fees: Input should be a valid number"),
    (b'{"direction": "sideways"}', "direction: expected long, short or both"),
    (b'{"direction": 1}', "direction: Input should be a valid string"),
    (b'{"pair": "../../etc"}', "symbol"),
    (b'{"pair": "DOGEUSDT"}', "no candles for DOGEUSDT 4h"),
    (b'{"timeframe": "7x"}', "timeframe"),
    (b'{"notes": "' + b"x" * 3000 + b'"}', "notes"),
    (b'{"pair": "' + b"A" * 40 + b'"}', "pair"),
    (b'{"surprise": 1}', "surprise"),
    (b'{"options": {"sl_stop": 1.5}}', "sl_stop: must be a fraction in (0, 1)"),
    (b'{"options": {"sl_stp": 0.02}}', "did you mean 'sl_stop'"),
    (b'{"options": {"fill": "tomorrow"}}', "fill: expected close or next_open"),
    (b'{"options": {"gates": {"max_dd": 0.2}}}', "did you mean 'max_drawdown'"),
    (b'{"options": {"year_days": 0}}', "year_days: must be in [1, 366]"),
]


@pytest.mark.parametrize(("body", "needle"), BAD_BODIES)
def test_bad_input_is_422_and_enqueues_nothing(
    engine_server: Server, body: bytes, needle: str
) -> None:
    before = engine_server.metrics()[("bt_start_total", ())]
    n_jobs = len(engine_server.jobs(limit=1000))
    resp = engine_server.post(content=body, headers={"content-type": "application/json"})
    assert resp.status_code == 422, resp.text
    assert needle in resp.json()["detail"]
    assert len(engine_server.jobs(limit=1000)) == n_jobs
    assert engine_server.metrics()[("bt_start_total", ())] == before


@pytest.mark.parametrize(
    ("name", "value"),
    [("fees", -0.1), ("fees", 1.0), ("slippage", 2.5), ("direction", "up"), ("direction", "")],
)
def test_top_level_engine_options_are_judged_by_the_engine_alone(
    engine_server: Server, name: str, value: object
) -> None:
    top = engine_server.post({name: value})
    nested = engine_server.post({"options": {name: value}})
    assert top.status_code == nested.status_code == 422
    with pytest.raises(ConfigError) as engine_says:
        Config(**{name: value})
    assert top.json()["detail"] == nested.json()["detail"] == str(engine_says.value)


def test_top_level_engine_options_are_stored_canonical(engine_server: Server) -> None:
    job_id = engine_server.start_job(direction=" Short ", fees=0, options={"slippage": 0.001})
    job = engine_server.get(f"/api/backtest/{job_id}").json()
    assert (job["direction"], job["fees"], job["slippage"]) == ("short", 0.0, 0.001)
    assert job["options"]["direction"] == "short"
    # the options object wins over the top-level fields, as before
    job_id = engine_server.start_job(fees=0.002, options={"fees": 0.001})
    job = engine_server.get(f"/api/backtest/{job_id}").json()
    assert job["fees"] == job["options"]["fees"] == 0.001


@pytest.mark.parametrize("spelling", ["smaCross", "sma-cross"])
def test_platform_strategy_spellings_resolve_to_the_canonical_name(
    engine_server: Server, spelling: str
) -> None:
    resp = engine_server.post(
        {"pair": "ETHUSDT", "strategy": spelling, "params": {"fast": 10, "slow": 30}}
    )
    assert resp.status_code == 201, resp.text
    job = engine_server.get(f"/api/backtest/{resp.json()['id']}").json()
    assert job["strategy"] == "sma_cross"
    assert job["params"] == {"fast": 10, "slow": 30}


def test_oversized_body_is_413_by_header_and_by_stream(engine_server: Server) -> None:
    big = json.dumps({"notes": "x" * (65 * 1024)}).encode()
    assert engine_server.post(content=big).status_code == 413

    def chunks():  # no Content-Length: the server must count what it reads
        for _ in range(80):
            yield b" " * 1024

    resp = engine_server.post(content=chunks())
    assert resp.status_code == 413
    assert "too large" in resp.json()["detail"]
    ok_size = b'{"notes": "' + b"y" * 1500 + b'"}' + b" " * (60 * 1024)
    assert engine_server.post(content=ok_size).status_code == 201


def test_unknown_ids_are_404(engine_server: Server) -> None:
    assert engine_server.get("/api/backtest/nope").status_code == 404
    assert engine_server.get("/api/backtest/nope/report").status_code == 404
    assert engine_server.get("/api/backtest/" + "a" * 500).status_code == 404


def test_list_validates_its_query(engine_server: Server) -> None:
    assert engine_server.get("/api/backtest", params={"status": "bogus"}).status_code == 422
    resp = engine_server.get("/api/backtest", params={"limit": 0})
    assert resp.status_code == 422
    assert "limit" in resp.json()["detail"]


def test_engine_job_runs_to_done_and_writes_evidence_like_sparkbt_run(
    engine_server: Server, tmp_path
) -> None:
    job_id = engine_server.start_job(params={"fast": 7, "slow": 40}, fees=0.001, notes="ci")
    job = engine_server.wait(job_id)
    assert job["status"] == "done", job
    assert job["impl"] == "engine"
    assert job["started_at"] >= job["created_at"]
    assert job["finished_at"] >= job["started_at"]
    assert job["params"] == {"fast": 7, "slow": 40}
    assert set(job["stats"]) >= {"total_return", "sharpe", "max_drawdown", "total_trades"}
    folder = engine_server.evidence / "backtest" / job["run_id"]
    assert job["evidence"] == f"backtest/{job['run_id']}"  # relative to the evidence folder
    stored = json.loads((folder / "report.json").read_text())
    assert {p.name for p in folder.iterdir()} >= {"report.json"}
    report = engine_server.get(f"/api/backtest/{job_id}/report")
    assert report.status_code == 200
    assert report.json() == stored
    assert stored["id"] == job["run_id"]
    assert stored["stats"] == job["stats"]

    # The same inputs through `sparkbt run` give the same run id.
    res = CliRunner().invoke(
        cli_app,
        [
            "run",
            "--strategy",
            "sma_cross",
            "--fast",
            "7",
            "--slow",
            "40",
            "--fees",
            "0.001",
            "--evidence-dir",
            str(tmp_path),
            "--data-dir",
            str(tmp_path / "data"),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["id"] == job["run_id"]


def test_engine_options_run_like_sparkbt_run(engine_server: Server, tmp_path) -> None:
    options = {"fill": "next_open", "sl_stop": 0.03, "sl_trail": True, "gates": {"cooldown": 2}}
    job_id = engine_server.start_job(params={"fast": 7, "slow": 40}, fees=0.001, options=options)
    job = engine_server.wait(job_id)
    assert job["status"] == "done", job
    stored = json.loads(
        (engine_server.evidence / "backtest" / job["run_id"] / "report.json").read_text()
    )
    assert {k: stored["config"][k] for k in options} == options
    assert job["stats"]["exits_trailing_stop"] > 0
    args = ["--fast", "7", "--slow", "40", "--fees", "0.001", "--fill", "next_open"]
    args += ["--sl-stop", "0.03", "--sl-trail", "--gate", "cooldown=2"]
    res = CliRunner().invoke(
        cli_app,
        ["run", *args, "--evidence-dir", str(tmp_path), "--data-dir", str(tmp_path), "--json"],
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["id"] == job["run_id"]


def test_a_job_that_raises_fails_with_its_reason_and_the_service_stays_up(
    engine_server: Server,
) -> None:
    # A store file that exists (so the request passes) but cannot be read by the worker.
    bad = engine_server.root / "data" / "ETHUSDT" / "1h.parquet"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_bytes(b"this is not parquet")
    job = engine_server.wait(engine_server.start_job(timeframe="1h"))
    assert job["status"] == "failed"
    assert "CandleError" in job["error"] or "parquet" in job["error"].lower()
    assert job["stats"] is None
    resp = engine_server.get(f"/api/backtest/{job['id']}/report")
    assert resp.status_code == 409
    audit_text = (engine_server.evidence / "audit.jsonl").read_text()
    audit = [json.loads(line) for line in audit_text.splitlines()]
    failed = [e for e in audit if e["job_id"] == job["id"] and e["event"] == "failed"]
    assert len(failed) == 1
    # the audit log (the operator's) keeps the path; the answer names the folder instead
    assert failed[0]["error"].replace(str(engine_server.root / "data"), "DATA_DIR") == job["error"]
    # still serving, and the next job runs
    assert engine_server.wait(engine_server.start_job())["status"] == "done"
    shutil.rmtree(bad.parent)


def test_list_is_newest_first_and_filters(engine_server: Server) -> None:
    ids = [engine_server.start_job(params={"fast": f, "slow": 60}) for f in (3, 4, 5)]
    for i in ids:
        engine_server.wait(i)
    listed = [j["id"] for j in engine_server.jobs(limit=3)]
    assert listed == ids[::-1]
    done = engine_server.jobs(status="done", limit=1000)
    assert done
    assert all(j["status"] == "done" for j in done)
    assert len(engine_server.jobs(limit=2)) == 2


def test_metrics_names_and_values_move(engine_server: Server) -> None:
    before = engine_server.metrics()
    for name in (
        "bt_runs_total",
        "bt_latency_ms_count",
        "bt_enqueue_latency_ms_bucket",
        "bt_queue_depth",
        "bt_start_total",
    ):
        assert any(k[0] == name for k in before), name
    done_key = ("bt_runs_total", (("impl", "engine"), ("status", "done")))
    failed_key = ("bt_runs_total", (("impl", "engine"), ("status", "failed")))
    ids = [engine_server.start_job(params={"fast": f, "slow": 50}) for f in (10, 11)]
    for i in ids:
        assert engine_server.wait(i)["status"] == "done"
    engine_server.post({}, token="wrong")
    after = engine_server.metrics()
    assert after[("bt_start_total", ())] == before[("bt_start_total", ())] + 2
    assert after[done_key] == before[done_key] + 2
    assert after[failed_key] == before[failed_key]
    assert (
        after[("bt_enqueue_latency_ms_count", ())]
        >= before[("bt_enqueue_latency_ms_count", ())] + 3
    )
    lat = ("bt_latency_ms_count", (("impl", "engine"),))
    assert after[lat] == before[lat] + 2
    assert after[("bt_latency_ms_sum", (("impl", "engine"),))] > 0
    assert after[("bt_queue_depth", ())] == 0
    assert after[("bt_start_rejected_total", (("code", "401"),))] >= 1


def test_audit_log_has_one_line_per_event_and_never_the_token(engine_server: Server) -> None:
    job_id = engine_server.start_job(params={"fast": 9, "slow": 45})
    engine_server.wait(job_id)
    engine_server.post({"params": {"nope": 1}}, headers={"user-agent": "audit-test/1"})
    text = (engine_server.evidence / "audit.jsonl").read_text()
    assert TOKEN not in text
    events = [json.loads(line) for line in text.splitlines()]
    mine = [e for e in events if e["job_id"] == job_id]
    assert [e["event"] for e in mine] == ["start", "done"]
    for e in mine:
        assert e["pair"] == "ETHUSDT"
        assert e["timeframe"] == "4h"
        assert e["strategy"] == "sma_cross"
        assert e["params"] == {"fast": 9, "slow": 45}
        assert e["client_ip"] == "127.0.0.1"
        assert e["user_agent"].startswith("python-httpx")
        assert e["time"].endswith("Z")
    rejected = [e for e in events if e["event"] == "rejected" and e["user_agent"] == "audit-test/1"]
    assert rejected
    assert rejected[-1]["status"] == 422
    assert "nope" in rejected[-1]["reason"]


def test_reads_are_public_and_writes_are_not(engine_server: Server) -> None:
    assert engine_server.get("/api/backtest").status_code == 200
    assert engine_server.get("/metrics").status_code == 200
    with httpx.Client(base_url=engine_server.url) as c:
        assert c.post("/api/backtest/start", json={}).status_code == 401
