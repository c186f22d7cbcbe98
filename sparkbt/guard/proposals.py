"""Param-change approval: proposals, their evaluation, approvals and history in SQLite.

A proposal asks to make a :class:`~sparkbt.guard.paramsets.ParamSetVersion` the
approved version of its param set. Its life::

    evaluating ──record_evaluation──> pending ──approve (min_approvals)──> approved
                                 └──> blocked ──approve (admin + reason)──┘
    evaluating | pending | blocked ──reject──> rejected
    evaluating | pending | blocked ──(another version approved first)──> stale

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
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InputError, SparkbtError
from ..stats import json_safe
from .evaluate import Evidence, GateResult, decision
from .paramsets import FieldChange, ParamSetVersion, check_name, diff

__all__ = [
    "APPROVER_ROLES",
    "OPEN_STATES",
    "ROLES",
    "STATES",
    "Approval",
    "Conflict",
    "Forbidden",
    "GuardStore",
    "HistoryEvent",
    "NotFound",
    "ParamSet",
    "Proposal",
]

STATES = ("evaluating", "pending", "blocked", "approved", "rejected", "stale")
OPEN_STATES = ("evaluating", "pending", "blocked")
ROLES = ("proposer", "approver", "admin")
"""The roles of users (as :mod:`sparkbt.guard.users` gives them)."""
APPROVER_ROLES = ("approver", "admin")


class Forbidden(SparkbtError):
    """The user may not do this (a role, self-approval, an override without reason): HTTP 403."""


class Conflict(SparkbtError):
    """The proposal or param set is not in a state that allows this: HTTP 409."""


class NotFound(InputError):
    """No proposal, version or param set with that id or name: HTTP 404."""


_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS guard_versions (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        content TEXT NOT NULL,
        created_at REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS guard_paramsets (
        name TEXT PRIMARY KEY,
        approved_version TEXT,
        approved_proposal TEXT,
        updated_at REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS guard_proposals (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        version_id TEXT NOT NULL,
        base_version_id TEXT,
        proposer TEXT NOT NULL,
        note TEXT NOT NULL,
        sweep_id TEXT,
        state TEXT NOT NULL,
        content_sha256 TEXT NOT NULL,
        gates TEXT,
        policy_sha256 TEXT,
        evidence TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS guard_proposals_state ON guard_proposals (state)",
    "CREATE INDEX IF NOT EXISTS guard_proposals_name ON guard_proposals (name, state)",
    """CREATE TABLE IF NOT EXISTS guard_approvals (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        proposal_id TEXT NOT NULL,
        user TEXT NOT NULL,
        role TEXT NOT NULL,
        comment TEXT NOT NULL,
        content_sha256 TEXT NOT NULL,
        override_reason TEXT,
        created_at REAL NOT NULL,
        UNIQUE (proposal_id, user, content_sha256)
    )""",
    """CREATE TABLE IF NOT EXISTS guard_history (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        proposal_id TEXT,
        event TEXT NOT NULL,
        state TEXT,
        actor TEXT,
        detail TEXT NOT NULL,
        at REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS guard_history_name ON guard_history (name, seq)",
    "CREATE INDEX IF NOT EXISTS guard_history_proposal ON guard_history (proposal_id, seq)",
)


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat().replace("+00:00", "Z")


def _json(obj: Any, what: str) -> str:
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what}: not JSON-serialisable without NaN/Infinity ({exc})") from None


def _plain(value: Any) -> Any:
    """JSON-ready evidence: dataclasses as dicts, numpy scalars as Python, NaN/inf as None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return json_safe(value)


def _sha256(obj: Any) -> str:
    return hashlib.sha256(_json(obj, "content").encode()).hexdigest()


def _user(user: Any, what: str) -> str:
    text = user.strip() if isinstance(user, str) else ""
    if not text:
        raise ConfigError(f"{what}: expected a non-empty user name (got {user!r})")
    return text


def _role(role: Any) -> str:
    text = role.strip().lower() if isinstance(role, str) else ""
    if text not in ROLES:
        raise Forbidden(f"role {role!r} is unknown (roles: {', '.join(ROLES)})")
    return text


@dataclass(frozen=True)
class Approval:
    """One approver's approval of one content hash of a proposal."""

    user: str
    role: str
    comment: str
    content_sha256: str
    override_reason: str | None
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "role": self.role,
            "comment": self.comment,
            "content_sha256": self.content_sha256,
            "override_reason": self.override_reason,
            "created_at": _iso(self.created_at),
        }


@dataclass(frozen=True)
class HistoryEvent:
    """One recorded event: proposed, evaluated, approval, approved, rejected, stale."""

    seq: int
    name: str
    proposal_id: str | None
    event: str
    state: str | None
    actor: str | None
    detail: dict[str, Any]
    at: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "name": self.name,
            "proposal_id": self.proposal_id,
            "event": self.event,
            "state": self.state,
            "actor": self.actor,
            "detail": self.detail,
            "at": _iso(self.at),
        }


@dataclass(frozen=True)
class Proposal:
    """A proposal with its version and, from :meth:`GuardStore.get`, approvals and history."""

    id: str
    name: str
    version: ParamSetVersion
    base_version_id: str | None
    proposer: str
    note: str
    sweep_id: str | None
    state: str
    content_sha256: str
    gate_results: list[dict[str, Any]] | None
    policy_sha256: str | None
    evidence: dict[str, Any] | None
    created_at: float
    updated_at: float
    approvals: list[Approval] = field(default_factory=list)
    history: list[HistoryEvent] = field(default_factory=list)
    changes: list[FieldChange] | None = None

    @property
    def gate_decision(self) -> str | None:
        """``pending`` or ``blocked`` from the gate results (None before the evaluation)."""
        if self.gate_results is None:
            return None
        return decision([GateResult(**g) for g in self.gate_results])

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "version": self.version.to_dict(),
            "base_version_id": self.base_version_id,
            "proposer": self.proposer,
            "note": self.note,
            "sweep_id": self.sweep_id,
            "content_sha256": self.content_sha256,
            "gates": self.gate_results,
            "policy_sha256": self.policy_sha256,
            "evidence": self.evidence,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "approvals": [a.to_dict() for a in self.approvals],
            "history": [h.to_dict() for h in self.history],
            "changes": None if self.changes is None else [c.to_dict() for c in self.changes],
        }


@dataclass(frozen=True)
class ParamSet:
    """A param set: its approved version (None before the first approval) and its history."""

    name: str
    approved: ParamSetVersion | None
    approved_proposal_id: str | None
    updated_at: float
    history: list[HistoryEvent]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "approved": None if self.approved is None else self.approved.to_dict(),
            "approved_proposal_id": self.approved_proposal_id,
            "updated_at": _iso(self.updated_at),
            "history": [h.to_dict() for h in self.history],
        }


def _content_sha256(
    version_id: str,
    base_version_id: str | None,
    gates: list[dict[str, Any]] | None,
    policy_sha256: str | None,
    evidence: dict[str, Any] | None,
) -> str:
    """What an approval is bound to: the change (version, base) and its evaluation."""
    return _sha256(
        {
            "version_id": version_id,
            "base_version_id": base_version_id,
            "gates": gates,
            "policy_sha256": policy_sha256,
            "evidence": evidence,
        }
    )


def _gate_dicts(gate_results: Any) -> list[dict[str, Any]]:
    out = []
    for g in gate_results:
        if isinstance(g, GateResult):
            out.append(g.to_dict())
        elif isinstance(g, Mapping):
            try:
                out.append(GateResult(**g).to_dict())
            except TypeError:
                raise ConfigError(
                    f"gate result: expected the fields of GateResult (got {sorted(g)})"
                ) from None
        else:
            raise ConfigError(f"gate result: expected a GateResult (got {type(g).__name__})")
    return out


class GuardStore:
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
        self.path = Path(db_path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.min_approvals = min_approvals
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            self.path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._tx() as db:
            for statement in _SCHEMA:
                db.execute(statement)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> GuardStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: BEGIN IMMEDIATE takes the database's write lock first."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One consistent snapshot for reads spanning several queries."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                yield self._db
            finally:
                self._db.execute("COMMIT")

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _event(
        db: sqlite3.Connection,
        name: str,
        proposal_id: str | None,
        event: str,
        state: str | None,
        actor: str | None,
        detail: dict[str, Any] | None = None,
        at: float | None = None,
    ) -> None:
        db.execute(
            "INSERT INTO guard_history (name, proposal_id, event, state, actor, detail, at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                name,
                proposal_id,
                event,
                state,
                actor,
                _json(detail or {}, "detail"),
                time.time() if at is None else at,
            ),
        )

    @staticmethod
    def _version_row(db: sqlite3.Connection, version_id: str) -> ParamSetVersion:
        row = db.execute(
            "SELECT content FROM guard_versions WHERE id = ?", (version_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"param set version {version_id!r}: not found")
        return ParamSetVersion.from_dict(json.loads(row["content"]))

    @staticmethod
    def _proposal_row(db: sqlite3.Connection, proposal_id: str) -> sqlite3.Row:
        row = db.execute(
            "SELECT * FROM guard_proposals WHERE id = ?", (str(proposal_id),)
        ).fetchone()
        if row is None:
            raise NotFound(f"proposal {proposal_id!r}: not found")
        return row

    @staticmethod
    def _approved_version(db: sqlite3.Connection, name: str) -> str | None:
        row = db.execute(
            "SELECT approved_version FROM guard_paramsets WHERE name = ?", (name,)
        ).fetchone()
        return None if row is None else row["approved_version"]

    def _proposal(self, db: sqlite3.Connection, row: sqlite3.Row, full: bool) -> Proposal:
        version = self._version_row(db, row["version_id"])
        approvals: list[Approval] = []
        history: list[HistoryEvent] = []
        changes = None
        if full:
            approvals = [
                Approval(
                    r["user"],
                    r["role"],
                    r["comment"],
                    r["content_sha256"],
                    r["override_reason"],
                    r["created_at"],
                )
                for r in db.execute(
                    "SELECT * FROM guard_approvals WHERE proposal_id = ? ORDER BY seq", (row["id"],)
                )
            ]
            history = [
                _history(r)
                for r in db.execute(
                    "SELECT * FROM guard_history WHERE proposal_id = ? ORDER BY seq", (row["id"],)
                )
            ]
            if row["base_version_id"] is not None:
                changes = diff(self._version_row(db, row["base_version_id"]), version)
        return Proposal(
            id=row["id"],
            name=row["name"],
            version=version,
            base_version_id=row["base_version_id"],
            proposer=row["proposer"],
            note=row["note"],
            sweep_id=row["sweep_id"],
            state=row["state"],
            content_sha256=row["content_sha256"],
            gate_results=None if row["gates"] is None else json.loads(row["gates"]),
            policy_sha256=row["policy_sha256"],
            evidence=None if row["evidence"] is None else json.loads(row["evidence"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            approvals=approvals,
            history=history,
            changes=changes,
        )

    def _mark_stale(self, db: sqlite3.Connection, name: str, approved: str, now: float) -> None:
        """Every open proposal of ``name`` whose base is not ``approved`` becomes stale."""
        rows = db.execute(
            "UPDATE guard_proposals SET state = 'stale', updated_at = ?"
            " WHERE name = ? AND state IN ('evaluating', 'pending', 'blocked')"
            " AND base_version_id IS NOT ? RETURNING id",
            (now, name, approved),
        ).fetchall()
        for r in rows:
            self._event(
                db, name, r["id"], "stale", "stale", None, {"approved_version": approved}, now
            )

    # ------------------------------------------------------------------ writes
    def propose(
        self,
        version: ParamSetVersion,
        base_version_id: str | None,
        proposer: str,
        note: str = "",
        sweep_id: str | None = None,
    ) -> Proposal:
        """Submit ``version`` to replace ``base_version_id`` (None: the param set is new).

        The base must be the param set's approved version now (Conflict otherwise:
        the change was prepared against an older state). The proposal starts
        ``evaluating``.
        """
        if not isinstance(version, ParamSetVersion):
            raise ConfigError(f"propose: expected a ParamSetVersion (got {type(version).__name__})")
        proposer = _user(proposer, "proposer")
        name = check_name(version.name)
        version_id = version.id
        now = time.time()
        with self._tx() as db:
            current = self._approved_version(db, name)
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
                (version_id, name, _json(version.content(), "version"), now),
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
                    _content_sha256(version_id, base_version_id, None, None, None),
                    now,
                    now,
                ),
            )
            self._event(
                db,
                name,
                proposal_id,
                "proposed",
                "evaluating",
                proposer,
                {"version_id": version_id, "base_version_id": base_version_id},
                now,
            )
            return self._proposal(db, self._proposal_row(db, proposal_id), full=True)

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
        gates = _gate_dicts(gate_results)
        state = decision([GateResult(**g) for g in gates])
        if not isinstance(policy_sha256, str) or not policy_sha256:
            raise ConfigError(f"policy_sha256: expected the policy's hash (got {policy_sha256!r})")
        evidence = _plain(evidence)
        if not isinstance(evidence, dict):
            raise ConfigError(f"evidence: expected a mapping (got {type(evidence).__name__})")
        evidence_text = _json(evidence, "evidence")
        now = time.time()
        with self._tx() as db:
            row = self._proposal_row(db, proposal_id)
            if row["state"] not in OPEN_STATES:
                raise Conflict(f"proposal {row['id']}: is {row['state']}; it cannot be evaluated")
            content = _content_sha256(
                row["version_id"], row["base_version_id"], gates, policy_sha256, evidence
            )
            updated = db.execute(
                "UPDATE guard_proposals SET state = ?, gates = ?, policy_sha256 = ?, evidence = ?,"
                " content_sha256 = ?, updated_at = ? WHERE id = ? AND state = ?",
                (
                    state,
                    _json(gates, "gate results"),
                    policy_sha256,
                    evidence_text,
                    content,
                    now,
                    row["id"],
                    row["state"],
                ),
            ).rowcount
            if updated != 1:  # pragma: no cover - the write lock is held
                raise Conflict(f"proposal {row['id']}: changed while being evaluated")
            self._event(
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
            return self._proposal(db, self._proposal_row(db, row["id"]), full=True)

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
        user = _user(user, "approver")
        role = _role(role)
        reason = override_reason.strip() if isinstance(override_reason, str) else None
        now = time.time()
        stale: Conflict | None = None
        with self._tx() as db:
            row = self._proposal_row(db, proposal_id)
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
            current = self._approved_version(db, name)
            if current != row["base_version_id"]:
                db.execute(
                    "UPDATE guard_proposals SET state = 'stale', updated_at = ?"
                    " WHERE id = ? AND state = ?",
                    (now, pid, state),
                )
                self._event(
                    db, name, pid, "stale", "stale", user, {"approved_version": current}, now
                )
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
        self._event(
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
        closed = db.execute(
            "UPDATE guard_proposals SET state = 'approved', updated_at = ?"
            " WHERE id = ? AND state = ? AND content_sha256 = ?",
            (now, pid, row["state"], content),
        ).rowcount
        base = row["base_version_id"]
        if base is None:
            moved = db.execute(
                "INSERT INTO guard_paramsets"
                " (name, approved_version, approved_proposal, updated_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
                " approved_version = excluded.approved_version,"
                " approved_proposal = excluded.approved_proposal,"
                " updated_at = excluded.updated_at WHERE approved_version IS NULL",
                (name, row["version_id"], pid, now),
            ).rowcount
        else:
            moved = db.execute(
                "UPDATE guard_paramsets"
                " SET approved_version = ?, approved_proposal = ?, updated_at = ?"
                " WHERE name = ? AND approved_version = ?",
                (row["version_id"], pid, now, name, base),
            ).rowcount
        if closed != 1 or moved != 1:  # pragma: no cover - the write lock is held
            raise Conflict(f"proposal {pid}: changed while being approved; try again")
        self._event(
            db,
            name,
            pid,
            "approved",
            "approved",
            user,
            {
                "version_id": row["version_id"],
                "base_version_id": base,
                "approvals": count,
                "content_sha256": content,
            },
            now,
        )
        self._mark_stale(db, name, row["version_id"], now)

    def reject(self, proposal_id: str, user: str, role: str, comment: str = "") -> Proposal:
        """Reject an open proposal: approvers and admins may, and its proposer may withdraw it."""
        user = _user(user, "user")
        role = _role(role)
        now = time.time()
        with self._tx() as db:
            row = self._proposal_row(db, proposal_id)
            pid = row["id"]
            if role not in APPROVER_ROLES and user != row["proposer"]:
                raise Forbidden(f"proposal {pid}: role {role} may not reject (approver or admin)")
            if row["state"] not in OPEN_STATES:
                raise Conflict(f"proposal {pid}: is already {row['state']}")
            updated = db.execute(
                "UPDATE guard_proposals SET state = 'rejected', updated_at = ?"
                " WHERE id = ? AND state = ?",
                (now, pid, row["state"]),
            ).rowcount
            if updated != 1:  # pragma: no cover - the write lock is held
                raise Conflict(f"proposal {pid}: changed while being rejected; try again")
            self._event(
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
            return self._proposal(db, self._proposal_row(db, proposal_id), full=True)

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
            return [self._proposal(db, r, full=False) for r in rows]

    def version(self, version_id: str) -> ParamSetVersion:
        """A stored version by id."""
        with self._read() as db:
            return self._version_row(db, version_id)

    def paramset(self, name: str) -> ParamSet:
        """The param set's approved version and its history (NotFound if never proposed)."""
        with self._read() as db:
            row = db.execute("SELECT * FROM guard_paramsets WHERE name = ?", (name,)).fetchone()
            history = [
                _history(r)
                for r in db.execute(
                    "SELECT * FROM guard_history WHERE name = ? ORDER BY seq", (name,)
                )
            ]
            if row is None and not history:
                raise NotFound(f"param set {name!r}: not found")
            approved = None
            if row is not None and row["approved_version"] is not None:
                approved = self._version_row(db, row["approved_version"])
            return ParamSet(
                name=name,
                approved=approved,
                approved_proposal_id=None if row is None else row["approved_proposal"],
                updated_at=history[-1].at if row is None else row["updated_at"],
                history=history,
            )

    def names(self) -> list[str]:
        """The names of every param set ever proposed, sorted."""
        with self._read() as db:
            rows = db.execute(
                "SELECT name FROM guard_history UNION SELECT name FROM guard_paramsets"
                " ORDER BY name"
            ).fetchall()
            return [r["name"] for r in rows]


def _history(r: sqlite3.Row) -> HistoryEvent:
    return HistoryEvent(
        seq=r["seq"],
        name=r["name"],
        proposal_id=r["proposal_id"],
        event=r["event"],
        state=r["state"],
        actor=r["actor"],
        detail=json.loads(r["detail"]),
        at=r["at"],
    )
