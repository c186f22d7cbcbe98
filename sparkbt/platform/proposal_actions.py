"""Param-change proposals as the application offers them: propose, approve, reject.

:class:`ProposalActions` checks a proposal as every adapter must (registry
strategy, parameters, candles, the sweep it names), records it and queues its
evaluation as a durable job (in one transaction, so a full queue refuses the
proposal too: :class:`~sparkbt.errors.TooMany`); records what the worker found (metrics, audit);
and applies approvals and rejections through the
:class:`~sparkbt.platform.proposals.GuardStore` rules, auditing each. The HTTP
API and the web UI call it; what they show or hide is a convenience, never the
check. Refusals are :class:`~sparkbt.errors.Refusal` (Forbidden, Conflict,
NotFound, or kind invalid).
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from sparkbt.errors import Conflict, Forbidden, InputError, NotFound, Refusal
from sparkbt.platform import backtests as engine
from sparkbt.platform.audit import AuditLog, Origin
from sparkbt.platform.auth import Principal
from sparkbt.platform.jobs import Job, JobStore
from sparkbt.platform.metrics import ServiceMetrics
from sparkbt.platform.option_models import OptionsBody, engine_options_model
from sparkbt.platform.proposal_tables import read_version
from sparkbt.platform.proposals import GuardStore
from sparkbt.platform.records import OPEN_STATES, Proposal
from sparkbt.platform.settings import Settings
from sparkbt.platform.text_fields import Line, Text, values_of_field
from sparkbt.platform.workers import JobPool
from sparkbt.research.paramsets import ParamSetVersion, version_of

__all__ = [
    "PROPOSE_ROLES",
    "DecideBody",
    "ProposalActions",
    "person",
    "stored_sweep",
]

PROPOSE_ROLES = ("proposer", "approver", "admin")
"""Roles that may propose a param change."""


_MAX_SYMBOLS = 64
"""The most symbols a param set may name."""
_PAIR_TEXT = _MAX_SYMBOLS * 33  # symbols of at most 32 characters, comma-joined


class _ProposeBody(BaseModel):
    """A proposal: the param set's new version, and what it was prepared against."""

    model_config = ConfigDict(extra="forbid", strict=True)

    paramset: Line = Field(min_length=1, max_length=64)
    strategy: Line = Field(min_length=1, max_length=64)
    # one symbol, or a portfolio's symbols comma-joined (BTCUSDT,ETHUSDT) ...
    pair: Line = Field("ETHUSDT", min_length=1, max_length=_PAIR_TEXT)
    # ... or given as a list (not both)
    pairs: list[Line] | None = Field(None, min_length=1, max_length=_MAX_SYMBOLS)
    timeframe: Line = Field("4h", min_length=1, max_length=16)
    params: dict[str, Any] = Field(default_factory=dict, max_length=64)
    options: OptionsBody = Field(default_factory=OptionsBody)
    sweep_id: Line | None = Field(None, min_length=1, max_length=64)
    note: Text = Field("", max_length=2000)
    # the approved version the change was prepared against (default: the one approved now)
    base_version_id: Line | None = Field(None, max_length=64)

    _texts = field_validator("params", "options", mode="before")(values_of_field)


def propose_model() -> type[_ProposeBody]:
    """The proposal body's model, its engine options as the option specs say now."""
    engine_options = engine_options_model()
    return create_model(
        "ProposeBody",
        __base__=_ProposeBody,
        __module__=__name__,
        options=(
            engine_options,
            Field(default_factory=engine_options, description="Engine options of the version."),
        ),
    )


class DecideBody(BaseModel):
    """An approval or rejection."""

    model_config = ConfigDict(extra="forbid", strict=True)

    comment: Text = Field("", max_length=2000)
    override_reason: Text | None = Field(None, max_length=2000)
    content_sha256: Line | None = Field(None, min_length=1, max_length=64)


def person(who: Principal, action: str) -> Principal:
    """``who`` if it is a user's own key: the admin token is nobody's, so it never proposes,
    approves or rejects (each proposal and decision names the person who made it)."""
    if who.token:
        raise Forbidden(
            f"the admin token may not {action}: use your own API key (--key / SPARKBT_API_KEY)",
            principal=who,
        )
    return who


def _line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:500] or type(exc).__name__


def stored_sweep(evidence_dir: Path, sweep_id: str, strategy: str) -> str:
    """The full id of the stored sweep ``sweep_id`` (an id or a unique prefix) of ``strategy``.

    Raises a Refusal (invalid) when there is no such sweep, the prefix is
    ambiguous, or the sweep is of another strategy.
    """
    text = sweep_id.strip()
    root = Path(evidence_dir) / "sweep"
    hits = []
    if re.fullmatch(r"[0-9A-Za-z_-]{1,64}", text) and root.is_dir():
        exact = root / text / "sweep.json"
        hits = [exact] if exact.is_file() else sorted(root.glob(f"{text}*/sweep.json"))
    if not hits:
        raise Refusal(f"sweep_id: no stored sweep with id {sweep_id[:64]!r}")
    if len(hits) > 1:
        names = ", ".join(h.parent.name for h in hits[:5])
        raise Refusal(f"sweep_id: {sweep_id!r} matches several sweeps ({names})")
    try:
        meta = json.loads(hits[0].read_text())
    except (OSError, ValueError):
        raise Refusal(f"sweep_id: sweep {hits[0].parent.name} is unreadable") from None
    found = (meta.get("identity") or {}).get("strategy")
    if found != strategy:
        raise Refusal(
            f"sweep_id: sweep {hits[0].parent.name} is of strategy {found}, "
            f"not of the proposed {strategy}"
        )
    return hits[0].parent.name


class ProposalActions:
    """Proposal submission, evaluation bookkeeping and decisions of one service."""

    def __init__(
        self,
        settings: Settings,
        guard: GuardStore,
        jobs: JobStore,
        pool: JobPool,
        audit: AuditLog,
        metrics: ServiceMetrics,
    ) -> None:
        self.settings, self.guard, self.jobs, self.pool = settings, guard, jobs, pool
        self.audit, self.metrics = audit, metrics
        self.request_model = propose_model()

    def approved_version(self, name: str) -> ParamSetVersion:
        """The approved version of a param set, ready to run (NotFound or Conflict otherwise)."""
        from sparkbt.engine.registry import get_strategy

        version = self.guard.paramset(name).approved
        if version is None:
            raise NotFound(f"param set {name!r}: no version is approved")
        try:
            current = get_strategy(version.strategy).source_sha256
        except InputError as exc:
            raise Conflict(f"param set {name}: {exc}") from None
        if current != version.strategy_sha256:
            raise Conflict(
                f"param set {name}: the code of strategy {version.strategy} changed since "
                f"version {version.id} was approved; propose it again"
            )
        return version

    def _evaluation_request(
        self, proposal: Proposal, base: dict[str, Any] | None
    ) -> dict[str, Any]:
        """The job that evaluates ``proposal`` (``base``: the version it replaces, as a dict)."""
        version = proposal.version
        return {
            "pair": version.pair,
            "timeframe": version.timeframe,
            "strategy": version.strategy,
            "params": dict(version.params),
            "options": dict(version.options),
            "notes": f"guard evaluation of proposal {proposal.id}",
            "guard": {
                "proposal_id": proposal.id,
                "paramset": proposal.name,
                "proposed": version.to_dict(),
                "base": base,
                "sweep_id": proposal.sweep_id,
            },
        }

    def _queued(self, job: Job) -> Job:
        self.pool.notify()
        self.audit.job("start", job, impl=job.impl, notes=job.request["notes"])
        return job

    def requeue_evaluations(self) -> list[Job]:
        """At start: queue an evaluation for every evaluating proposal that has no job
        (a database from before proposals and their jobs were written together), and
        end as ``failed`` those whose evaluation job failed."""
        out = []
        for p in self.guard.list("evaluating"):
            job = self.jobs.for_proposal(p.id)
            if job is None:
                full = self.guard.get(p.id)
                base_id = full.base_version_id
                base = self.guard.version(base_id).to_dict() if base_id else None
                request = self._evaluation_request(full, base)
                job = self.jobs.create(request, "engine", user=full.proposer, capped=False)
                out.append(self._queued(job))
            elif job.status == "failed":
                self.evaluated(job, job.request.get("guard") or {"proposal_id": p.id}, 0.0)
        return out

    def propose(
        self, body: _ProposeBody, who: Principal, where: Origin, explicit_base: bool = False
    ) -> Proposal:
        """Check a proposal (registry strategy, parameters, candles, sweep), record it as
        ``who``'s and queue its evaluation; a Refusal before anything is written."""
        person(who, "propose a param change")
        if body.pairs is not None and "pair" in body.model_fields_set:
            raise Refusal("pairs: give pair or pairs, not both")
        try:
            engine.check_strategy_name(body.strategy)
            version = version_of(
                body.paramset,
                body.strategy,
                body.pair if body.pairs is None else body.pairs,
                body.timeframe,
                body.params,
                body.options.given(),
            )
            if len(version.pairs) > _MAX_SYMBOLS:
                raise Refusal(f"pairs: at most {_MAX_SYMBOLS} symbols (got {len(version.pairs)})")
            for symbol in version.pairs:  # every symbol's candles are there
                engine.check_request(
                    symbol, version.timeframe, version.strategy, version.params,
                    self.settings.data_dir,
                )  # fmt: skip
        except Refusal:
            raise
        except InputError as exc:
            raise Refusal(_line(exc)) from None
        sweep_id = body.sweep_id
        if sweep_id is not None:
            sweep_id = stored_sweep(self.settings.evidence_dir, sweep_id, version.strategy)
        if explicit_base:
            base_id = body.base_version_id
        else:
            try:
                approved = self.guard.paramset(version.name).approved
            except NotFound:
                approved = None
            base_id = None if approved is None else approved.id
        queued: list[Job] = []

        def evaluation(db: sqlite3.Connection, proposal: Proposal) -> None:
            """Queue the evaluation in the proposal's own transaction."""
            prior = proposal.base_version_id
            base = read_version(db, prior).to_dict() if prior else None
            request = self._evaluation_request(proposal, base)
            queued.append(
                self.jobs.insert(
                    db, request, "engine", where["client_ip"], where["user_agent"], who.name
                )
            )

        proposal = self.guard.propose(version, base_id, who.name, body.note, sweep_id, evaluation)
        job = self._queued(queued[0])
        self.metrics.guard_proposals.labels(status=proposal.state).inc()
        self.audit.write(
            "guard_proposed",
            job_id=job.id,
            user=who.name,
            request=version.content(),
            **where,
            proposal_id=proposal.id,
            paramset=proposal.name,
            version_id=version.id,
            base_version_id=base_id,
            sweep_id=proposal.sweep_id,
            note=proposal.note,
        )
        return proposal

    def evaluated(self, job: Job, guard: dict[str, Any], duration_ms: float) -> None:
        """Record what the worker found for a proposal's evaluation job (metrics, audit)."""
        result = (job.stats or {}).get("guard") if job.status == "done" else None
        base: dict[str, Any] = {
            "job_id": job.id,
            "user": None,
            "request": job.request,
            "proposal_id": guard.get("proposal_id"),
            "paramset": guard.get("paramset"),
        }
        if result is None:
            pid = guard.get("proposal_id")
            if pid:
                self.guard.fail(str(pid), f"evaluation failed: {job.error or 'no reason given'}")
            self.metrics.guard_proposals.labels(status="failed").inc()
            self.audit.write("guard_evaluated", **base, outcome="failed", error=job.error)
            return
        self.metrics.guard_evaluation.observe(duration_ms / 1000.0)
        for gate, outcome in (result.get("gates") or {}).items():
            self.metrics.guard_gate_results.labels(gate=gate, result=outcome).inc()
        if result.get("recorded"):
            self.metrics.guard_proposals.labels(status=result["state"]).inc()
        self.audit.write(
            "guard_evaluated",
            **base,
            outcome=result.get("decision"),
            state=result.get("state"),
            recorded=result.get("recorded"),
            note=result.get("note"),
            policy_sha256=result.get("policy_sha256"),
            gates=result.get("gates"),
            runs=result.get("runs"),
        )

    def approve(
        self, proposal_id: str, who: Principal, body: DecideBody, where: Origin
    ) -> Proposal:
        """Approve (or, for an admin with a reason, override) a proposal as ``who``."""
        person(who, "approve a proposal")
        before = self.guard.get(proposal_id)
        reason = (body.override_reason or "").strip()
        overridable = who.role == "admin" and reason
        if before.state == "blocked" and who.name != before.proposer and not overridable:
            blocking = [g["gate"] for g in before.gate_results or () if g["result"] == "block"]
            raise Conflict(
                f"proposal {before.id}: is blocked by {', '.join(blocking) or 'its gates'}; "
                "only an admin may approve it, with an override_reason"
            )
        others = [p.id for p in self.guard.list(name=before.name) if p.state in OPEN_STATES]
        try:
            after = self.guard.approve(
                before.id,
                who.name,
                who.role,
                body.comment,
                reason or None,
                content_sha256=body.content_sha256,
            )
        except Conflict:
            if before.state != "stale" and self.guard.get(before.id).state == "stale":
                self.metrics.guard_proposals.labels(status="stale").inc()
            raise
        override = before.state == "blocked"
        if after.state == "approved":
            self.metrics.guard_proposals.labels(status="approved").inc()
            for pid in others:
                if pid != after.id and self.guard.get(pid).state == "stale":
                    self.metrics.guard_proposals.labels(status="stale").inc()
        self.audit.write(
            "guard_override" if override else "guard_approved",
            **_decided(after, who, where),
            base_version_id=after.base_version_id,
            role=who.role,
            comment=body.comment,
            override_reason=reason if override else None,
            state=after.state,
            content_sha256=after.content_sha256,
        )
        return after

    def reject(self, proposal_id: str, who: Principal, body: DecideBody, where: Origin) -> Proposal:
        """Reject an open proposal as ``who`` (an override reason belongs to approvals only)."""
        person(who, "reject a proposal")
        if body.override_reason is not None:
            raise Refusal("override_reason: only an approval overrides a blocked proposal")
        after = self.guard.reject(proposal_id, who.name, who.role, body.comment)
        self.metrics.guard_proposals.labels(status="rejected").inc()
        self.audit.write(
            "guard_rejected",
            **_decided(after, who, where),
            role=who.role,
            comment=body.comment,
        )
        return after

    def refused_decision(
        self, action: str, proposal_id: str, who: Principal | None, exc: Refusal, where: Origin
    ) -> None:
        """Audit an approval or rejection refused as forbidden or conflicting (never a key)."""
        from sparkbt.platform.refusals import status_of

        self.audit.write(
            "guard_refused",
            user=None if who is None else who.name,
            client_ip=where["client_ip"],
            user_agent=where["user_agent"],
            proposal_id=proposal_id,
            action=action,
            role=None if who is None else who.role,
            status=status_of(exc),
            reason=_line(exc),
        )


def _decided(after: Proposal, who: Principal, where: Origin) -> dict[str, Any]:
    """The leading audit fields of a decision on ``after`` (in the order the log writes them)."""
    return {
        "user": who.name,
        "request": after.version.content(),
        **where,
        "proposal_id": after.id,
        "paramset": after.name,
        "version_id": after.version.id,
    }
