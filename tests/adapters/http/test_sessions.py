"""UI sessions, CSRF binding, security headers, Host and Origin checks (the app in process)."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sparkbt.adapters.http.app import create_app
from sparkbt.platform import sessions
from sparkbt.platform.settings import Settings
from sparkbt.platform.users import UserStore, hash_key

TOKEN = "sessions-test-admin-token-3c9e1f"


def csrf_of(text: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', text)
    assert found, "the page has no CSRF field"
    return found.group(1)


@pytest.fixture
def app_env(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], Settings]]:
    settings = Settings(
        admin_token=TOKEN,
        evidence_dir=tmp_path / "evidence",
        workers=1,
        impl="mock",
        mock_seconds=0.0,
        allowed_hosts=("testserver", "localhost"),
    )
    with UserStore(settings.db_file) as users:
        keys = {r: users.add(f"{r}-1", r)[1] for r in ("proposer", "approver")}
    with TestClient(create_app(settings)) as client:
        yield client, keys, settings


def sign_in(c: TestClient, key: str) -> str:
    token = csrf_of(c.get("/ui/signin").text)
    r = c.post("/ui/signin", data={"csrf_token": token, "key": key}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return r.headers["set-cookie"]


def test_the_cookie_holds_a_random_session_id_stored_only_hashed(app_env) -> None:
    c, keys, settings = app_env
    cookie = sign_in(c, keys["approver"])
    session_id = re.search(r"sparkbt_session=([^;]+)", cookie).group(1)  # type: ignore[union-attr]
    assert keys["approver"] not in cookie and "sparkbt_key" not in cookie
    assert "max-age=604800" in cookie.lower()  # a week at most, not 30 days
    db = sqlite3.connect(settings.db_file)
    stored = [r[0] for r in db.execute("SELECT id_hash FROM sessions")]
    db.close()
    assert stored == [hash_key(session_id)]
    # the API key itself is not a session: a cookie holding it signs no one in
    c.cookies.clear()
    c.cookies.set("sparkbt_session", keys["approver"])
    assert "approver-1" not in c.get("/ui/runs").text


def test_sign_out_ends_the_session_server_side(app_env) -> None:
    c, keys, _ = app_env
    sign_in(c, keys["approver"])
    session_id = c.cookies["sparkbt_session"]
    out = c.post("/ui/signout", data={"csrf_token": csrf_of(c.get("/ui/runs").text)})
    assert out.status_code == 200
    c.cookies.set("sparkbt_session", session_id)  # replaying the old cookie
    assert "approver-1" not in c.get("/ui/runs").text


def test_revoking_the_user_ends_their_sessions(app_env) -> None:
    c, keys, settings = app_env
    sign_in(c, keys["approver"])
    assert "approver-1" in c.get("/ui/runs").text
    with UserStore(settings.db_file) as users:
        users.revoke("approver-1")
    assert "approver-1" not in c.get("/ui/runs").text


def test_sessions_expire_when_idle_and_at_their_maximum_age(app_env, monkeypatch) -> None:
    c, keys, _ = app_env
    sign_in(c, keys["approver"])
    now = time.time()
    monkeypatch.setattr(sessions.time, "time", lambda: now + sessions.IDLE_SECONDS + 5)
    assert "approver-1" not in c.get("/ui/runs").text
    monkeypatch.setattr(sessions.time, "time", lambda: now)
    assert "approver-1" in c.get("/ui/runs").text
    # busy all along, but older than the maximum
    for step in range(1, 16):
        monkeypatch.setattr(sessions.time, "time", lambda s=step: now + s * 11 * 3600)
        signed_in = "approver-1" in c.get("/ui/runs").text
        assert signed_in == (step * 11 * 3600 <= sessions.MAX_SECONDS), step


def test_a_planted_csrf_cookie_and_its_token_do_not_pass_for_a_signed_in_user(app_env) -> None:
    c, keys, _ = app_env
    # the attacker's own browser: a nonce cookie and the token it yields
    attacker_page = c.get("/ui/signin")
    planted_nonce, planted_token = c.cookies["sparkbt_csrf"], csrf_of(attacker_page.text)
    c.cookies.clear()
    sign_in(c, keys["proposer"])
    c.cookies.set("sparkbt_csrf", planted_nonce)
    form = {
        "csrf_token": planted_token,
        "strategy": "sma_cross",
        "pair": "ETHUSDT",
        "timeframe": "4h",
    }
    r = c.post("/ui/runs/new", data=form, follow_redirects=False)
    assert r.status_code == 403 and "CSRF" in r.text
    form["csrf_token"] = csrf_of(c.get("/ui/runs/new").text)  # the session's own token
    assert c.post("/ui/runs/new", data=form, follow_redirects=False).status_code == 303


def test_every_response_carries_the_security_headers(app_env) -> None:
    c, _, _ = app_env
    for path in ("/ui/runs", "/api/backtest", "/healthz", "/ui/static/app.css", "/nope"):
        h = c.get(path).headers
        assert h["x-frame-options"] == "DENY", path
        assert h["x-content-type-options"] == "nosniff", path
        assert h["referrer-policy"] == "same-origin", path
        csp = h["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert "script-src 'self';" in csp, path  # no inline scripts
    assert "<script>" not in c.get("/ui/runs").text  # every UI script is a file


def test_an_unknown_host_header_is_refused(app_env) -> None:
    c, _, _ = app_env
    r = c.get("/ui/runs", headers={"host": "evil.example"})
    assert r.status_code == 400 and "Host" in r.json()["detail"]
    assert c.get("/healthz", headers={"host": "localhost:4010"}).status_code == 200


def test_cross_site_posts_from_a_browser_are_refused(app_env) -> None:
    c, keys, _ = app_env
    sign_in(c, keys["proposer"])
    form = {
        "csrf_token": csrf_of(c.get("/ui/runs/new").text),
        "strategy": "sma_cross",
        "pair": "ETHUSDT",
        "timeframe": "4h",
    }
    for headers, status in [
        *(
            ({"origin": o}, 403)
            for o in ("http://evil.example", "null", "http://testserver.evil.example")
        ),
        ({"referer": "http://evil.example/page"}, 403),
        ({"origin": "http://testserver"}, 303),
    ]:
        r = c.post("/ui/runs/new", data=form, headers=headers, follow_redirects=False)
        assert r.status_code == status, headers
    # an API client (a credential header, no cookie) is not a browser: its Origin is not checked
    c.cookies.clear()
    api = c.post(
        "/api/backtest/start",
        json={"strategy": "sma_cross"},
        headers={"x-admin-token": TOKEN, "origin": "http://elsewhere.example"},
    )
    assert api.status_code == 201, api.text
