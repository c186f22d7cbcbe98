"""Callers and roles: bearer keys of ``sparkbt users``, the admin token, ``--private``,
who is recorded, and strategies named from the registry only."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request

from sparkbt.errors import ConfigError, Forbidden, Refusal, StrategyError
from sparkbt.platform.auth import READ, START_ROLES, Auth, Principal
from sparkbt.platform.backtests import check_strategy_name
from sparkbt.platform.jobs import JobStore
from sparkbt.platform.settings import Settings
from sparkbt.platform.users import UserStore

from .conftest import TOKEN, Server

pytestmark = [pytest.mark.timeout(60)]


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def users_of(srv: Server) -> UserStore:
    """The user table of a running server (its job database, shared in WAL mode)."""
    return UserStore(srv.evidence / "service" / "jobs.sqlite")


def request_with(headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw})


def audit_lines(srv: Server) -> tuple[str, list[dict[str, Any]]]:
    text = (srv.evidence / "audit.jsonl").read_text()
    return text, [json.loads(line) for line in text.splitlines()]


# ---- without a server


@pytest.fixture
def auth(tmp_path: Path) -> Auth:
    return Auth(TOKEN, tmp_path / "jobs.sqlite")


def test_roles_decide_and_the_refusal_is_one_line(auth: Auth) -> None:
    _, proposer = auth.users.add("alice", "proposer")
    _, admin = auth.users.add("carol", "admin")
    req = request_with(bearer(proposer))
    assert auth.require(req, START_ROLES, "start a backtest") == Principal("alice", "proposer")
    with pytest.raises(Forbidden) as err:
        auth.require(req, ("admin",), "approve a proposal")
    assert (err.value.kind, err.value.detail) == (
        "forbidden",
        "role proposer may not approve a proposal",
    )
    assert err.value.principal == Principal("alice", "proposer")
    assert auth.require(request_with(bearer(admin)), ("admin",), "x") == Principal("carol", "admin")
    token = request_with({"x-admin-token": TOKEN})
    assert auth.require(token, ("admin",), "x") == Principal("admin-token", "admin")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer sbk_unknown"},
        {"authorization": "Bearer "},
        {"authorization": "Basic dXNlcjpwYXNz"},
        {"authorization": "sbk_no_scheme"},
        {"x-admin-token": "wrong"},
        {"x-admin-token": ""},
    ],
)
def test_a_missing_or_wrong_credential_is_401(auth: Auth, headers: dict[str, str]) -> None:
    with pytest.raises(Refusal) as err:
        auth.require(request_with(headers), START_ROLES, "start a backtest")
    assert (err.value.kind, err.value.detail) == ("unauthorized", "unauthorized")


def test_reads_are_open_unless_private(tmp_path: Path) -> None:
    open_auth = Auth(TOKEN, tmp_path / "a.sqlite")
    assert open_auth.require(request_with({}), READ) is None
    assert open_auth.require(request_with(bearer("sbk_junk")), READ) is None
    private = Auth(TOKEN, tmp_path / "b.sqlite", private=True)
    _, key = private.users.add("bob", "approver")
    with pytest.raises(Refusal):
        private.require(request_with({}), READ)
    assert private.require(request_with(bearer(key)), READ) == Principal("bob", "approver")


def test_a_dependency_names_only_known_roles(auth: Auth) -> None:
    with pytest.raises(ValueError, match="unknown roles"):
        auth.dependency(("approvr",), "approve")


def test_private_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARKBT_ADMIN_TOKEN", TOKEN)
    monkeypatch.delenv("SPARKBT_PRIVATE", raising=False)
    assert Settings.from_env().private is False
    monkeypatch.setenv("SPARKBT_PRIVATE", "1")
    assert Settings.from_env().private is True
    monkeypatch.setenv("SPARKBT_PRIVATE", "0")
    assert Settings.from_env().private is False
    assert Settings.from_env(private=True).private is True
    monkeypatch.setenv("SPARKBT_PRIVATE", "maybe")
    with pytest.raises(ConfigError, match="SPARKBT_PRIVATE"):
        Settings.from_env()


@pytest.mark.parametrize(
    "ref", ["/tmp/evil.py:f", "evil.py:f", "strategies/sma_cross", "..\\x", "evil.py", "a:b"]
)
def test_file_references_are_not_strategy_names(ref: str) -> None:
    with pytest.raises(StrategyError, match="not a file path"):
        check_strategy_name(ref)
    assert check_strategy_name("sma_cross") == "sma_cross"
    assert check_strategy_name("smaCross") == "smaCross"


def test_a_job_database_without_the_user_column_gains_it(tmp_path: Path) -> None:
    db = tmp_path / "jobs.sqlite"
    with sqlite3.connect(db) as con:
        con.execute(
            "CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,"
            " status TEXT NOT NULL, impl TEXT NOT NULL, request TEXT NOT NULL, client_ip TEXT,"
            " user_agent TEXT, created_at REAL NOT NULL, started_at REAL, finished_at REAL,"
            " attempts INTEGER NOT NULL DEFAULT 0, worker_pid INTEGER, run_id TEXT,"
            " evidence TEXT, stats TEXT, error TEXT)"
        )
        con.execute(
            "INSERT INTO jobs (id, status, impl, request, created_at)"
            " VALUES ('old', 'done', 'mock', '{}', 0)"
        )
    con.close()
    store = JobStore(db)
    try:
        old = store.get("old")
        assert old is not None and old.user is None and old.public()["user"] is None
        assert store.create({}, "mock", user="alice").public()["user"] == "alice"
    finally:
        store.close()


# ---- against the real server

slow = pytest.mark.slow


@slow
def test_bearer_keys_start_and_the_job_names_its_user(launch: Any) -> None:
    srv = launch("keys", impl="mock")
    users = users_of(srv)  # added while the server runs
    _, alice = users.add("alice", "proposer")
    _, bob = users.add("bob", "approver")
    _, carol = users.add("carol", "admin")
    _, dave = users.add("dave", "proposer")
    users.revoke("dave")
    keys = {"alice": alice, "bob": bob, "carol": carol}

    for name, key in keys.items():
        resp = srv.post({"notes": name}, token=None, headers=bearer(key))
        assert resp.status_code == 201, resp.text
        job = srv.wait(resp.json()["id"])
        assert (job["status"], job["user"]) == ("done", name)

    # the admin token still works, as the admin under its own name
    job_id = srv.start_job(notes="break-glass")
    assert srv.wait(job_id)["user"] == "admin-token"

    before = len(srv.jobs(limit=1000))
    for headers in (
        bearer(dave),  # revoked
        bearer("sbk_" + "x" * 43),  # unknown
        bearer(alice + "x"),
        {"authorization": "Basic " + alice},
        {},
    ):
        resp = srv.post({}, token=None, headers=headers)
        assert resp.status_code == 401, headers
        assert resp.json() == {"detail": "unauthorized"}
    # a key revoked while the server runs stops working at once
    users.revoke("alice")
    resp = srv.post({}, token=None, headers=bearer(alice))
    assert resp.status_code == 401
    assert len(srv.jobs(limit=1000)) == before
    users.close()

    # the audit log names the acting user and never a key or the token
    text, events = audit_lines(srv)
    for key in (alice, bob, carol, dave):
        assert key not in text
        assert key[4:] not in text  # not even without its prefix
    assert TOKEN not in text
    starts = {e["user"] for e in events if e["event"] == "start"}
    assert starts == {"alice", "bob", "carol", "admin-token"}
    done = {e["user"] for e in events if e["event"] == "done"}
    assert done == starts
    refused = [e for e in events if e["event"] == "rejected"]
    assert len(refused) == 6
    assert all(e["status"] == 401 and e["user"] is None for e in refused)


@slow
def test_a_refused_body_is_audited_under_its_user(launch: Any) -> None:
    srv = launch("refused", impl="mock")
    with users_of(srv) as users:
        _, key = users.add("erin", "proposer")
    resp = srv.post({"params": {"nope": 1}}, token=None, headers=bearer(key))
    assert resp.status_code == 422
    _, events = audit_lines(srv)
    assert [(e["event"], e["user"], e["status"]) for e in events] == [("rejected", "erin", 422)]


@slow
def test_private_server_needs_a_key_to_read(launch: Any) -> None:
    srv = launch("private", impl="mock", extra=("--private",))
    with users_of(srv) as users:
        _, key = users.add("reader", "proposer")
    job_id = srv.start_job()
    for path in ("/api/backtest", f"/api/backtest/{job_id}", f"/api/backtest/{job_id}/report"):
        resp = srv.get(path)
        assert resp.status_code == 401, path
        assert resp.json() == {"detail": "unauthorized"}
        assert srv.get(path, headers=bearer("sbk_nobody")).status_code == 401
    # with a key (or the admin token) every read works
    assert srv.get("/api/backtest", headers=bearer(key)).status_code == 200
    assert srv.get("/api/backtest?limit=0", headers=bearer(key)).status_code == 422
    srv_job = srv.get(f"/api/backtest/{job_id}", headers=bearer(key))
    assert srv_job.status_code == 200 and srv_job.json()["user"] == "admin-token"
    admin = srv.get("/api/backtest", headers={"x-admin-token": TOKEN})
    assert admin.status_code == 200 and admin.json()["count"] == 1
    # unauthenticated callers learn nothing, not even about their bad query
    assert srv.get("/api/backtest?limit=0").status_code == 401
    # scrapers and liveness probes stay open
    assert srv.get("/metrics").status_code == 200
    assert srv.get("/healthz").status_code == 200
    # nor does it publish its API description
    assert srv.get("/openapi.json").status_code == 404
    assert srv.get("/docs").status_code == 404


@slow
def test_reads_stay_open_without_private(launch: Any) -> None:
    srv = launch("open", impl="mock")
    job_id = srv.start_job()
    assert srv.get("/api/backtest").status_code == 200
    assert srv.get(f"/api/backtest/{job_id}").status_code == 200
    assert srv.get("/api/backtest", headers=bearer("sbk_nobody")).status_code == 200
    assert srv.get("/openapi.json").status_code == 200


EVIL = """\
from pathlib import Path
Path({marker!r}).write_text("imported")

def f(close):
    return close > 0
"""


@slow
def test_a_strategy_file_path_is_refused_and_never_imported(launch: Any, tmp_path: Path) -> None:
    srv = launch("paths", impl="engine")
    marker = tmp_path / "imported.marker"
    for where in (tmp_path / "evil.py", srv.root / "evil.py", srv.root / "strategies.py"):
        where.write_text(EVIL.format(marker=str(marker)))
    before = len(srv.jobs(limit=1000))
    refs = [
        f"{tmp_path / 'evil.py'}:f",
        "evil.py:f",  # relative to the server's working directory
        "./evil.py:f",
        "strategies.py:f",
        "../paths/evil.py:f",
        f"{tmp_path}/evil",
    ]
    for ref in refs:
        resp = srv.post({"strategy": ref})
        assert resp.status_code == 422, (ref, resp.text)
        detail = resp.json()["detail"]
        assert "\n" not in detail
        assert "not a file path" in detail or "at most 64 characters" in detail
    assert not marker.exists()
    assert len(srv.jobs(limit=1000)) == before
    # registry names still work
    assert srv.wait(srv.start_job(strategy="smaCross"))["status"] == "done"
    assert not marker.exists()


@slow
def test_jobs_commands_send_the_key(launch: Any) -> None:
    from typer.testing import CliRunner

    from sparkbt.adapters.cli.app import app

    runner = CliRunner()
    srv = launch("cli-keys", impl="mock", extra=("--private",))
    with users_of(srv) as users:
        _, key = users.add("frank", "proposer")
    common = ["--url", srv.url]
    env = {"SPARKBT_ADMIN_TOKEN": "", "SPARKBT_API_KEY": ""}
    res = runner.invoke(app, ["jobs", "start", *common, "--json"], env=env)
    assert res.exit_code == 2
    assert "no admin token or API key" in res.stderr
    res = runner.invoke(app, ["jobs", "start", *common, "--key", key, "--wait", "--json"], env=env)
    assert res.exit_code == 0, res.output
    job = json.loads(res.stdout)
    assert (job["status"], job["user"]) == ("done", "frank")
    res = runner.invoke(app, ["jobs", "list", *common], env=env)
    assert res.exit_code == 2
    assert "HTTP 401: unauthorized" in res.stderr
    res = runner.invoke(
        app, ["jobs", "status", job["id"][:8], *common], env=env | {"SPARKBT_API_KEY": key}
    )
    assert res.exit_code == 0, res.output
    assert "user: frank" in res.stdout
    res = runner.invoke(app, ["jobs", "list", *common, "--key", "sbk_wrong"], env=env)
    assert res.exit_code == 2
    assert "HTTP 401" in res.stderr
    assert key not in (srv.evidence / "audit.jsonl").read_text()
