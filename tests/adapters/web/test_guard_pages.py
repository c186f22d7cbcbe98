"""Guardrails pages through the real app in process: the panel, a proposal's diff, gates and
evidence, and approving or rejecting from the page with the API's rules."""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sparkbt.adapters.http.app import create_app
from sparkbt.platform.proposals import GuardStore
from sparkbt.platform.settings import Settings
from sparkbt.platform.users import UserStore
from sparkbt.research.paramsets import version_of
from tests.research.policies import LENIENT

pytestmark = pytest.mark.timeout(120)

TOKEN = "ui-guard-test-admin-token"
PARAMSET = "eth-sma-4h"
USERS = {"alice": "proposer", "bob": "approver", "carl": "approver", "carol": "admin"}


def csrf_of(text: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', text)
    assert found, "the page has no CSRF field"
    return found.group(1)


class Env:
    """One app, its users' keys, and a signed-in browser (test client) per user."""

    def __init__(self, app: Any, settings: Settings, keys: dict[str, str]) -> None:
        self.app, self.settings, self.keys = app, settings, keys
        self.api = TestClient(app)
        self.browsers: dict[str, TestClient] = {}

    def browser(self, who: str) -> TestClient:
        """A client signed in as ``who`` through the sign-in form."""
        if who not in self.browsers:
            c = TestClient(self.app)
            token = csrf_of(c.get("/ui/signin").text)
            r = c.post(
                "/ui/signin",
                data={"csrf_token": token, "key": self.keys[who], "next": "/ui/guard"},
                follow_redirects=False,
            )
            assert r.status_code == 303 and r.headers["location"] == "/ui/guard", r.text
            self.browsers[who] = c
        return self.browsers[who]

    def propose(self, who: str, fast: int, name: str = PARAMSET) -> str:
        body = {
            "paramset": name,
            "strategy": "sma_cross",
            "params": {"fast": fast, "slow": 30},
            "note": f"fast {fast}",
        }
        r = self.api.post(
            "/api/guard/proposals", json=body, headers={"authorization": f"Bearer {self.keys[who]}"}
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def state(self, pid: str) -> dict[str, Any]:
        r = self.api.get(f"/api/guard/proposals/{pid}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    def settled(self, pid: str, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (p := self.state(pid))["state"] == "evaluating":
            job = p["evaluation"]
            assert job is None or job["status"] != "failed", job
            assert time.monotonic() < deadline, f"proposal {pid} still evaluating"
            time.sleep(0.05)
        return p

    def api_approve(self, pid: str, who: str) -> None:
        r = self.api.post(
            f"/api/guard/proposals/{pid}/approve",
            json={"comment": "ok"},
            headers={"authorization": f"Bearer {self.keys[who]}"},
        )
        assert r.status_code == 200, r.text

    def decide(self, who: str, pid: str, verb: str, **fields: str) -> Any:
        """POST the proposal page's form as ``who`` (CSRF token and content hash from the page)."""
        c = self.browser(who)
        page = c.get(f"/ui/guard/proposals/{pid}").text
        sha = re.search(r'name="content_sha256" value="([0-9a-f]+)"', page)
        data = {
            "csrf_token": csrf_of(page),
            "comment": f"{verb} by {who}",
            "content_sha256": sha.group(1) if sha else self.state(pid)["content_sha256"],
            **fields,
        }
        return c.post(f"/ui/guard/proposals/{pid}/{verb}", data=data, follow_redirects=False)

    def audit(self) -> list[dict[str, Any]]:
        return [json.loads(x) for x in self.settings.audit_file.read_text().splitlines()]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("ui-guard")
    policy = root / "lenient.toml"
    policy.write_text(LENIENT)
    (root / "data").mkdir()
    settings = Settings(
        admin_token=TOKEN,
        evidence_dir=root / "evidence",
        data_dir=root / "data",
        workers=1,
        policy_file=policy,
    )
    with UserStore(settings.db_file) as users:
        keys = {name: users.add(name, role)[1] for name, role in USERS.items()}
    app = create_app(settings)
    e = Env(app, settings, keys)
    with e.api:
        # a first version approved, then a change of it awaiting approval
        first = e.propose("alice", 10)
        assert e.settled(first)["state"] == "pending"
        e.api_approve(first, "bob")
        e.first = first  # type: ignore[attr-defined]
        e.pending = e.propose("alice", 12)  # type: ignore[attr-defined]
        assert e.settled(e.pending)["state"] == "pending"  # type: ignore[attr-defined]
        yield e


def section(page: str, state: str) -> str:
    found = re.search(rf'<section id="state-{state}".*?</section>', page, re.S)
    assert found, f"no {state} section"
    return found.group(0)


def test_panel_lists_param_sets_and_proposals_by_state(env: Env) -> None:
    page = env.api.get("/ui/guard")
    assert page.status_code == 200
    text = page.text
    first = env.state(env.first)  # type: ignore[attr-defined]
    row = re.search(rf'<tr data-paramset="{PARAMSET}">.*?</tr>', text, re.S)
    assert row, "the param set is listed"
    assert first["version"]["id"][:12] in row.group(0) and "bob" in row.group(0)
    assert env.pending in section(text, "pending")  # type: ignore[attr-defined]
    assert env.first in section(text, "approved")  # type: ignore[attr-defined]
    assert env.pending not in section(text, "approved")  # type: ignore[attr-defined]
    for state in ("evaluating", "blocked", "rejected", "stale"):
        section(text, state)


def test_proposal_page_shows_the_diff_gates_and_evidence(env: Env) -> None:
    pid = env.pending  # type: ignore[attr-defined]
    p = env.state(pid)
    text = env.api.get(f"/ui/guard/proposals/{pid[:10]}").text  # a unique prefix
    assert pid in text and 'data-state="pending"' in text
    fast = re.search(r'<tr data-field="params.fast" class="changed">(.*?)</tr>', text, re.S)
    assert fast, "the changed parameter is marked"
    assert "<del>10</del>" in fast.group(1) and "<ins>12</ins>" in fast.group(1)
    slow = re.search(r'<tr data-field="params.slow">(.*?)</tr>', text, re.S)
    assert slow and slow.group(1).count(">30<") == 2 and "changed" not in slow.group(1)
    assert 'data-field="strategy_sha256"' in text
    for gate in p["gates"]:
        row = re.search(rf'<tr data-gate="{gate["gate"]}">(.*?)</tr>', text, re.S)
        assert row, gate["gate"]
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
        assert f">{gate['result']}</span>" in cells[0]
        if isinstance(gate["value"], float):
            assert cells[1] == f"{gate['value']:.6g}"
        if gate["limit"] is not None:
            assert cells[2] == f"{gate['limit']:.6g}"
        assert cells[3] == gate["action"]
    # every stored evidence run is linked; the chart holds both versions' equity
    for run_id in p["evidence"]["runs"].values():
        assert f'href="/ui/runs/{run_id}"' in text
    chart = json.loads(
        html.unescape(re.search(r'id="guard-chart-data">(.*?)</script>', text, re.S).group(1))  # type: ignore[union-attr]
    )
    assert [s["label"] for s in chart["series"]] == ["approved", "proposed"]
    assert len(chart["t"]) == len(chart["series"][0]["values"]) <= 2 * 1500 + 4
    assert 'id="split-table"' in text and "Deflated Sharpe" in text
    assert "no sweep attached" in text and "signals on" in text
    # each evidence run opens as a report
    assert env.api.get(f"/ui/runs/{p['evidence']['runs']['proposed']}").status_code == 200


def test_who_sees_the_approve_button(env: Env) -> None:
    pid = env.pending  # type: ignore[attr-defined]
    anonymous = env.api.get(f"/ui/guard/proposals/{pid}").text
    assert 'id="approve-button"' not in anonymous and "Sign in as an approver" in anonymous
    mine = env.browser("alice").get(f"/ui/guard/proposals/{pid}").text
    assert 'id="approve-button"' not in mine and 'id="decide-form"' not in mine
    assert "may propose changes but not approve" in mine
    theirs = env.browser("carl").get(f"/ui/guard/proposals/{pid}").text
    assert 'id="approve-button"' in theirs and 'id="reject-button"' in theirs
    assert f'name="content_sha256" value="{env.state(pid)["content_sha256"]}"' in theirs
    assert 'for="comment"' in theirs and 'id="override_reason"' not in theirs


def test_forged_posts_change_nothing(env: Env) -> None:
    pid = env.pending  # type: ignore[attr-defined]
    lines = len(env.audit())
    # the proposer's own session and CSRF token: refused as the API refuses the key
    r = env.decide("alice", pid, "approve")
    assert r.status_code == 403 and "role proposer may not approve a proposal" in r.text
    # no CSRF token, then a wrong one
    c = env.browser("carl")
    for token in ({}, {"csrf_token": "0" * 64}):
        r = c.post(
            f"/ui/guard/proposals/{pid}/approve",
            data={"comment": "x", **token},
            follow_redirects=False,
        )
        assert r.status_code == 403 and "CSRF" in r.text
    # a key in no session at all
    r = env.api.post(f"/ui/guard/proposals/{pid}/approve", data={"comment": "x"})
    assert r.status_code == 403
    # content other than what the page showed
    r = env.decide("carl", pid, "approve", content_sha256="f" * 64)
    assert r.status_code == 409 and "review it again" in r.text
    assert env.state(pid)["state"] == "pending" and env.state(pid)["approvals"] == []
    assert len(env.audit()) == lines


def test_status_fragment_polls_while_evaluating(env: Env) -> None:
    with GuardStore(env.settings.db_file) as store:
        p = store.propose(version_of("btc-wait-1h", "sma_cross", "BTCUSDT", "1h"), None, "alice")
    text = env.browser("carl").get(f"/ui/guard/proposals/{p.id}").text
    assert 'data-state="evaluating"' in text
    assert f'hx-get="/ui/guard/proposals/{p.id}/status?was=evaluating"' in text
    assert 'id="approve-button"' not in text and "still being computed" in text
    assert 'id="reject-button"' in text  # a stuck evaluation can still be rejected
    r = env.decide("carl", p.id, "reject")
    assert r.status_code == 303 and env.state(p.id)["state"] == "rejected"
    done = env.api.get(f"/ui/guard/proposals/{env.first}/status?was=evaluating")  # type: ignore[attr-defined]
    assert done.headers.get("hx-refresh") == "true"
    assert env.api.get("/ui/guard/proposals/nothing-like-it").status_code == 404
    assert env.api.get("/ui/guard/paramsets/none-such").status_code == 404


def test_approve_from_the_page_then_reject_and_conflicts(env: Env) -> None:
    pid = env.pending  # type: ignore[attr-defined]
    r = env.decide("carl", pid, "approve")
    assert r.status_code == 303 and r.headers["location"] == f"/ui/guard/proposals/{pid}"
    after = env.state(pid)
    assert after["state"] == "approved"
    assert [(a["user"], a["comment"]) for a in after["approvals"]] == [("carl", "approve by carl")]
    line = env.audit()[-1]
    assert line["event"] == "guard_approved" and line["user"] == "carl"
    assert line["proposal_id"] == pid
    page = env.browser("carl").get(f"/ui/guard/proposals/{pid}").text
    assert 'data-state="approved"' in page and 'id="approve-button"' not in page
    ps = env.api.get(f"/ui/guard/paramsets/{PARAMSET}").text
    assert after["version"]["id"] in ps and "approved now" in ps
    assert ps.count('data-event="approved"') == 2
    # a proposal rejected from the page cannot be approved afterwards
    other = env.propose("alice", 14)
    assert env.settled(other)["state"] == "pending"
    r = env.decide("bob", other, "reject")
    assert r.status_code == 303 and env.state(other)["state"] == "rejected"
    assert env.audit()[-1]["event"] == "guard_rejected"
    r = env.decide("carl", other, "approve")
    assert r.status_code == 409 and f"proposal {other}: is already rejected" in r.text
    assert env.state(other)["state"] == "rejected"


def test_blocked_proposal_needs_an_admin_override(env: Env, tmp_path: Path) -> None:
    """A blocked proposal: the approver sees reject only; the admin gets the reason field."""
    with GuardStore(env.settings.db_file) as store:
        p = store.propose(version_of("sol-sma-4h", "sma_cross", "SOLUSDT", "4h"), None, "alice")
        gates = [
            {
                "gate": "max_drawdown",
                "result": "block",
                "value": 0.6,
                "limit": 0.25,
                "action": "block",
                "message": "max drawdown 0.6 > 0.25",
            }
        ]
        store.record_evaluation(p.id, gates, "0" * 64, {"runs": {}})
    bob = env.browser("bob").get(f"/ui/guard/proposals/{p.id}").text
    assert 'id="approve-button"' not in bob and 'id="reject-button"' in bob
    assert "only an admin may approve it" in bob
    carol = env.browser("carol").get(f"/ui/guard/proposals/{p.id}").text
    assert 'id="override_reason"' in carol and "Override and approve" in carol
    r = env.decide("bob", p.id, "approve")
    assert r.status_code == 409 and "only an admin may approve it" in r.text
    r = env.decide("carol", p.id, "approve", override_reason="known drawdown, small size")
    assert r.status_code == 303 and env.state(p.id)["state"] == "approved"
    assert env.audit()[-1]["event"] == "guard_override"


def test_an_approver_may_not_approve_their_own_proposal(env: Env) -> None:
    with GuardStore(env.settings.db_file) as store:
        p = store.propose(version_of("ada-sma-1d", "sma_cross", "ADAUSDT", "1d"), None, "bob")
        store.record_evaluation(p.id, [], "0" * 64, {})
    page = env.browser("bob").get(f"/ui/guard/proposals/{p.id}").text
    assert 'id="approve-button"' not in page and "You proposed this change" in page
    r = env.decide("bob", p.id, "approve")
    assert r.status_code == 403 and f"proposal {p.id}: bob proposed it" in r.text
    assert env.state(p.id)["state"] == "pending"


def test_a_rollback_is_marked_in_the_history(env: Env) -> None:
    first = env.state(env.first)  # type: ignore[attr-defined]
    if env.state(env.pending)["state"] != "approved":  # type: ignore[attr-defined]
        env.api_approve(env.pending, "bob")  # type: ignore[attr-defined]
    again = env.propose("alice", 10)  # the first version again
    assert env.settled(again)["version"]["id"] == first["version"]["id"]
    env.api_approve(again, "carl")
    page = env.api.get(f"/ui/guard/paramsets/{PARAMSET}").text
    assert "rollback to an earlier version" in page and "approved again (rollback)" in page


def test_evidence_is_read_defensively() -> None:
    """Evidence with parts missing, unknown or of another shape renders as missing."""
    from sparkbt.adapters.web.guarddata import chart_payload, diff_rows, evidence_view

    view = evidence_view({"runs": {"proposed": "abc", "extra_thing": "def"}, "split": None})
    assert [r["label"] for r in view["runs"]] == ["proposed", "extra_thing"]
    assert view["split"]["rows"] == [] and view["pbo"]["value"] is None
    assert evidence_view(None)["present"] is False
    assert evidence_view({"neighbourhood": [1, {"param": "fast"}]})["neighbourhood"][0]["param"]

    def gone(run_id: str) -> Any:
        raise FileNotFoundError(run_id)

    chart = chart_payload(gone, {"proposed": "abc"})
    assert chart["series"] == [] and chart["missing"] == ["proposed (abc)"]
    old = version_of("x", "sma_cross", "ETHUSDT", "4h").to_dict()
    new = old | {"strategy_sha256": "f" * 64}
    rows = diff_rows(new, old, None)
    code = next(r for r in rows if r["field"] == "strategy_sha256")
    assert code["changed"] and code["note"] == "strategy code changed"
    assert code["proposed"] == "f" * 12
    assert not any(r["changed"] for r in rows if r["field"] != "strategy_sha256")


def test_propose_from_the_form(env: Env) -> None:
    c = env.browser("alice")
    form = c.get(f"/ui/guard/propose?paramset={PARAMSET}").text
    approved = env.api.get(f"/api/guard/paramsets/{PARAMSET}").json()["approved"]
    fast = approved["params"]["fast"]
    assert re.search(rf'id="param.fast" name="param.fast" [^>]*value="{fast}"', form)
    data = {
        "csrf_token": csrf_of(form),
        "paramset": PARAMSET,
        "strategy": "sma_cross",
        "pair": "ETHUSDT",
        "timeframe": "4h",
        "param.fast": "11",
        "param.slow": "30",
        "note": "from the form",
    }
    bad = c.post("/ui/guard/propose", data=data | {"param.fast": "-3"}, follow_redirects=False)
    assert bad.status_code == 422 and 'class="error"' in bad.text
    # a sweep that is not stored: refused with the API's own line
    no_sweep = c.post("/ui/guard/propose", data=data | {"sweep_id": "abc123"})
    api = env.api.post(
        "/api/guard/proposals",
        json={"paramset": PARAMSET, "strategy": "sma_cross", "sweep_id": "abc123"},
        headers={"authorization": f"Bearer {env.keys['alice']}"},
    )
    assert no_sweep.status_code == api.status_code == 422
    assert api.json()["detail"] in html.unescape(no_sweep.text)
    r = c.post("/ui/guard/propose", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    pid = r.headers["location"].rsplit("/", 1)[1]
    p = env.settled(pid)
    assert p["proposer"] == "alice" and p["note"] == "from the form"
    assert p["version"]["params"]["fast"] == 11 and p["base_version_id"] == approved["id"]
    assert any(
        a["event"] == "guard_proposed" and a.get("proposal_id") == pid and a["user"] == "alice"
        for a in env.audit()
    )
    # not signed in, or without the form's CSRF token: refused, nothing proposed
    before = len(env.api.get("/api/guard/proposals").json()["proposals"])
    assert env.api.post("/ui/guard/propose", data=data).status_code == 403
    assert c.post("/ui/guard/propose", data=data | {"csrf_token": ""}).status_code == 403
    assert len(env.api.get("/api/guard/proposals").json()["proposals"]) == before
