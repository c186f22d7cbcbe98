"""The guardrails pages in Chromium on a real ``sparkbt serve``: an approver approves a pending
proposal by clicking, the proposer sees no approve button and a forged approval from the
proposer's own session is refused."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.research.policies import LENIENT
from tests.ui.e2e.conftest import (
    DESKTOP,
    PHONE,
    UIServer,
    shot,
    signin,
    start_ui_server,
    wait_charts_drawn,
)

PARAMSET = "eth-sma-4h"
EVAL_WAIT_S = 90.0  # the first evaluation of a fresh worker may compile the simulation kernel


def api(server: UIServer, method: str, path: str, role: str | None = None, **kw: Any) -> Any:
    headers = {"authorization": f"Bearer {server.keys[role]}"} if role else {}
    return httpx.request(method, f"{server.url}/api/guard{path}", headers=headers, timeout=30, **kw)


WIDEST = """() => Array.from(document.querySelectorAll("main *"))
  .filter(e => e.getBoundingClientRect().right > 391).slice(0, 8)
  .map(e => `${e.tagName}#${e.id}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)"""
"""JS: the first elements of the page reaching past a phone's width."""


def screenshots(page: Any, name: str) -> None:
    """Both screenshots; at phone width the page itself must not scroll sideways."""
    shot(page, name)
    page.set_viewport_size(PHONE)
    wide = page.evaluate(
        "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame("
        "() => r(document.documentElement.scrollWidth))))"
    )
    culprits = page.evaluate(WIDEST) if wide > PHONE["width"] else []
    page.set_viewport_size(DESKTOP)
    assert wide <= PHONE["width"], f"{name}: {wide} px wide at 390 px: {culprits}"


def propose(server: UIServer, fast: int) -> str:
    body = {"paramset": PARAMSET, "strategy": "sma_cross", "params": {"fast": fast, "slow": 30}}
    r = api(server, "POST", "/proposals", "proposer", json=body | {"note": f"fast {fast}"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def settled(server: UIServer, pid: str) -> dict[str, Any]:
    deadline = time.monotonic() + EVAL_WAIT_S
    while (p := api(server, "GET", f"/proposals/{pid}").json())["state"] == "evaluating":
        assert time.monotonic() < deadline, f"proposal {pid} still evaluating"
        time.sleep(0.1)
    return dict(p)


@pytest.fixture(scope="module")
def guard_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UIServer]:
    """A server with a lenient policy, an approved first version and a pending change."""
    root = tmp_path_factory.mktemp("ui-guard")
    policy = root / "lenient.toml"
    policy.write_text(LENIENT)
    srv = start_ui_server(root, extra=("--policy", str(policy)))
    try:
        first = propose(srv, 10)
        assert settled(srv, first)["state"] == "pending"
        r = api(srv, "POST", f"/proposals/{first}/approve", "approver", json={"comment": "v1"})
        assert r.status_code == 200, r.text
        srv.pending = propose(srv, 12)  # type: ignore[attr-defined]
        assert settled(srv, srv.pending)["state"] == "pending"  # type: ignore[attr-defined]
        yield srv
    finally:
        srv.stop()


def test_the_proposer_cannot_approve(page: Any, guard_server: UIServer, watch: Any) -> None:
    srv, pid = guard_server, guard_server.pending  # type: ignore[attr-defined]
    signin(page, srv, "proposer", f"/ui/guard/proposals/{pid}")
    assert page.inner_text("#proposal-state") == "pending"
    assert page.locator("#approve-button").count() == 0
    assert page.locator("#decide-form").count() == 0
    assert "may propose changes but not approve" in page.inner_text("#decide-why")
    # a forged approval from this session, with its own valid CSRF token
    watch.allow(r"HTTP 403: POST .*/approve")
    token = page.locator("header.top input[name=csrf_token]").input_value()
    sha = api(srv, "GET", f"/proposals/{pid}").json()["content_sha256"]
    r = page.request.post(
        f"{srv.url}/ui/guard/proposals/{pid}/approve",
        form={"csrf_token": token, "comment": "mine", "content_sha256": sha},
        max_redirects=0,
    )
    assert r.status == 403 and "may not approve" in r.text()
    after = api(srv, "GET", f"/proposals/{pid}").json()
    assert after["state"] == "pending" and after["approvals"] == []
    # the proposal form starts from the approved version
    page.goto(f"{srv.url}/ui/guard/paramsets/{PARAMSET}")
    with page.expect_navigation():
        page.click("#propose-link")
    assert page.input_value("#paramset") == PARAMSET
    assert page.input_value("#param\\.fast") == "10"
    screenshots(page, "guard-propose")


def test_an_approver_approves_by_clicking(page: Any, guard_server: UIServer) -> None:
    srv, pid = guard_server, guard_server.pending  # type: ignore[attr-defined]
    signin(page, srv, "approver", "/ui/guard")
    pending = page.locator(f'#state-pending tr[data-proposal="{pid}"] a').first
    assert pending.is_visible()
    screenshots(page, "guard-panel")
    with page.expect_navigation():
        pending.click()
    assert page.inner_text("#proposal-state") == "pending"
    assert "changed" in page.inner_text('#diff-table tr[data-field="params.fast"]')
    assert page.locator("#gates-table tbody tr").count() >= 5
    wait_charts_drawn(page, ["#guard-equity"])
    screenshots(page, "guard-proposal")
    page.fill("#comment", "fast 12 holds out of sample")
    with page.expect_navigation():
        page.click("#approve-button")
    assert re.search(rf"/ui/guard/proposals/{pid}$", page.url)
    assert page.inner_text("#proposal-state") == "approved"
    assert "fast 12 holds out of sample" in page.inner_text("#approvals-table")
    assert api(srv, "GET", f"/proposals/{pid}").json()["state"] == "approved"
    screenshots(page, "guard-proposal-approved")
    with page.expect_navigation():
        page.click(f'.crumbs a[href="/ui/guard/paramsets/{PARAMSET}"]')
    assert "approved now" in page.inner_text("#versions-table")
    screenshots(page, "guard-paramset")
    # a proposal opened while it is evaluating follows its evaluation to the end
    later = propose(srv, 14)
    page.goto(f"{srv.url}/ui/guard/proposals/{later}")
    page.wait_for_function(
        "() => document.querySelector('#proposal-state')?.textContent === 'pending'",
        timeout=int(EVAL_WAIT_S * 1000),
    )
    assert page.locator("#approve-button").is_visible()
