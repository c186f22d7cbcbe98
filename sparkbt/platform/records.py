"""The guard workflow's vocabulary: states, roles, errors and the records it returns.

:class:`Proposal`, :class:`Approval`, :class:`HistoryEvent` and :class:`ParamSet`
are what :class:`~sparkbt.platform.proposals.GuardStore` reads back; each has a
``to_dict`` with timestamps as ISO 8601 UTC. ``check_user`` and ``check_role``
validate the user name and role of a write.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sparkbt.errors import ConfigError, Conflict, Forbidden, NotFound
from sparkbt.research.gates import GateResult, decision
from sparkbt.research.paramsets import FieldChange, ParamSetVersion

__all__ = [
    "APPROVER_ROLES",
    "OPEN_STATES",
    "ROLES",
    "STATES",
    "Approval",
    "Conflict",
    "Forbidden",
    "HistoryEvent",
    "NotFound",
    "ParamSet",
    "Proposal",
    "check_role",
    "check_user",
    "iso",
]

STATES = ("evaluating", "pending", "blocked", "approved", "rejected", "stale", "failed")
OPEN_STATES = ("evaluating", "pending", "blocked")
ROLES = ("proposer", "approver", "admin")
"""The roles of users (as :mod:`sparkbt.platform.users` gives them)."""
APPROVER_ROLES = ("approver", "admin")


def iso(ts: float | None) -> str | None:
    """A timestamp as ISO 8601 UTC with a Z (None stays None)."""
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat().replace("+00:00", "Z")


def check_user(user: Any, what: str) -> str:
    text = user.strip() if isinstance(user, str) else ""
    if not text:
        raise ConfigError(f"{what}: expected a non-empty user name (got {user!r})")
    return text


def check_role(role: Any) -> str:
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
            "created_at": iso(self.created_at),
        }


@dataclass(frozen=True)
class HistoryEvent:
    """One recorded event: proposed, evaluated, approval, approved, rejected, stale, failed."""

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
            "at": iso(self.at),
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
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
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
            "updated_at": iso(self.updated_at),
            "history": [h.to_dict() for h in self.history],
        }
