"""The real ``sparkbt serve`` on loopback: slow request heads, proxy headers, server paths,
and the admin token's minimum length."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from sparkbt.adapters.cli.app import app as cli_app
from tests.adapters.http.conftest import TOKEN


def _closed_within(socks: list[socket.socket], seconds: float) -> float:
    """Seconds until every socket was closed by the server (asserting it is within ``seconds``)."""
    t0 = time.monotonic()
    for s in socks:
        s.settimeout(max(0.1, seconds - (time.monotonic() - t0)))
        assert s.recv(1024) == b"", "the server answered instead of closing"
    took = time.monotonic() - t0
    assert took < seconds
    return took


def test_half_sent_request_heads_are_closed_after_the_header_timeout(launch: Any) -> None:
    srv = launch(impl="mock", extra=("--header-timeout", "1"))
    socks = []
    for i in range(20):
        s = socket.create_connection(("127.0.0.1", srv.port))
        if i % 2:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        socks.append(s)
    try:
        _closed_within(socks, 4.0)
    finally:
        for s in socks:
            s.close()
    assert srv.get("/healthz").status_code == 200  # a whole request is still answered


def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(launch: Any) -> None:
    spoof = {"x-forwarded-for": "6.6.6.6"}
    srv = launch("direct", impl="mock")
    assert srv.post({"strategy": "sma_cross"}, headers=spoof).status_code == 201
    trusted = launch("proxied", impl="mock", extra=("--forwarded-allow-ips", "127.0.0.1"))
    assert trusted.post({"strategy": "sma_cross"}, headers=spoof).status_code == 201
    seen = []
    for s in (srv, trusted):
        lines = (s.evidence / "audit.jsonl").read_text().splitlines()
        seen.append([json.loads(line)["client_ip"] for line in lines if '"start"' in line])
    assert seen == [["127.0.0.1"], ["6.6.6.6"]]


def _walk_strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _walk_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _walk_strings(v)]
    return [value] if isinstance(value, str) else []


def test_no_answer_of_a_job_lifecycle_shows_a_server_path(launch: Any, tmp_path: Path) -> None:
    srv = launch(impl="engine")
    done = srv.start_job(strategy="sma_cross")
    answers = [
        srv.wait(done),
        srv.post({"strategy": "sma_cross", "pair": "NOPEUSDT"}).json(),
        srv.get("/api/backtest").json(),
        srv.get("/api/backtest/nope").json(),
        srv.get("/api/guard/policy").json(),
    ]
    assert answers[0]["status"] == "done" and answers[0]["evidence"].startswith("backtest/")
    pages = [srv.get(f"/ui/jobs/{done}").text]
    pages.append(srv.get(f"/ui/runs/{answers[0]['run_id']}").text)
    root = str(tmp_path)
    for text in [*(s for a in answers for s in _walk_strings(a)), *pages]:
        assert root not in text and os.path.realpath(root) not in text, text[:300]


def test_serve_refuses_a_short_admin_token() -> None:
    res = CliRunner().invoke(cli_app, ["serve"], env={"SPARKBT_ADMIN_TOKEN": "x"})
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "at least 24 characters" in lines[0], res.output
    assert len(TOKEN) >= 24
