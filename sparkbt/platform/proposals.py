"""Param-change approval: proposals, their evaluation, approvals and history in SQLite.

A proposal asks to make a :class:`~sparkbt.research.paramsets.ParamSetVersion` the
approved version of its param set. Its life::

    evaluating ──record_evaluation──> pending ──approve (min_approvals)──> approved
                                 └──> blocked ──approve (admin + reason)──┘
    evaluating | pending | blocked ──reject──> rejected
    evaluating | pending | blocked ──(another version approved first)──> stale
    evaluating ──(its evaluation job failed)──> failed

A proposal names the version it replaces (its *base*: the approved version when
it was submitted, None for a new param set). Approving it moves the param set's
approved-version pointer from the base to the proposed version, in the same
transaction that closes the proposal; a proposal whose base is no longer the
approved version is ``stale`` and can never be approved (propose again on the
new base). Rolling back is proposing an earlier version again.

Rules of approval: nobody approves their own proposal (not even an admin); only
the ``approver`` and ``admin`` roles approve; approving a ``blocked`` proposal
is an admin override with a written reason. Each approval is bound to the
proposal's content hash (version, base and evaluation): approvals given before a
re-evaluation do not count for the new content.

Every write runs in one ``BEGIN IMMEDIATE`` transaction and moves states with
compare-and-set updates, so processes sharing the database file (WAL mode) never
make two decisions on one proposal or two moves of one pointer. The tables
are named ``guard_*`` (created when missing), so the file may be the service's
database, next to its jobs and users.

:class:`GuardStore` owns these rules and its transactions. The states, roles,
errors and returned records are :mod:`sparkbt.platform.records`'s (importable from
here too); the tables and their row-level reads and writes are
:mod:`sparkbt.platform.proposal_tables`'s.
"""

from __future__ import annotations

import builtins
import sqlite3
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sparkbt.errors import ConfigError
from sparkbt.platform.db import Store
from sparkbt.platform.proposal_tables import (
    SCHEMA,
    add_event,
    approved_version,
    close_approved,
    content_hash,
    gate_dicts,
    history_event,
    mark_stale,
    move_state,
    plain,
    proposal_row,
    read_proposal,
    read_version,
    to_json,
)
from sparkbt.platform.records import (
    APPROVER_ROLES,
    OPEN_STATES,
    STATES,
    Conflict,
    Forbidden,
    NotFound,
    ParamSet,
    Proposal,
    check_role,
    check_user,
)
from sparkbt.research.gates import Evidence, GateResult, decision
from sparkbt.research.paramsets import ParamSetVersion, check_name

__all__ = ["GuardStore"]


class GuardStore(Store):
    """Param-set versions, proposals, approvals and history in one SQLite file.

    ``min_approvals`` approvals of a proposal's current content approve it. One
    store object may be shared by threads; any number of processes may open the
    same file.
    """

    def __init__(
        self, db_path: str | Path, *, min_approvals: int = 1, timeout: float = 30.0
    ) -> None:
        if isinstance(min_approvals, bool) or not isinstance(min_approvals, int):
            raise ConfigError(f"min_approvals: expected a whole number (got {min_approvals!r})")
        if min_approvals < 1:
            raise ConfigError(f"min_approvals: must be >= 1 (got {min_approvals!r})")
        super().__init__(db_path, timeout=timeout, reentrant=True)
        self.min_approvals = min_approvals
        with self._write() as db:
            for statement in SCHEMA:
                db.execute(statement)

    def propose(
        self,
        version: ParamSetVersion,
        base_version_id: str | None,
        proposer: str,
        note: str = "",
        sweep_id: str | None = None,
        then: Callable[[sqlite3.Connection, Proposal], object] | None = None,
    ) -> Proposal:
        """Submit ``version`` to replace ``base_version_id`` (None: the param set is new).

        The base must be the param set's approved version now (Conflict otherwise:
        the change was prepared against an older state). The proposal starts
        ``evaluating``. ``then`` runs in the same transaction once the proposal is
        written (to queue its evaluation); if it raises, nothing is recorded.
        """
        if not isinstance(version, ParamSetVersion):
            raise ConfigError(f"propose: expected a ParamSetVersion (got {type(version).__name__})")
        proposer = check_user(proposer, "proposer")
        name = check_name(version.name)
        version_id = version.id
        now = time.time()
        with self._write() as db:
            current = approved_version(db, name)
            if base_version_id != current:
                raise Conflict(
                    f"param set {name}: the approved version is {current or 'none'}, "
                    f"not {base_version_id or 'none'}; propose against the approved version"
                )
            if version_id == current:
                raise Conflict(f"param set {name}: version {version_id} is already approved")
            db.execute(
                "INSERT OR IGNORE INTO guard_versions (id, name, content, created_at)"
                " VALUES (?, ?, ?, ?)",
                (version_id, name, to_json(version.content(), "version"), now),
            )
            proposal_id = uuid.uuid4().hex
            db.execute(
                "INSERT INTO guard_proposals (id, name, version_id, base_version_id, proposer,"
                " note, sweep_id, state, content_sha256, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 'evaluating', ?, ?, ?)",
                (
                    proposal_id,
                    name,
                    version_id,
                    base_version_id,
                    proposer,
                    str(note or ""),
                    sweep_id,
                    content_hash(version_id, base_version_id, None, None, None),
                    now,
                    now,
                ),
            )
            add_event(
                db,
                name,
                proposal_id,
                "proposed",
                "evaluating",
                proposer,
                {"version_id": version_id, "base_version_id": base_version_id},
                now,
            )
            proposal = read_proposal(db, proposal_row(db, proposal_id), full=True)
            if then is not None:
                then(db, proposal)
            return proposal

    def record_evaluation(
        self,
        proposal_id: str,
        gate_results: list[GateResult] | list[Mapping[str, Any]],
        policy_sha256: str,
        evidence: Mapping[str, Any] | Evidence,
    ) -> Proposal:
        """Store the gates' results: the proposal becomes ``pending`` or ``blocked``.

        ``evidence`` is stored as JSON (an undefined number such as an infinite
        parameter change as null, as in the gate results).

        An open proposal may be evaluated again (a new policy, new evidence); its
        content hash then changes and earlier approvals no longer count.
        """
        gates = gate_dicts(gate_results)
        state = decision([GateResult(**g) for g in gates])
        if not isinstance(policy_sha256, str) or not policy_sha256:
            raise ConfigError(f"policy_sha256: expected the policy's hash (got {policy_sha256!r})")
        evidence = plain(evidence)
        if not isinstance(evidence, dict):
            raise ConfigError(f"evidence: expected a mapping (got {type(evidence).__name__})")
        evidence_text = to_json(evidence, "evidence")
        now = time.time()
        with self._write() as db:
            row = proposal_row(db, proposal_id)
            if row["state"] not in OPEN_STATES:
                raise Conflict(f"proposal {row['id']}: is {row['state']}; it cannot be evaluated")
            content = content_hash(
                row["version_id"], row["base_version_id"], gates, policy_sha256, evidence
            )
            changes = {
                "state": state,
                "gates": to_json(gates, "gate results"),
                "policy_sha256": policy_sha256,
                "evidence": evidence_text,
                "content_sha256": content,
            }
            move_state(db, row, changes, now, "evaluated")
            add_event(
                db,
                row["name"],
                row["id"],
                "evaluated",
                state,
                None,
                {
                    "policy_sha256": policy_sha256,
                    "content_sha256": content,
                    "blocking": [g["gate"] for g in gates if g["result"] == "block"],
                },
                now,
            )
            return read_proposal(db, proposal_row(db, row["id"]), full=True)

    def fail(self, proposal_id: str, reason: str) -> Proposal:
        """End an ``evaluating`` proposal whose evaluation failed: it becomes ``failed`` with
        ``reason`` (one line) in its history; a proposal in any other state is left as is."""
        now = time.time()
        line = " ".join(str(reason).split())[:500] or "the evaluation failed"
        with self._write() as db:
            row = proposal_row(db, proposal_id)
            if row["state"] == "evaluating":
                db.execute(
                    "UPDATE guard_proposals SET state = 'failed', updated_at = ?"
                    " WHERE id = ? AND state = 'evaluating'",
                    (now, row["id"]),
                )
                add_event(
                    db, row["name"], row["id"], "failed", "failed", None, {"reason": line}, now
                )
        return self.get(proposal_id)

    def approve(
        self,
        proposal_id: str,
        user: str,
        role: str,
        comment: str = "",
        override_reason: str | None = None,
        *,
        content_sha256: str | None = None,
    ) -> Proposal:
        """Approve the proposal's current content; with ``min_approvals`` of them it is approved.

        ``content_sha256``, when given, must be the content the approver saw
        (Conflict otherwise). Raises Forbidden for self-approval, a role that may
        not approve, or a blocked proposal without an admin and a reason; Conflict
        for a proposal not awaiting approval or whose base is no longer approved
        (it becomes ``stale``); NotFound for an unknown id.
        """
        user = check_user(user, "approver")
        role = check_role(role)
        reason = override_reason.strip() if isinstance(override_reason, str) else None
        now = time.time()
        stale: Conflict | None = None
        with self._write() as db:
            row = proposal_row(db, proposal_id)
            pid, name, state = row["id"], row["name"], row["state"]
            if user == row["proposer"]:
                raise Forbidden(f"proposal {pid}: {user} proposed it and may not approve it")
            if role not in APPROVER_ROLES:
                raise Forbidden(f"proposal {pid}: role {role} may not approve (approver or admin)")
            if state == "evaluating":
                raise Conflict(f"proposal {pid}: is still being evaluated")
            if state not in OPEN_STATES:
                raise Conflict(f"proposal {pid}: is already {state}")
            if content_sha256 is not None and content_sha256 != row["content_sha256"]:
                raise Conflict(
                    f"proposal {pid}: its content changed ({row['content_sha256'][:12]}) since "
                    f"it was reviewed ({str(content_sha256)[:12]}); review it again"
                )
            if state == "blocked":
                if role != "admin":
                    raise Forbidden(f"proposal {pid}: is blocked; only an admin may override it")
                if not reason:
                    raise Forbidden(f"proposal {pid}: is blocked; an override needs a reason")
            current = approved_version(db, name)
            if current != row["base_version_id"]:
                db.execute(
                    "UPDATE guard_proposals SET state = 'stale', updated_at = ?"
                    " WHERE id = ? AND state = ?",
                    (now, pid, state),
                )
                add_event(db, name, pid, "stale", "stale", user, {"approved_version": current}, now)
                stale = Conflict(
                    f"proposal {pid}: is stale; param set {name} moved to version "
                    f"{current or 'none'} since it was proposed"
                )
            else:
                self._approve(db, row, user, role, str(comment or ""), reason, now)
        if stale is not None:
            raise stale  # the stale state is committed first
        return self.get(proposal_id)

    def _approve(
        self,
        db: sqlite3.Connection,
        row: sqlite3.Row,
        user: str,
        role: str,
        comment: str,
        reason: str | None,
        now: float,
    ) -> None:
        pid, name, content = row["id"], row["name"], row["content_sha256"]
        if db.execute(
            "SELECT 1 FROM guard_approvals"
            " WHERE proposal_id = ? AND user = ? AND content_sha256 = ?",
            (pid, user, content),
        ).fetchone():
            raise Conflict(f"proposal {pid}: {user} has already approved it")
        override = reason if row["state"] == "blocked" else None
        db.execute(
            "INSERT INTO guard_approvals (proposal_id, user, role, comment, content_sha256,"
            " override_reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (pid, user, role, comment, content, override, now),
        )
        add_event(
            db,
            name,
            pid,
            "override" if override else "approval",
            row["state"],
            user,
            {"role": role, "comment": comment, "content_sha256": content}
            | ({"override_reason": override} if override else {}),
            now,
        )
        count = db.execute(
            "SELECT COUNT(*) FROM guard_approvals WHERE proposal_id = ? AND content_sha256 = ?",
            (pid, content),
        ).fetchone()[0]
        if count < self.min_approvals:
            return
        close_approved(db, row, now)
        add_event(
            db,
            name,
            pid,
            "approved",
            "approved",
            user,
            {
                "version_id": row["version_id"],
                "base_version_id": row["base_version_id"],
                "approvals": count,
                "content_sha256": content,
            },
            now,
        )
        mark_stale(db, name, row["version_id"], now)

    def reject(self, proposal_id: str, user: str, role: str, comment: str = "") -> Proposal:
        """Reject an open proposal: approvers and admins may, and its proposer may withdraw it."""
        user = check_user(user, "user")
        role = check_role(role)
        now = time.time()
        with self._write() as db:
            row = proposal_row(db, proposal_id)
            pid = row["id"]
            if role not in APPROVER_ROLES and user != row["proposer"]:
                raise Forbidden(f"proposal {pid}: role {role} may not reject (approver or admin)")
            if row["state"] not in OPEN_STATES:
                raise Conflict(f"proposal {pid}: is already {row['state']}")
            move_state(db, row, {"state": "rejected"}, now, "rejected")
            add_event(
                db,
                row["name"],
                pid,
                "rejected",
                "rejected",
                user,
                {"role": role, "comment": str(comment or ""), "from": row["state"]},
                now,
            )
        return self.get(pid)

    # ------------------------------------------------------------------ reads
    def get(self, proposal_id: str) -> Proposal:
        """A proposal with its approvals, history and changes against its base."""
        with self._read() as db:
            return read_proposal(db, proposal_row(db, proposal_id), full=True)

    def list(self, status: str | None = None, name: str | None = None) -> list[Proposal]:
        """Proposals newest first, optionally of one state and/or one param set."""
        if status is not None and status not in STATES:
            raise ConfigError(f"status: expected one of {', '.join(STATES)} (got {status!r})")
        terms, args = [], []
        if status is not None:
            terms.append("state = ?")
            args.append(status)
        if name is not None:
            terms.append("name = ?")
            args.append(name)
        where = (" WHERE " + " AND ".join(terms)) if terms else ""
        with self._read() as db:
            rows = db.execute(
                f"SELECT * FROM guard_proposals{where} ORDER BY seq DESC", args
            ).fetchall()
            return [read_proposal(db, r, full=False) for r in rows]

    def version(self, version_id: str) -> ParamSetVersion:
        """A stored version by id."""
        with self._read() as db:
            return read_version(db, version_id)

    def paramset(self, name: str) -> ParamSet:
        """The param set's approved version and its history (NotFound if never proposed)."""
        with self._read() as db:
            row = db.execute("SELECT * FROM guard_paramsets WHERE name = ?", (name,)).fetchone()
            history = [
                history_event(r)
                for r in db.execute(
                    "SELECT * FROM guard_history WHERE name = ? ORDER BY seq", (name,)
                )
            ]
            if row is None and not history:
                raise NotFound(f"param set {name!r}: not found")
            approved = None
            if row is not None and row["approved_version"] is not None:
                approved = read_version(db, row["approved_version"])
            return ParamSet(
                name=name,
                approved=approved,
                approved_proposal_id=None if row is None else row["approved_proposal"],
                updated_at=history[-1].at if row is None else row["updated_at"],
                history=history,
            )

    def names(self) -> builtins.list[str]:
        """The names of every param set ever proposed, sorted."""
        with self._read() as db:
            rows = db.execute(
                "SELECT name FROM guard_history UNION SELECT name FROM guard_paramsets"
                " ORDER BY name"
            ).fetchall()
            return [r["name"] for r in rows]
