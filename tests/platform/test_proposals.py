"""Param-change proposals: states, approval rules, stale bases, rollback, and races."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest

from sparkbt.errors import ConfigError, InputError, Refusal, SparkbtError
from sparkbt.platform.proposals import GuardStore
from sparkbt.platform.records import APPROVER_ROLES, ROLES, Conflict, Forbidden, NotFound
from sparkbt.research.gates import Evidence, GateResult, evaluate, param_changes
from sparkbt.research.paramsets import ParamSetVersion, version_of
from sparkbt.research.policy import default_policy
from tests.research.policies import PASSING

NAME = "eth-sma-4h"
POLICY = default_policy()
GOOD = PASSING
BAD = GOOD | {"max_drawdown": 0.4}  # the max_drawdown gate blocks


def sma(**params) -> ParamSetVersion:
    return version_of(NAME, "sma_cross", "ETHUSDT", "4h", params)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "guard" / "guard.sqlite"


@pytest.fixture
def store(db: Path):
    with GuardStore(db) as s:
        yield s


def evaluated(store: GuardStore, version, base, evidence=GOOD, proposer="alice"):
    p = store.propose(version, base, proposer, "a note")
    return store.record_evaluation(p.id, evaluate(POLICY, evidence), POLICY.sha256, evidence)


def approved(store: GuardStore, version, base=None):
    p = evaluated(store, version, base)
    return store.approve(p.id, "bob", "approver", "looks fine")


# --------------------------------------------------------------------------- errors
def test_error_classes() -> None:
    for cls in (Forbidden, Conflict, NotFound):
        assert issubclass(cls, Refusal) and issubclass(cls, InputError)
        assert issubclass(cls, SparkbtError) and issubclass(cls, ValueError)
    kinds = [c("x").kind for c in (Forbidden, Conflict, NotFound)]
    assert kinds == ["forbidden", "conflict", "not_found"]


# --------------------------------------------------------------------------- propose
def test_propose_starts_evaluating_with_history(store: GuardStore) -> None:
    v = sma(fast=12)
    p = store.propose(v, None, "alice", "faster entry", sweep_id="sw1")
    assert p.state == "evaluating"
    assert p.name == NAME
    assert p.version == v and p.version.id == v.id
    assert p.base_version_id is None
    assert (p.proposer, p.note, p.sweep_id) == ("alice", "faster entry", "sw1")
    assert [h.event for h in p.history] == ["proposed"]
    assert p.history[0].actor == "alice"
    assert p.gate_results is None and p.gate_decision is None
    assert len(p.content_sha256) == 64
    assert store.version(v.id) == v
    json.dumps(p.to_dict(), allow_nan=False)


def test_propose_base_must_be_the_approved_version(store: GuardStore) -> None:
    v1 = sma()
    with pytest.raises(Conflict, match="approved version is none"):
        store.propose(v1, "0" * 20, "alice")
    approved(store, v1)
    with pytest.raises(Conflict, match=f"approved version is {v1.id}"):
        store.propose(sma(fast=12), None, "alice")
    with pytest.raises(Conflict, match="already approved"):
        store.propose(v1, v1.id, "alice")
    p = store.propose(sma(fast=12), v1.id, "alice")
    assert p.base_version_id == v1.id


def test_propose_bad_input(store: GuardStore) -> None:
    with pytest.raises(ConfigError, match="ParamSetVersion"):
        store.propose({"name": NAME}, None, "alice")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="proposer"):
        store.propose(sma(), None, " ")


# --------------------------------------------------------------------------- evaluation
def test_evaluation_pending_or_blocked(store: GuardStore) -> None:
    p = evaluated(store, sma(), None, GOOD)
    assert p.state == "pending" and p.gate_decision == "pending"
    assert p.policy_sha256 == POLICY.sha256
    assert p.evidence == GOOD
    assert [g["gate"] for g in p.gate_results] == [g.name for g in POLICY.gates]
    assert [h.event for h in p.history] == ["proposed", "evaluated"]

    q = evaluated(store, sma(fast=5), None, BAD)
    assert q.state == "blocked"
    assert q.history[-1].detail["blocking"] == ["max_drawdown"]


def test_evidence_is_stored_json_ready(store: GuardStore) -> None:
    ev = Evidence(
        max_drawdown=np.float64(0.1),
        total_trades=np.int64(50),
        param_changes=param_changes({"fast": 5}, {"fast": 0}),  # infinite: from zero
        reasons={"lookahead": "not run"},
    )
    p = store.propose(sma(), None, "alice")
    p = store.record_evaluation(p.id, evaluate(POLICY, ev), POLICY.sha256, ev)
    assert p.evidence["max_drawdown"] == 0.1
    assert p.evidence["total_trades"] == 50
    assert p.evidence["param_changes"] == {"fast": None}
    assert p.evidence["reasons"] == {"lookahead": "not run"}
    json.dumps(p.to_dict(), allow_nan=False)


def test_warnings_alone_leave_it_pending(store: GuardStore) -> None:
    warn = GateResult("max_param_change", "warn", 0.8, 0.5, "warn", "largest change 0.8 > 0.5")
    p = store.propose(sma(), None, "alice")
    p = store.record_evaluation(p.id, [warn.to_dict()], POLICY.sha256, {"x": 1})
    assert p.state == "pending"


def test_evaluation_bad_input_and_closed_states(store: GuardStore) -> None:
    p = store.propose(sma(), None, "alice")
    with pytest.raises(ConfigError, match="evidence"):
        store.record_evaluation(p.id, [], POLICY.sha256, {"x": object()})
    with pytest.raises(ConfigError, match="evidence"):
        store.record_evaluation(p.id, [], POLICY.sha256, [1, 2])
    with pytest.raises(ConfigError, match="policy_sha256"):
        store.record_evaluation(p.id, [], "", {})
    with pytest.raises(ConfigError, match="gate result"):
        store.record_evaluation(p.id, [{"gate": "x"}], POLICY.sha256, {})
    with pytest.raises(NotFound, match="proposal 'nope': not found"):
        store.record_evaluation("nope", [], POLICY.sha256, {})
    store.reject(p.id, "alice", "proposer", "withdrawn")
    with pytest.raises(Conflict, match="rejected"):
        store.record_evaluation(p.id, [], POLICY.sha256, {})


# --------------------------------------------------------------------------- approve
def test_approve_moves_the_pointer(store: GuardStore) -> None:
    v1 = sma()
    p = evaluated(store, v1, None)
    p = store.approve(p.id, "bob", "approver", "ok")
    assert p.state == "approved"
    assert [h.event for h in p.history] == ["proposed", "evaluated", "approval", "approved"]
    assert [(a.user, a.role, a.comment) for a in p.approvals] == [("bob", "approver", "ok")]
    assert p.approvals[0].content_sha256 == p.content_sha256
    ps = store.paramset(NAME)
    assert ps.approved == v1
    assert ps.approved_proposal_id == p.id
    assert [h.event for h in ps.history][-1] == "approved"
    json.dumps(ps.to_dict(), allow_nan=False)


def test_no_self_approval_even_for_admin(store: GuardStore) -> None:
    p = evaluated(store, sma(), None, proposer="alice")
    for role in ("approver", "admin"):
        with pytest.raises(Forbidden, match="alice proposed it"):
            store.approve(p.id, "alice", role, "mine")
    assert store.get(p.id).state == "pending"


@pytest.mark.parametrize("role", ["viewer", "proposer", "root", ""])
def test_only_approvers_and_admins_approve(store: GuardStore, role: str) -> None:
    p = evaluated(store, sma(), None)
    with pytest.raises(Forbidden):
        store.approve(p.id, "bob", role, "ok")
    assert store.get(p.id).approvals == []


def test_admin_approves_pending_without_override(store: GuardStore) -> None:
    p = evaluated(store, sma(), None)
    p = store.approve(p.id, "carol", "admin", "ok", override_reason="not needed")
    assert p.state == "approved"
    assert p.approvals[0].override_reason is None  # nothing was overridden


def test_cannot_approve_while_evaluating(store: GuardStore) -> None:
    p = store.propose(sma(), None, "alice")
    with pytest.raises(Conflict, match="still being evaluated"):
        store.approve(p.id, "bob", "approver")


def test_blocked_needs_an_admin_with_a_reason(store: GuardStore) -> None:
    p = evaluated(store, sma(), None, BAD)
    assert p.state == "blocked"
    with pytest.raises(Forbidden, match="only an admin"):
        store.approve(p.id, "bob", "approver", "ok", override_reason="trust me")
    for reason in (None, "", "   "):
        with pytest.raises(Forbidden, match="needs a reason"):
            store.approve(p.id, "carol", "admin", "ok", override_reason=reason)
    p = store.approve(p.id, "carol", "admin", "ok", override_reason="drawdown from a halted feed")
    assert p.state == "approved"
    assert p.approvals[0].override_reason == "drawdown from a halted feed"
    override = [h for h in p.history if h.event == "override"]
    assert len(override) == 1
    assert override[0].detail["override_reason"] == "drawdown from a halted feed"
    assert store.paramset(NAME).approved.id == p.version.id


def test_closed_proposals_cannot_be_approved(store: GuardStore) -> None:
    a = approved(store, sma())
    with pytest.raises(Conflict, match="already approved"):
        store.approve(a.id, "dave", "approver")
    r = evaluated(store, sma(fast=12), a.version.id)
    store.reject(r.id, "bob", "approver", "no")
    with pytest.raises(Conflict, match="already rejected"):
        store.approve(r.id, "dave", "approver")
    with pytest.raises(NotFound):
        store.approve("missing", "dave", "approver")


def test_min_approvals(db: Path) -> None:
    with GuardStore(db, min_approvals=2) as store:
        p = evaluated(store, sma(), None)
        p = store.approve(p.id, "bob", "approver", "one")
        assert p.state == "pending"
        with pytest.raises(NotFound):
            store.paramset("other")
        assert store.paramset(NAME).approved is None
        with pytest.raises(Conflict, match="bob has already approved"):
            store.approve(p.id, "bob", "approver", "again")
        p = store.approve(p.id, "carol", "admin", "two")
        assert p.state == "approved"
        assert [a.user for a in p.approvals] == ["bob", "carol"]
        assert store.paramset(NAME).approved.id == p.version.id
    with pytest.raises(ConfigError, match="min_approvals"):
        GuardStore(db, min_approvals=0)


def test_approval_is_bound_to_the_content(db: Path) -> None:
    with GuardStore(db, min_approvals=2) as store:
        p = evaluated(store, sma(), None)
        seen = p.content_sha256
        store.approve(p.id, "bob", "approver", "one", content_sha256=seen)
        # evaluated again (new evidence): new content, the earlier approval no longer counts
        ev = GOOD | {"total_trades": 200}
        p = store.record_evaluation(p.id, evaluate(POLICY, ev), POLICY.sha256, ev)
        assert p.content_sha256 != seen
        with pytest.raises(Conflict, match="content changed"):
            store.approve(p.id, "carol", "approver", "two", content_sha256=seen)
        p = store.approve(p.id, "carol", "approver", "two", content_sha256=p.content_sha256)
        assert p.state == "pending"  # only carol's approval is of this content
        p = store.approve(p.id, "bob", "approver", "again")  # bob approves the new content
        assert p.state == "approved"
        assert [a.content_sha256 == p.content_sha256 for a in p.approvals] == [False, True, True]


# --------------------------------------------------------------------------- stale
def test_stale_after_a_newer_approval(store: GuardStore) -> None:
    v1 = approved(store, sma()).version
    a = evaluated(store, sma(fast=12), v1.id)
    b = evaluated(store, sma(fast=8), v1.id)
    c = store.propose(sma(fast=9), v1.id, "erin")  # still evaluating
    store.approve(a.id, "bob", "approver", "ok")
    assert store.paramset(NAME).approved.id == a.version.id
    b = store.get(b.id)
    assert b.state == "stale"
    assert b.history[-1].event == "stale"
    assert b.history[-1].detail == {"approved_version": a.version.id}
    assert store.get(c.id).state == "stale"
    with pytest.raises(Conflict, match="stale"):
        store.approve(b.id, "bob", "approver", "ok")
    with pytest.raises(Conflict, match="stale"):
        store.reject(b.id, "bob", "approver", "no")
    with pytest.raises(Conflict, match="stale"):
        store.record_evaluation(c.id, [], POLICY.sha256, {})
    assert store.paramset(NAME).approved.id == a.version.id  # the pointer did not move


def test_approve_detects_a_base_moved_elsewhere(db: Path, store: GuardStore) -> None:
    v1 = approved(store, sma()).version
    p = evaluated(store, sma(fast=12), v1.id)
    other = sma(fast=20)
    with sqlite3.connect(db) as raw:  # the pointer moved by another writer of the file
        raw.execute(
            "INSERT INTO guard_versions VALUES (?, ?, ?, 0)",
            (other.id, NAME, json.dumps(other.content())),
        )
        raw.execute(
            "UPDATE guard_paramsets SET approved_version = ? WHERE name = ?", (other.id, NAME)
        )
    with pytest.raises(Conflict, match=f"is stale; param set {NAME} moved to version {other.id}"):
        store.approve(p.id, "bob", "approver", "ok")
    p = store.get(p.id)
    assert p.state == "stale"  # recorded although the approval failed
    assert p.approvals == []


# --------------------------------------------------------------------------- reject
def test_reject_rules(store: GuardStore) -> None:
    p = evaluated(store, sma(), None)
    with pytest.raises(Forbidden, match="may not reject"):
        store.reject(p.id, "vic", "proposer", "no")
    with pytest.raises(Forbidden, match="unknown"):
        store.reject(p.id, "vic", "viewer", "no")
    p = store.reject(p.id, "bob", "approver", "too risky")
    assert p.state == "rejected"
    assert p.history[-1].event == "rejected"
    assert p.history[-1].detail == {"role": "approver", "comment": "too risky", "from": "pending"}
    with pytest.raises(Conflict, match="already rejected"):
        store.reject(p.id, "carol", "admin", "no")
    # the proposer may withdraw their own proposal, blocked ones too
    q = evaluated(store, sma(fast=5), None, BAD)
    assert store.reject(q.id, "alice", "proposer", "withdrawn").state == "rejected"
    a = approved(store, sma(fast=7))
    with pytest.raises(Conflict, match="already approved"):
        store.reject(a.id, "carol", "admin", "no")
    with pytest.raises(NotFound):
        store.reject("missing", "carol", "admin")


# --------------------------------------------------------------------------- reads
def test_get_list_and_paramset(store: GuardStore) -> None:
    with pytest.raises(NotFound, match="proposal 'x': not found"):
        store.get("x")
    with pytest.raises(NotFound, match="param set 'none-such': not found"):
        store.paramset("none-such")
    with pytest.raises(NotFound, match="version"):
        store.version("0" * 20)
    with pytest.raises(ConfigError, match="status"):
        store.list("waiting")
    a = approved(store, sma())
    b = evaluated(store, sma(fast=12), a.version.id)
    c = store.propose(sma(fast=15), a.version.id, "alice")
    assert [p.id for p in store.list()] == [c.id, b.id, a.id]  # newest first
    assert [p.id for p in store.list("pending")] == [b.id]
    assert [p.id for p in store.list("approved")] == [a.id]
    assert [p.id for p in store.list(name="other")] == []
    got = store.get(b.id)
    assert [(x.field, x.old, x.new) for x in got.changes] == [("params.fast", 10, 12)]
    assert store.get(a.id).changes is None  # no base to compare with


def test_paramset_exists_once_proposed(store: GuardStore) -> None:
    store.propose(sma(), None, "alice")
    ps = store.paramset(NAME)
    assert ps.approved is None and ps.approved_proposal_id is None
    assert [h.event for h in ps.history] == ["proposed"]


def test_names_lists_every_proposed_param_set(store: GuardStore) -> None:
    assert store.names() == []
    approved(store, sma())
    store.propose(version_of("btc-rsi-1h", "sma_cross", "BTCUSDT", "1h"), None, "alice")
    assert store.names() == ["btc-rsi-1h", NAME]


def test_rollback_is_a_proposal_of_an_earlier_version(store: GuardStore) -> None:
    v1 = approved(store, sma()).version
    v2 = approved(store, sma(fast=12), v1.id).version
    assert store.paramset(NAME).approved == v2
    back = evaluated(store, sma(fast=10), v2.id)  # the same content: the same version id
    assert back.version.id == v1.id
    assert [(c.field, c.old, c.new) for c in back.changes] == [("params.fast", 12, 10)]
    back = store.approve(back.id, "bob", "approver", "roll back")
    ps = store.paramset(NAME)
    assert ps.approved == v1
    assert ps.approved_proposal_id == back.id
    moves = [
        (h.detail["base_version_id"], h.detail["version_id"])
        for h in ps.history
        if h.event == "approved"
    ]
    assert moves == [(None, v1.id), (v1.id, v2.id), (v2.id, v1.id)]


def test_state_survives_reopening(db: Path) -> None:
    with GuardStore(db) as s:
        p = approved(s, sma())
    with GuardStore(db) as s:
        assert s.get(p.id).state == "approved"
        assert s.paramset(NAME).approved.id == p.version.id


# --------------------------------------------------------------------------- races
def test_threads_racing_to_approve_make_one_decision(db: Path) -> None:
    with GuardStore(db) as s:
        p = evaluated(s, sma(), None)
    n = 8
    barrier = threading.Barrier(n)
    outcomes: list[str] = []

    def run(i: int) -> None:
        with GuardStore(db) as own:
            barrier.wait()
            try:
                if i % 2:
                    own.reject(p.id, f"user{i}", "approver", "no")
                    outcomes.append("rejected")
                else:
                    own.approve(p.id, f"user{i}", "approver", "yes")
                    outcomes.append("approved")
            except Conflict:
                outcomes.append("conflict")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == n
    assert outcomes.count("conflict") == n - 1
    with GuardStore(db) as s:
        got = s.get(p.id)
        decisions = [h for h in got.history if h.event in ("approved", "rejected")]
        assert len(decisions) == 1
        assert got.state == decisions[0].event
        assert len(got.approvals) == (1 if got.state == "approved" else 0)


def _race_approve(db: str, proposal_id: str, user: str, barrier, results) -> None:
    with GuardStore(db) as store:
        barrier.wait()
        try:
            store.approve(proposal_id, user, "approver", "yes")
            results.put((user, proposal_id, "approved"))
        except Conflict as exc:
            results.put((user, proposal_id, f"conflict: {exc}"))


def test_processes_racing_make_one_decision_and_one_move(db: Path) -> None:
    with GuardStore(db) as s:
        v1 = approved(s, sma()).version
        # two proposals on the same base: one may win, the other must turn stale
        a = evaluated(s, sma(fast=12), v1.id)
        b = evaluated(s, sma(fast=8), v1.id)
    ctx = multiprocessing.get_context("fork")
    jobs = [(a.id, f"a{i}") for i in range(4)] + [(b.id, f"b{i}") for i in range(4)]
    barrier = ctx.Barrier(len(jobs))
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_race_approve, args=(str(db), pid, user, barrier, results))
        for pid, user in jobs
    ]
    for proc in procs:
        proc.start()
    got = [results.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    wins = [r for r in got if r[2] == "approved"]
    assert len(wins) == 1, got
    winner = wins[0][1]
    loser = b.id if winner == a.id else a.id
    with GuardStore(db) as s:
        assert s.get(winner).state == "approved"
        assert s.get(loser).state == "stale"
        ps = s.paramset(NAME)
        assert ps.approved.id == s.get(winner).version.id
        assert [h.detail["base_version_id"] for h in ps.history if h.event == "approved"] == [
            None,
            v1.id,
        ]


def test_roles_are_the_user_store_roles() -> None:
    from sparkbt.platform import users

    assert set(ROLES) == set(users.ROLES)
    assert set(APPROVER_ROLES) <= set(ROLES)


def test_shares_a_database_file_with_the_job_and_user_stores(db: Path) -> None:
    from sparkbt.platform.jobs import JobStore
    from sparkbt.platform.users import UserStore

    jobs, users = JobStore(db), UserStore(db)
    try:
        with GuardStore(db) as s:
            p = approved(s, sma())
        jobs.create({"strategy": "sma_cross"}, "numpy")
        users.add("bob", "approver")
        with GuardStore(db) as s:
            assert s.get(p.id).state == "approved"
        with sqlite3.connect(db) as raw:
            tables = {
                r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
        assert {"jobs", "users", "guard_proposals", "guard_paramsets"} <= tables
    finally:
        jobs.close()
        users.close()
