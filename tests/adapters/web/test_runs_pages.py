"""Run pages, sign-in and CSRF, through the real app in process (FastAPI's test client)."""

from __future__ import annotations

import html
import io
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

import sparkbt as sb
from sparkbt.adapters.http.app import create_app
from sparkbt.platform.settings import Settings
from sparkbt.platform.users import UserStore

TOKEN = "ui-test-admin-token"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(client: TestClient, key: str) -> None:
    token = csrf_of(client.get("/ui/signin").text)
    r = client.post(
        "/ui/signin",
        data={"csrf_token": token, "key": key, "next": "/ui/runs"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


def make_client(root: Path, private: bool = False) -> tuple[TestClient, dict[str, str]]:
    settings = Settings(
        admin_token=TOKEN, evidence_dir=root / "evidence", workers=1, private=private
    )
    users = UserStore(settings.db_file)
    keys = {role: users.add(f"{role}-1", role)[1] for role in ("proposer", "approver")}
    users.close()
    return TestClient(create_app(settings)), keys


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("ui")
    res = sb.backtest(sb.sample_candles(), "sma_cross", fast=10, slow=30, sl_stop=0.05)
    res.save(root / "evidence")
    other = sb.backtest(sb.sample_candles(), "ema_cross")
    other.save(root / "evidence")
    client, keys = make_client(root)
    with client:
        yield {"client": client, "keys": keys, "run": res, "other": other, "root": root}


def test_runs_list_shows_stored_runs_and_filters(env: dict[str, Any]) -> None:
    c = env["client"]
    page = c.get("/ui/runs")
    assert page.status_code == 200
    assert env["run"].run_id[:12] in page.text and env["other"].run_id[:12] in page.text
    only = c.get("/ui/runs/rows", params={"strategy": "ema_cross"}).text
    assert env["other"].run_id[:12] in only and env["run"].run_id[:12] not in only
    none = c.get("/ui/runs/rows", params={"status": "failed"}).text
    assert "No runs yet" in none
    assert c.get("/ui/", follow_redirects=False).headers["location"] == "/ui/runs"


def test_report_page_shows_provenance_and_stats(env: dict[str, Any]) -> None:
    run = env["run"]
    html = env["client"].get(f"/ui/runs/{run.run_id[:10]}").text
    assert run.run_id in html
    assert "synthetic sample data" in html
    assert run.data_sha256 in html  # full sha in the title attribute
    from sparkbt.engine.result import format_stat

    for key in ("total_return", "sharpe", "max_drawdown", "total_trades"):
        row = re.search(
            rf'data-key="{key}"><th scope="row">[^<]*</th><td class="num">([^<]*)<', html
        )
        assert row and row.group(1) == format_stat(key, run.stats[key]), key
    data = json.loads(
        re.search(r'id="report-data">(.*?)</script>', html, re.S).group(1)  # type: ignore[union-attr]
    )
    assert data["trade_count"] == len(run.trades)
    assert data["candles"] is not None


def test_report_of_unknown_or_non_run_is_404(env: dict[str, Any]) -> None:
    c = env["client"]
    r = c.get("/ui/runs/zzzzzz")
    assert r.status_code == 404 and "no stored run with id" in r.text and "/evidence" not in r.text
    assert c.get("/ui/runs/..%2F..%2Fetc").status_code == 404


def test_trades_csv_route_equals_trades_parquet(env: dict[str, Any]) -> None:
    run = env["run"]
    r = env["client"].get(f"/ui/runs/{run.run_id}/trades.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    back = pd.read_csv(io.StringIO(r.text))
    assert len(back) == len(run.trades)
    assert back["pnl"].tolist() == run.trades["pnl"].tolist()
    assert back["exit_reason"].tolist() == run.trades["exit_reason"].tolist()


def test_start_form_fields_come_from_the_schema(env: dict[str, Any]) -> None:
    c = env["client"]
    html = c.get("/ui/runs/new").text
    for name in ("param.fast", "param.slow", "opt.fees", "opt.sl_stop", "opt.fill", "opt.gates"):
        assert f'id="{name}"' in html and f'<label for="{name}"' in html, name
    frag = c.get("/ui/runs/new/params", params={"strategy": "rsi_reversion"}).text
    assert 'id="param.fast"' not in frag and "Parameters of rsi_reversion" in frag
    bad = c.get("/ui/runs/new/params", params={"strategy": "/etc/passwd.py:f"})
    assert bad.status_code == 422 and "not a file path" in bad.text
    # an option off by default (exchange rules) is offered as "none" first, and selected
    select = html.split('id="opt.exchange_rules"', 1)[1].split("</select>", 1)[0]
    assert '<option value="" selected>none</option>' in select
    assert '<option value="btcturk">btcturk</option>' in select


def _start(c: TestClient, **fields: str) -> Any:
    token = csrf_of(c.get("/ui/runs/new").text)
    data = {"csrf_token": token, "strategy": "sma_cross", "pair": "ETHUSDT", "timeframe": "4h"}
    return c.post("/ui/runs/new", data=data | fields, follow_redirects=False)


def test_start_needs_sign_in_and_a_csrf_token(tmp_path: Path) -> None:
    client, keys = make_client(tmp_path)
    with client as c:
        r = _start(c, **{"param.fast": "10"})
        assert r.status_code == 401 and "sign in" in r.text
        sign_in(c, keys["proposer"])
        forged = c.post("/ui/runs/new", data={"strategy": "sma_cross"}, follow_redirects=False)
        assert forged.status_code == 403 and "CSRF" in forged.text
        wrong = c.post(
            "/ui/runs/new",
            data={"strategy": "sma_cross", "csrf_token": "0" * 64},
            follow_redirects=False,
        )
        assert wrong.status_code == 403
        assert c.get("/api/backtest").json()["count"] == 0  # nothing was queued


def test_form_refuses_what_the_api_refuses_with_the_same_line(tmp_path: Path) -> None:
    client, keys = make_client(tmp_path)
    with client as c:
        sign_in(c, keys["proposer"])
        cases = [
            ({"param.fast": "ten"}, {"params": {"fast": "ten"}}),
            ({"param.fast": "40", "param.slow": "30"}, {"params": {"fast": "40", "slow": "30"}}),
            ({"opt.sl_stop": "1.5"}, {"options": {"sl_stop": 1.5}}),
            ({"opt.gates": "max_drawdon=0.2"}, None),
            ({"opt.fees": "lots"}, None),
        ]
        for form, body in cases:
            r = _start(c, **form)
            assert r.status_code == 422, (form, r.status_code)
            found = re.search(r'<p class="error">([^<]*)</p>', r.text)
            assert found, form
            line = html.unescape(found.group(1))
            if body is not None:
                api = c.post(
                    "/api/backtest/start",
                    json={"strategy": "sma_cross"} | body,
                    headers={"authorization": f"Bearer {keys['proposer']}"},
                )
                assert api.status_code == 422
                assert line == api.json()["detail"], form
            else:
                assert "max_drawdown" in line or "fees" in line
            # the form comes back with what was typed
            for value in form.values():
                assert f'value="{value}"' in r.text
        assert c.get("/api/backtest").json()["count"] == 0


def test_start_from_form_runs_and_reports(tmp_path: Path) -> None:
    client, keys = make_client(tmp_path)
    with client as c:
        sign_in(c, keys["proposer"])
        r = _start(c, **{"param.fast": "12", "param.slow": "40", "opt.fees": "0.001"})
        assert r.status_code == 303
        job_url = r.headers["location"]
        assert job_url.startswith("/ui/jobs/")
        job_id = job_url.rsplit("/", 1)[1]
        job = c.get(f"/api/backtest/{job_id}").json()
        assert job["user"] == "proposer-1"
        assert job["params"] == {"fast": 12, "slow": 40}
        deadline = time.monotonic() + 60
        while job["status"] not in ("done", "failed") and time.monotonic() < deadline:
            time.sleep(0.2)
            job = c.get(f"/api/backtest/{job_id}").json()
        assert job["status"] == "done", job
        status = c.get(f"{job_url}/status").text
        assert f'href="/ui/runs/{job["run_id"]}"' in status and "hx-trigger" not in status
        expected = sb.backtest(sb.sample_candles(), "sma_cross", fast=12, slow=40, fees=0.001)
        assert job["run_id"] == expected.run_id
        assert c.get(f"/ui/runs/{job['run_id']}").status_code == 200


def test_sign_in_cookie_is_httponly_and_strict(tmp_path: Path) -> None:
    client, keys = make_client(tmp_path)
    with client as c:
        token = csrf_of(c.get("/ui/signin").text)
        bad = c.post("/ui/signin", data={"csrf_token": token, "key": "nope"})
        assert bad.status_code == 401 and "not valid" in bad.text
        r = c.post(
            "/ui/signin",
            data={"csrf_token": token, "key": keys["approver"], "next": "https://evil.example/"},
            follow_redirects=False,
        )
        assert r.headers["location"] == "/ui/runs"  # never off-site
        cookie = r.headers["set-cookie"].lower()
        assert "sparkbt_session=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
        assert keys["approver"].lower() not in cookie  # the cookie holds a session id, not the key
        assert "approver-1" in c.get("/ui/runs").text
        token = csrf_of(c.get("/ui/runs").text)
        out = c.post("/ui/signout", data={"csrf_token": token}, follow_redirects=False)
        assert out.status_code == 303
        assert "approver-1" not in c.get("/ui/runs").text


def test_private_service_pages_need_a_key(tmp_path: Path) -> None:
    client, keys = make_client(tmp_path, private=True)
    with client as c:
        r = c.get("/ui/runs", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/ui/signin")
        assert c.get("/ui/runs/rows", follow_redirects=False).status_code == 303
        assert c.get("/ui/signin").status_code == 200  # the way in stays open
        sign_in(c, keys["proposer"])
        assert c.get("/ui/runs").status_code == 200


def test_static_assets_and_favicon_are_served(env: dict[str, Any]) -> None:
    c = env["client"]
    for path in ("/ui/static/app.css", "/ui/static/report.js", "/ui/static/vendor/htmx.min.js"):
        assert c.get(path).status_code == 200, path
    assert c.get("/favicon.ico").headers["content-type"] == "image/svg+xml"


def test_runs_list_names_the_options_that_differ_from_the_defaults() -> None:
    from sparkbt.adapters.web.runs import options_text
    from sparkbt.engine.options import Config

    assert options_text(Config().to_dict()) == ""
    given = Config(fees=0.001, sl_stop=0.05, gates={"max_drawdown": 0.2}).to_dict()
    assert options_text(given) == "fees=0.001 sl_stop=0.05 gate max_drawdown=0.2"


def test_every_page_of_a_private_service_needs_a_key(tmp_path: Path) -> None:
    client, _keys = make_client(tmp_path, private=True)
    with client as c:
        routes = list(c.app.routes)  # type: ignore[attr-defined]
        for r in list(routes):  # routers included lazily hold their routes in original_router
            routes += getattr(getattr(r, "original_router", None), "routes", [])
        pages = sorted(
            {
                r.path
                for r in routes
                if getattr(r, "path", "").startswith("/ui")
                and "GET" in (getattr(r, "methods", None) or ())
                and r.path not in ("/ui", "/ui/", "/ui/signin")
            }
        )
        assert len(pages) >= 15, pages
        for path in pages:
            url = re.sub(r"\{[^}]+\}", "abc123", path)
            r = c.get(url, follow_redirects=False)
            assert r.status_code == 303, (path, r.status_code)
            assert r.headers["location"].startswith("/ui/signin"), path


def test_form_refuses_a_huge_timeframe_in_one_line(tmp_path: Path) -> None:
    client, keys = make_client(tmp_path)
    with client as c:
        sign_in(c, keys["proposer"])
        r = _start(c, timeframe="99999999999d")
        assert r.status_code == 422
        found = re.search(r'<p class="error">([^<]*)</p>', r.text)
        assert found and "timeframe: at most 3650d" in html.unescape(found.group(1))
        assert c.get("/api/backtest").json()["count"] == 0
