"""The guardrails over HTTP, end to end on a real server: proposals, their evaluation in
the job queue, approvals, stale and blocked proposals, overrides and param sets."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from sparkbt.platform.users import UserStore
from sparkbt.research.policy import default_policy, load_policy
from tests.research.policies import LENIENT

from .conftest import SERVE, TOKEN, Server, wait_exited

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

PARAMSET = "eth-sma-4h"

STRICT = LENIENT.replace("[gates.max_drawdown]\nlimit = 1.0", "[gates.max_drawdown]\nlimit = 0.3")


def guarded(launch: Any, name: str, policy: Path, **kw: Any) -> tuple[Server, Guard]:
    """Launch a server under ``policy`` (``launch`` kwargs in ``kw``) and its Guard helper."""
    srv = launch(name, extra=("--policy", str(policy)), **kw)
    return srv, Guard(srv)


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


class Guard:
    """HTTP helpers for one server and its users' keys."""

    def __init__(self, srv: Server) -> None:
        self.srv = srv
        self.keys: dict[str, str] = {}
        with UserStore(srv.evidence / "service" / "jobs.sqlite") as users:
            for name, role in (
                ("alice", "proposer"),
                ("bob", "approver"),
                ("carl", "approver"),
                ("carol", "admin"),
            ):
                self.keys[name] = users.add(name, role)[1]

    def post(self, path: str, who: str | None, body: Any = None) -> httpx.Response:
        headers = bearer(self.keys[who]) if who else {}
        return httpx.post(
            f"{self.srv.url}/api/guard{path}", json=body or {}, headers=headers, timeout=30
        )

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(f"{self.srv.url}/api/guard{path}", timeout=30, **kw)

    def propose(self, who: str, fast: int, slow: int = 30, **extra: Any) -> str:
        body = {
            "paramset": PARAMSET,
            "strategy": "sma_cross",
            "pair": "ETHUSDT",
            "timeframe": "4h",
            "params": {"fast": fast, "slow": slow},
            "note": f"fast {fast}",
            **extra,
        }
        created = self.submit(who, body)
        assert created["status"] == "evaluating"
        return str(created["id"])

    def submit(self, who: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a proposal ``body`` as ``who``; the created proposal (a 201 is asserted)."""
        resp = self.post("/proposals", who, body)
        assert resp.status_code == 201, resp.text
        return dict(resp.json())

    def settled(self, pid: str, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            resp = self.get(f"/proposals/{pid}")
            assert resp.status_code == 200, resp.text
            prop = resp.json()
            if prop["state"] != "evaluating":
                return dict(prop)
            job = prop["evaluation"]
            assert job is None or job["status"] != "failed", job
            assert time.monotonic() < deadline, f"proposal {pid} still evaluating"
            time.sleep(0.05)

    def approve(self, pid: str, who: str, **body: Any) -> httpx.Response:
        return self.post(f"/proposals/{pid}/approve", who, {"comment": "ok", **body})


def audit(srv: Server) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (srv.evidence / "audit.jsonl").read_text().splitlines()]


def one_line(resp: httpx.Response, status: int) -> str:
    assert resp.status_code == status, resp.text
    detail = resp.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail
    return detail


@pytest.fixture
def policy_files(tmp_path: Path) -> tuple[Path, Path]:
    lenient, strict = tmp_path / "lenient.toml", tmp_path / "strict.toml"
    lenient.write_text(LENIENT)
    strict.write_text(STRICT)
    return lenient, strict


def test_the_approval_workflow(launch: Any, policy_files: tuple[Path, Path]) -> None:
    lenient, _ = policy_files
    srv, g = guarded(launch, "guard", lenient, impl="engine", workers=2)

    # the policy in force
    policy = g.get("/policy").json()
    assert policy["sha256"] == load_policy(lenient).sha256 != default_policy().sha256
    assert policy["gates"]["max_drawdown"] == {"limit": 1.0, "action": "block"}

    # who may propose, and what
    one_line(g.post("/proposals", None, {"paramset": PARAMSET, "strategy": "sma_cross"}), 401)
    bad = {"paramset": PARAMSET, "strategy": "evil.py:f"}
    assert "not a file path" in one_line(g.post("/proposals", "alice", bad), 422)
    bad = {"paramset": PARAMSET, "strategy": "sma_cross", "params": {"fast": -3}}
    one_line(g.post("/proposals", "alice", bad), 422)
    bad = {"paramset": "Bad Name", "strategy": "sma_cross"}
    one_line(g.post("/proposals", "alice", bad), 422)
    bad = {"paramset": PARAMSET, "strategy": "sma_cross", "surprise": 1}
    one_line(g.post("/proposals", "alice", bad), 422)
    one_line(g.get("/paramsets/" + PARAMSET), 404)
    one_line(g.get("/proposals/nope"), 404)

    # a proposal is evaluated by a job, then awaits approval
    p1 = g.propose("alice", 10)
    first = g.settled(p1)
    assert first["state"] == "pending", first["gates"]
    assert first["proposer"] == "alice" and first["base_version_id"] is None
    assert first["policy_sha256"] == policy["sha256"]
    assert {gate["gate"] for gate in first["gates"]} >= {"max_drawdown", "lookahead"}
    assert first["evidence"]["runs"]["proposed"]
    assert first["evidence"]["headline"]["proposed"]["total_trades"] > 0
    assert first["evaluation"]["status"] == "done"
    evaluation = srv.get(f"/api/backtest/{first['evaluation']['job_id']}").json()
    assert evaluation["guard"]["proposal_id"] == p1 and evaluation["user"] == "alice"
    listed = g.get("/proposals", params={"status": "pending"}).json()
    assert [p["id"] for p in listed["proposals"]] == [p1]

    # a proposer may not approve; an approver may
    assert "may not approve" in one_line(g.approve(p1, "alice"), 403)
    resp = g.approve(p1, "bob")
    assert resp.status_code == 200, resp.text
    assert resp.json()["state"] == "approved"
    v1 = first["version"]["id"]
    ps = g.get(f"/paramsets/{PARAMSET}").json()
    assert ps["approved"]["id"] == v1 and ps["approved_proposal_id"] == p1

    # no self-approval, even for an approver
    p2 = g.propose("bob", 12)
    p3 = g.propose("alice", 14)
    second, third = g.settled(p2), g.settled(p3)
    assert second["state"] == third["state"] == "pending"
    assert second["base_version_id"] == v1
    assert [c["field"] for c in second["changes"]] == ["params.fast"]
    assert "proposed it" in one_line(g.approve(p2, "bob"), 403)

    # approving p2 makes p3 (made against v1) stale: it can no longer be approved
    assert g.approve(p2, "carl").json()["state"] == "approved"
    assert g.get(f"/proposals/{p3}").json()["state"] == "stale"
    one_line(g.approve(p3, "carol"), 409)
    # so is a change prepared against the old version
    old = {
        "paramset": PARAMSET,
        "strategy": "sma_cross",
        "params": {"fast": 15, "slow": 30},
        "base_version_id": v1,
    }
    one_line(g.post("/proposals", "alice", old), 409)

    # a rejected proposal cannot be approved later
    p4 = g.propose("alice", 16)
    assert g.settled(p4)["state"] == "pending"
    one_line(g.post(f"/proposals/{p4}/reject", "alice", {"comment": "mine"}), 403)
    resp = g.post(f"/proposals/{p4}/reject", "bob", {"comment": "too soon"})
    assert resp.status_code == 200 and resp.json()["state"] == "rejected"
    assert "rejected" in one_line(g.approve(p4, "carl"), 409)

    # two approvers racing: exactly one decision
    p5 = g.propose("alice", 18)
    fifth = g.settled(p5)
    assert fifth["state"] == "pending"
    results: dict[str, int] = {}
    barrier = threading.Barrier(2)

    def race(who: str) -> None:
        barrier.wait()
        results[who] = g.approve(p5, who).status_code

    threads = [threading.Thread(target=race, args=(who,)) for who in ("bob", "carl")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == [200, 409], results
    final = g.get(f"/proposals/{p5}").json()
    assert final["state"] == "approved" and len(final["approvals"]) == 1
    assert g.get(f"/paramsets/{PARAMSET}").json()["approved"]["id"] == fifth["version"]["id"]

    # the approved version of a param set runs as a backtest
    resp = srv.post({"paramset": PARAMSET, "notes": "production"})
    assert resp.status_code == 201, resp.text
    job = srv.wait(resp.json()["id"])
    assert job["status"] == "done", job["error"]
    assert job["params"] == {"fast": 18, "slow": 30}
    assert (job["paramset"], job["version_id"]) == (PARAMSET, fifth["version"]["id"])
    one_line(srv.post({"paramset": "no-such-set"}), 404)
    assert "drop" in one_line(srv.post({"paramset": PARAMSET, "params": {"fast": 3}}), 422)

    # metrics and audit
    m = srv.metrics()
    assert m[("guard_proposals_total", (("status", "approved"),))] == 3
    assert m[("guard_proposals_total", (("status", "evaluating"),))] == 5
    assert m[("guard_proposals_total", (("status", "rejected"),))] == 1
    assert m[("guard_proposals_total", (("status", "stale"),))] >= 1
    assert m[("guard_gate_results_total", (("gate", "lookahead"), ("result", "pass")))] == 5
    assert m[("guard_evaluation_seconds_count", ())] == 5
    events = audit(srv)
    kinds = [e["event"] for e in events]
    assert kinds.count("guard_proposed") == 5 and kinds.count("guard_evaluated") == 5
    approved = [e for e in events if e["event"] == "guard_approved"]
    assert [(e["proposal_id"], e["user"]) for e in approved[:2]] == [(p1, "bob"), (p2, "carl")]
    rejected = [e for e in events if e["event"] == "guard_rejected"]
    assert [(e["proposal_id"], e["user"], e["comment"]) for e in rejected] == [
        (p4, "bob", "too soon")
    ]
    text = (srv.evidence / "audit.jsonl").read_text()
    assert all(key not in text for key in g.keys.values())


def test_a_blocked_proposal_needs_an_admin_override(
    launch: Any, policy_files: tuple[Path, Path]
) -> None:
    _, strict = policy_files
    srv, g = guarded(launch, "strict", strict, impl="engine")
    pid = g.propose("alice", 10)
    prop = g.settled(pid)
    assert prop["state"] == "blocked"
    blocking = [x["gate"] for x in prop["gates"] if x["result"] == "block"]
    assert blocking == ["max_drawdown"]

    assert "max_drawdown" in one_line(g.approve(pid, "bob"), 409)
    one_line(g.approve(pid, "carol"), 409)  # an admin needs a reason
    one_line(g.approve(pid, "carol", override_reason="   "), 409)
    resp = g.approve(pid, "carol", override_reason="drawdown accepted for the pilot")
    assert resp.status_code == 200, resp.text
    assert resp.json()["state"] == "approved"
    assert resp.json()["approvals"][0]["override_reason"] == "drawdown accepted for the pilot"
    assert g.get(f"/paramsets/{PARAMSET}").json()["approved"]["id"] == prop["version"]["id"]

    overrides = [e for e in audit(srv) if e["event"] == "guard_override"]
    assert len(overrides) == 1
    assert overrides[0]["user"] == "carol" and overrides[0]["proposal_id"] == pid
    assert overrides[0]["override_reason"] == "drawdown accepted for the pilot"
    m = srv.metrics()
    assert m[("guard_proposals_total", (("status", "blocked"),))] == 1
    assert m[("guard_gate_results_total", (("gate", "max_drawdown"), ("result", "block")))] == 1


def test_two_approvals_when_the_service_asks_for_two(
    launch: Any, policy_files: tuple[Path, Path]
) -> None:
    lenient, _ = policy_files
    srv = launch("two", impl="engine", extra=("--policy", str(lenient), "--approvals", "2"))
    g = Guard(srv)
    pid = g.settled(g.propose("alice", 10))["id"]
    first = g.approve(pid, "bob")
    assert first.status_code == 200, first.text
    assert first.json()["state"] == "pending"  # one of two
    one_line(g.approve(pid, "bob"), 409)  # the same approver twice does not count twice
    second = g.approve(pid, "carl")
    assert second.status_code == 200 and second.json()["state"] == "approved", second.text


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"strategy": "sma_crss"}, "did you mean 'sma_cross'"),
        ({"params": {"fats": 5}}, "unknown parameter 'fats'"),
        ({"params": {"fast": 50, "slow": 20}}, "fast < slow"),
        ({"options": {"sl_stop": 2}}, "sl_stop"),
        ({"pair": "DOGEUSDT"}, "DOGEUSDT"),
        ({"paramset": "Bad Name"}, "name"),
        ({"sweep_id": "0123456789abcdef0123"}, "sweep_id: no stored sweep"),
        ({"sweep_id": "../../etc"}, "sweep_id: no stored sweep"),
    ],
)
def test_bad_proposals_are_one_line_and_write_nothing(
    launch: Any, change: dict[str, Any], words: str
) -> None:
    srv = launch("bad", impl="mock")
    g = Guard(srv)
    body = {
        "paramset": PARAMSET,
        "strategy": "sma_cross",
        "pair": "ETHUSDT",
        "timeframe": "4h",
        "params": {"fast": 10, "slow": 30},
        **change,
    }
    detail = one_line(g.post("/proposals", "alice", body), 422)
    assert words in detail, detail
    assert g.get("/proposals").json()["count"] == 0
    assert g.get(f"/paramsets/{PARAMSET}").status_code == 404
    assert srv.get("/api/backtest").json()["jobs"] == []
    log = srv.evidence / "audit.jsonl"
    assert not log.exists() or "guard_proposed" not in log.read_text()


def test_the_default_policy_is_in_force_without_a_file(launch: Any) -> None:
    srv = launch("default", impl="mock")
    policy = srv.get("/api/guard/policy").json()
    assert policy["sha256"] == default_policy().sha256
    assert policy["source"] == "default"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (None, "policy file not found"),
        ("[gates.max_drawdown]\nlimit = 7\n", "limit must be in"),
        ("[gates.max_drawdon]\nlimit = 0.2\n", "did you mean 'max_drawdown'"),
        ("not toml [", "invalid TOML"),
    ],
)
def test_a_bad_policy_file_stops_the_start(tmp_path: Path, text: str | None, words: str) -> None:
    path = tmp_path / "policy.toml"
    if text is not None:
        path.write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARKBT_", "BACKTEST_"))}
    env["SPARKBT_ADMIN_TOKEN"] = TOKEN
    proc = subprocess.run(
        [*SERVE, "--port", "1", "--policy", str(path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], proc.stderr


def test_evaluations_survive_a_kill_9(launch: Any, policy_files: tuple[Path, Path]) -> None:
    lenient, _ = policy_files
    srv, g = guarded(launch, "crash", lenient, impl="mock", workers=1, mock_seconds=2)
    busy = srv.start_job()  # the only worker is busy: the evaluations wait in the queue
    srv.wait(busy, until=("running",))
    queued = g.propose("alice", 10)
    orphaned = g.propose("alice", 11)
    assert g.get(f"/proposals/{queued}").json()["evaluation"]["status"] == "queued"
    lost = g.get(f"/proposals/{orphaned}").json()["evaluation"]["job_id"]

    orphans = srv.kill9()
    assert not wait_exited(orphans, timeout=15)
    # as if the server had died between recording a proposal and queueing its evaluation
    with contextlib.closing(sqlite3.connect(srv.evidence / "service" / "jobs.sqlite")) as db:
        db.execute("DELETE FROM jobs WHERE id = ?", (lost,))
        db.commit()

    srv.start()
    for pid in (queued, orphaned):
        prop = g.settled(pid)
        assert prop["state"] == "pending", prop["gates"]
        assert prop["evaluation"]["status"] == "done"
    assert g.get(f"/proposals/{orphaned}").json()["evaluation"]["job_id"] != lost
    assert srv.wait(busy)["status"] == "done"


PEEK = '''\
import pandas as pd


def peek(candles: pd.DataFrame, window: int = 5) -> pd.Series:
    """Long when the next bar closes above its SMA: it reads the future."""
    close = candles["close"]
    return (close.shift(-1) > close.rolling(window).mean()).astype(float)
'''

# Waits (bounded) while the file ``hold`` exists next to it; tells it has started by
# writing ``started``: an evaluation of it can be caught while it runs.
HELD = '''\
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).parent


def held(candles: pd.DataFrame, fast: int = 10, slow: int = 30) -> pd.Series:
    """An SMA cross that waits for the file hold to go away before it answers."""
    (HERE / "started").touch()
    deadline = time.monotonic() + 30
    while (HERE / "hold").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    close = candles["close"]
    return (close.rolling(fast).mean() > close.rolling(slow).mean()).astype(float)
'''


def add_strategy(srv: Server, name: str, text: str) -> Path:
    """Write a strategy file into the ``./strategies`` folder of the server's working dir."""
    folder = srv.root / "strategies"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.py").write_text(text)
    return folder


def test_a_lookahead_strategy_is_blocked(launch: Any, policy_files: tuple[Path, Path]) -> None:
    lenient, _ = policy_files
    srv, g = guarded(launch, "peek", lenient, impl="engine")
    add_strategy(srv, "peek", PEEK)
    body = {"paramset": "eth-peek", "strategy": "peek", "pair": "ETHUSDT", "timeframe": "4h"}
    pid = g.submit("alice", body)["id"]

    prop = g.settled(pid)
    assert prop["state"] == "blocked", prop["gates"]
    assert prop["evaluation"]["status"] == "done"
    gates = {x["gate"]: x["result"] for x in prop["gates"]}
    assert gates["lookahead"] == "block"
    assert [x["gate"] for x in prop["gates"] if x["result"] == "block"] == ["lookahead"]
    assert prop["evidence"]["lookahead"]["passed"] is False

    assert "lookahead" in one_line(g.approve(pid, "bob"), 409)
    one_line(g.approve(pid, "carol"), 409)  # an admin needs a reason
    assert g.get(f"/proposals/{pid}").json()["state"] == "blocked"
    assert g.get("/paramsets/eth-peek").json()["approved"] is None
    one_line(srv.post({"paramset": "eth-peek"}), 404)  # nothing approved to run
    m = srv.metrics()
    assert m[("guard_gate_results_total", (("gate", "lookahead"), ("result", "block")))] == 1
    assert m[("guard_proposals_total", (("status", "blocked"),))] == 1


def test_a_running_evaluation_survives_a_kill_9(
    launch: Any, policy_files: tuple[Path, Path]
) -> None:
    lenient, _ = policy_files
    srv, g = guarded(launch, "running", lenient, impl="engine", workers=1)
    folder = add_strategy(srv, "held", HELD)
    (folder / "hold").touch()
    body = {
        "paramset": "eth-held",
        "strategy": "held",
        "params": {"fast": 10, "slow": 30},
        "note": "caught running",
    }
    pid = g.submit("alice", body)["id"]

    # the worker is inside the strategy: the evaluation is running, not queued
    deadline = time.monotonic() + 20
    while not (folder / "started").exists():
        assert time.monotonic() < deadline, "the evaluation never started"
        time.sleep(0.02)
    before = g.get(f"/proposals/{pid}").json()
    assert before["state"] == "evaluating"
    assert before["evaluation"]["status"] == "running"
    assert before["evaluation"]["attempts"] == 1
    job_id = before["evaluation"]["job_id"]

    # the whole service dies: the server, then the worker it leaves behind, mid-evaluation
    orphans = srv.kill9()
    assert orphans
    for p in orphans:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    assert not wait_exited(orphans, timeout=10)
    (folder / "hold").unlink()
    (folder / "started").unlink()

    srv.start()
    after = g.settled(pid, timeout=30)
    assert after["state"] in ("pending", "blocked"), after["gates"]
    assert (folder / "started").exists()  # evaluated again, by a new worker
    evaluation = after["evaluation"]
    assert evaluation["job_id"] == job_id and evaluation["status"] == "done"
    assert evaluation["attempts"] == 2
    assert after["version"] == before["version"] and after["proposer"] == "alice"
    assert after["note"] == "caught running"
    assert {x["gate"] for x in after["gates"]} >= {"max_drawdown", "lookahead"}
    assert after["evidence"]["runs"]["proposed"]
    events = [h["event"] for h in after["history"]]
    assert events[: len(before["history"])] == [h["event"] for h in before["history"]]
    assert len(events) == len(before["history"]) + 1
    assert [p["id"] for p in g.get("/proposals").json()["proposals"]] == [pid]
    ps = g.get("/paramsets/eth-held").json()
    assert len(ps["history"]) >= len(before["history"]) + 1
    job = srv.get(f"/api/backtest/{job_id}").json()
    assert job["status"] == "done" and job["attempts"] == 2
    assert job["guard"]["proposal_id"] == pid


def test_refused_approvals_and_rejections_are_audited(
    launch: Any, policy_files: tuple[Path, Path]
) -> None:
    lenient, _ = policy_files
    srv, g = guarded(launch, "refused", lenient, impl="mock")
    pid = g.settled(g.propose("bob", 10))["id"]
    one_line(g.approve(pid, "alice"), 403)  # a proposer's role may not approve
    one_line(g.approve(pid, "bob"), 403)  # nor may the one who proposed it
    one_line(g.post(f"/proposals/{pid}/reject", "alice", {"comment": "no"}), 403)
    assert g.approve(pid, "carl").status_code == 200
    one_line(g.post(f"/proposals/{pid}/reject", "carl", {"comment": "late"}), 409)
    one_line(g.approve(pid, "carol"), 409)  # decided already
    one_line(g.approve("no-such-proposal", "carl"), 404)  # not a refusal: nothing to refuse
    refused = [e for e in audit(srv) if e["event"] == "guard_refused"]
    assert [(e["user"], e["action"], e["status"]) for e in refused] == [
        ("alice", "approve", 403),
        ("bob", "approve", 403),
        ("alice", "reject", 403),
        ("carl", "reject", 409),
        ("carol", "approve", 409),
    ]
    assert all(e["proposal_id"] == pid for e in refused)
    assert all(isinstance(e["reason"], str) and e["reason"] for e in refused)
    assert "may not approve" in refused[0]["reason"] and "proposed it" in refused[1]["reason"]
    text = (srv.evidence / "audit.jsonl").read_text()
    assert all(key not in text for key in g.keys.values())


def test_a_proposal_names_a_stored_sweep_of_its_strategy(launch: Any) -> None:
    import sparkbt as sb
    from sparkbt.research.sweep_evidence import save_sweep

    srv = launch("sweep", impl="mock")
    g = Guard(srv)
    sample = sb.resolve_candles("ETHUSDT", "4h", srv.root / "data")
    sid = save_sweep(
        sb.sweep(sample, "sma_cross", fast=[8, 10], slow=[30, 40], workers=1), srv.evidence
    ).name
    other = save_sweep(sb.sweep(sample, "ema_cross", workers=1), srv.evidence).name
    pid = g.propose("alice", 10, sweep_id=sid[:8])  # a unique prefix is stored in full
    assert g.get(f"/proposals/{pid}").json()["sweep_id"] == sid
    body = {"paramset": PARAMSET, "strategy": "sma_cross", "params": {"fast": 12, "slow": 30}}
    detail = one_line(g.post("/proposals", "alice", {**body, "sweep_id": other}), 422)
    assert "ema_cross" in detail
