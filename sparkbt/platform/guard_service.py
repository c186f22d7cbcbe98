"""The guard side of the service: proposals submitted, evaluated as durable jobs, decided.

:class:`GuardActions` is mixed into :class:`~sparkbt.adapters.http.app.Service`: it
queues a proposal's evaluation as a job of the job store, records what the
worker found (metrics, audit), and applies approvals and rejections through the
:class:`~sparkbt.platform.proposals.GuardStore` rules, auditing each. The routes
that call it are in :mod:`.guard_routes` and :mod:`sparkbt.adapters.web.guard`.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from sparkbt.adapters.http.guard_routes import approved_version
from sparkbt.errors import InputError
from sparkbt.platform.audit import origin
from sparkbt.platform.auth import Principal
from sparkbt.platform.jobs import Job
from sparkbt.platform.proposals import OPEN_STATES, Conflict, NotFound, Proposal
from sparkbt.platform.refusals import Rejected
from sparkbt.research.paramsets import ParamSetVersion

__all__ = ["GuardActions"]


class GuardActions:
    """Proposal submission, evaluation bookkeeping and decisions of one service.

    Uses the service's ``guard`` (GuardStore), ``store`` (JobStore), ``pool``,
    ``audit`` and ``metrics``.
    """

    guard: Any
    store: Any
    pool: Any
    audit: Any
    metrics: Any

    def approved_version(self, name: str) -> ParamSetVersion:
        """The approved version of a param set, ready to run (Rejected 404 or 409 otherwise)."""
        from sparkbt.engine.registry import get_strategy

        try:
            version = approved_version(self, name)
        except NotFound as exc:
            raise Rejected(404, str(exc)) from None
        try:
            current = get_strategy(version.strategy).source_sha256
        except InputError as exc:
            raise Rejected(409, f"param set {name}: {exc}") from None
        if current != version.strategy_sha256:
            raise Rejected(
                409,
                f"param set {name}: the code of strategy {version.strategy} changed since "
                f"version {version.id} was approved; propose it again",
            )
        return version

    def _evaluation_job(
        self,
        proposal: Proposal,
        client_ip: str | None = None,
        agent: str | None = None,
    ) -> Job:
        """Queue the evaluation of ``proposal`` as a durable job."""
        version = proposal.version
        base = (
            self.guard.version(proposal.base_version_id).to_dict()
            if proposal.base_version_id
            else None
        )
        request = {
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
        job = self.store.create(request, "engine", client_ip, agent, user=proposal.proposer)
        self.pool.notify()
        self.audit.job("start", job, impl=job.impl, notes=request["notes"])
        return job

    def requeue_evaluations(self) -> list[Job]:
        """At start: queue an evaluation for every evaluating proposal that has no job
        (the service stopped between recording the proposal and queueing its job)."""
        out = []
        for p in self.guard.list("evaluating"):
            if self.store.for_proposal(p.id) is None:
                out.append(self._evaluation_job(self.guard.get(p.id)))
        return out

    def submit(
        self,
        version: ParamSetVersion,
        body: Any,
        who: Principal,
        explicit_base: bool,
        request: Request,
    ) -> Proposal:
        """Record a proposal of ``version`` and queue its evaluation."""
        if explicit_base:
            base_id = body.base_version_id
        else:
            try:
                approved = self.guard.paramset(version.name).approved
            except NotFound:
                approved = None
            base_id = None if approved is None else approved.id
        proposal = self.guard.propose(version, base_id, who.name, body.note, body.sweep_id)
        where = origin(request)
        job = self._evaluation_job(proposal, where["client_ip"], where["user_agent"])
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

    def _evaluated(self, job: Job, guard: dict[str, Any], duration_ms: float) -> None:
        result = (job.stats or {}).get("guard") if job.status == "done" else None
        base = {
            "job_id": job.id,
            "user": None,
            "request": job.request,
            "proposal_id": guard.get("proposal_id"),
            "paramset": guard.get("paramset"),
        }
        if result is None:
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

    def approve(self, proposal_id: str, who: Principal, body: Any, request: Request) -> Proposal:
        """Approve (or, for an admin with a reason, override) a proposal as ``who``."""
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
            user=who.name,
            request=after.version.content(),
            **origin(request),
            proposal_id=after.id,
            paramset=after.name,
            version_id=after.version.id,
            base_version_id=after.base_version_id,
            role=who.role,
            comment=body.comment,
            override_reason=reason if override else None,
            state=after.state,
            content_sha256=after.content_sha256,
        )
        return after

    def reject(self, proposal_id: str, who: Principal, body: Any, request: Request) -> Proposal:
        """Reject an open proposal as ``who``."""
        after = self.guard.reject(proposal_id, who.name, who.role, body.comment)
        self.metrics.guard_proposals.labels(status="rejected").inc()
        self.audit.write(
            "guard_rejected",
            user=who.name,
            request=after.version.content(),
            **origin(request),
            proposal_id=after.id,
            paramset=after.name,
            version_id=after.version.id,
            role=who.role,
            comment=body.comment,
        )
        return after
