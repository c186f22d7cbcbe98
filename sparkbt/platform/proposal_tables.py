"""The guard's SQLite tables and the row-level reads and writes built on them.

``SCHEMA`` creates the ``guard_*`` tables (versions, param sets, proposals,
approvals, history) when missing. The functions here run inside a transaction
that :class:`~sparkbt.platform.proposals.GuardStore` opens: they read rows into
:mod:`~sparkbt.platform.records`, append history events, close an approved
proposal and move its param set's approved version, mark open proposals stale,
and turn gate results and evidence into the canonical JSON that a proposal's
content hash is taken over.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import time
from collections.abc import Mapping
from typing import Any

from sparkbt.engine.stats import json_safe
from sparkbt.errors import ConfigError
from sparkbt.platform.db import from_row
from sparkbt.platform.records import Approval, Conflict, HistoryEvent, NotFound, Proposal
from sparkbt.research.gates import GateResult
from sparkbt.research.paramsets import ParamSetVersion, diff

__all__ = [
    "SCHEMA",
    "add_event",
    "approved_version",
    "close_approved",
    "content_hash",
    "gate_dicts",
    "history_event",
    "mark_stale",
    "move_state",
    "plain",
    "proposal_row",
    "read_proposal",
    "read_version",
    "to_json",
]

SCHEMA = (
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


def to_json(obj: Any, what: str) -> str:
    """Canonical JSON (sorted keys, no NaN/Infinity); ConfigError names ``what`` otherwise."""
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what}: not JSON-serialisable without NaN/Infinity ({exc})") from None


def plain(value: Any) -> Any:
    """JSON-ready evidence: dataclasses as dicts, numpy scalars as Python, NaN/inf as None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return json_safe(value)


def _sha256(obj: Any) -> str:
    return hashlib.sha256(to_json(obj, "content").encode()).hexdigest()


def content_hash(
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


def gate_dicts(gate_results: Any) -> list[dict[str, Any]]:
    """Gate results (GateResult objects or their mappings) as checked dicts."""
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


def add_event(
    db: sqlite3.Connection,
    name: str,
    proposal_id: str | None,
    event: str,
    state: str | None,
    actor: str | None,
    detail: dict[str, Any] | None = None,
    at: float | None = None,
) -> None:
    """Append one event to the history (``at`` defaults to now)."""
    db.execute(
        "INSERT INTO guard_history (name, proposal_id, event, state, actor, detail, at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            name,
            proposal_id,
            event,
            state,
            actor,
            to_json(detail or {}, "detail"),
            time.time() if at is None else at,
        ),
    )


def read_version(db: sqlite3.Connection, version_id: str) -> ParamSetVersion:
    """A stored version by id (NotFound if unknown)."""
    row = db.execute("SELECT content FROM guard_versions WHERE id = ?", (version_id,)).fetchone()
    if row is None:
        raise NotFound(f"param set version {version_id!r}: not found")
    return ParamSetVersion.from_dict(json.loads(row["content"]))


def proposal_row(db: sqlite3.Connection, proposal_id: str) -> sqlite3.Row:
    """A proposal's row by id (NotFound if unknown)."""
    row = db.execute("SELECT * FROM guard_proposals WHERE id = ?", (str(proposal_id),)).fetchone()
    if row is None:
        raise NotFound(f"proposal {proposal_id!r}: not found")
    return row


def approved_version(db: sqlite3.Connection, name: str) -> str | None:
    """The id of the param set's approved version (None before the first approval)."""
    row = db.execute(
        "SELECT approved_version FROM guard_paramsets WHERE name = ?", (name,)
    ).fetchone()
    return None if row is None else row["approved_version"]


def read_proposal(db: sqlite3.Connection, row: sqlite3.Row, full: bool) -> Proposal:
    """A proposal from its row; ``full`` adds its approvals, history and diff against its base."""
    version = read_version(db, row["version_id"])
    approvals: list[Approval] = []
    history: list[HistoryEvent] = []
    changes = None
    if full:
        approvals = [
            from_row(Approval, r)
            for r in db.execute(
                "SELECT * FROM guard_approvals WHERE proposal_id = ? ORDER BY seq", (row["id"],)
            )
        ]
        history = [
            history_event(r)
            for r in db.execute(
                "SELECT * FROM guard_history WHERE proposal_id = ? ORDER BY seq", (row["id"],)
            )
        ]
        if row["base_version_id"] is not None:
            changes = diff(read_version(db, row["base_version_id"]), version)
    return from_row(
        Proposal,
        row,
        version=version,
        gate_results=None if row["gates"] is None else json.loads(row["gates"]),
        evidence=None if row["evidence"] is None else json.loads(row["evidence"]),
        approvals=approvals,
        history=history,
        changes=changes,
    )


def move_state(
    db: sqlite3.Connection, row: sqlite3.Row, changes: Mapping[str, Any], now: float, doing: str
) -> None:
    """Write ``changes`` (column: value, ``state`` among them) to the proposal in ``row``.

    Compare-and-set: the proposal must still be in ``row``'s state; Conflict otherwise
    (``doing`` names the step for the message).
    """
    sets = "".join(f"{column} = ?, " for column in changes)
    updated = db.execute(
        f"UPDATE guard_proposals SET {sets}updated_at = ? WHERE id = ? AND state = ?",
        (*changes.values(), now, row["id"], row["state"]),
    ).rowcount
    if updated != 1:  # pragma: no cover - the write lock is held
        raise Conflict(f"proposal {row['id']}: changed while being {doing}; try again")


def close_approved(db: sqlite3.Connection, row: sqlite3.Row, now: float) -> None:
    """Close the proposal in ``row`` as approved and move its param set's approved version.

    Both writes are compare-and-set: the proposal must still be in ``row``'s state
    and content, and the param set's approved version still the proposal's base
    (none yet for a new param set); Conflict otherwise.
    """
    pid, name, content = row["id"], row["name"], row["content_sha256"]
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


def mark_stale(db: sqlite3.Connection, name: str, approved: str, now: float) -> None:
    """Every open proposal of ``name`` whose base is not ``approved`` becomes stale."""
    rows = db.execute(
        "UPDATE guard_proposals SET state = 'stale', updated_at = ?"
        " WHERE name = ? AND state IN ('evaluating', 'pending', 'blocked')"
        " AND base_version_id IS NOT ? RETURNING id",
        (now, name, approved),
    ).fetchall()
    for r in rows:
        add_event(db, name, r["id"], "stale", "stale", None, {"approved_version": approved}, now)


def history_event(r: sqlite3.Row) -> HistoryEvent:
    """A history event from its row."""
    return from_row(HistoryEvent, r, detail=json.loads(r["detail"]))
