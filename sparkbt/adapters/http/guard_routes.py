"""The guardrail routes: param-change proposals, their evaluation, approvals and param sets.

::

    GET  /api/guard/policy                     the policy in force and its sha256
    POST /api/guard/proposals                  propose a version of a param set (proposer,
                                               approver, admin): 201 {"id", "status": "evaluating"}
    GET  /api/guard/proposals                  proposals newest first (?status=&paramset=&limit=)
    GET  /api/guard/proposals/{id}             state, base, diff, gates, evidence, approvals,
                                               history and the evaluation job
    POST /api/guard/proposals/{id}/approve     {"comment", "override_reason"?, "content_sha256"?}
    POST /api/guard/proposals/{id}/reject      {"comment"} (approver, admin)
    GET  /api/guard/paramsets/{name}           the approved version and the history

A proposal is evaluated by a job in the durable job queue (its request carries
``guard``): a worker runs :func:`sparkbt.research.assess.assess` with the policy in
force and records the result, so an evaluation interrupted by a crash is run
again at the next start. The rules of approval are
:class:`~sparkbt.platform.proposals.GuardStore`'s and the actions
:class:`~sparkbt.platform.proposal_actions.ProposalActions`'; the routes add who
the caller is (from the key), parse and render. Refusals are answered by the
app's one handler: Forbidden 403, Conflict 409, NotFound 404, any other input
error 422, always ``{"detail": "<one line>"}``. A ``sweep_id`` must name a stored sweep of the
proposed strategy (its id, or a unique prefix of it, which is stored in full)
or the proposal is a 422 that writes nothing. An approval or rejection refused
with 403 or 409 (role, own proposal, blocked, stale, decided) writes a
``guard_refused`` audit line: user, proposal id, action, status and reason.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from sparkbt.errors import Refusal
from sparkbt.platform.audit import origin
from sparkbt.platform.auth import READ, Principal
from sparkbt.platform.proposal_actions import PROPOSE_ROLES, DecideBody
from sparkbt.platform.records import APPROVER_ROLES, Proposal
from sparkbt.platform.refusals import json_object, validated
from sparkbt.platform.service import Service

__all__ = ["install"]

BodyReader = Callable[[Service, Request], Awaitable[bytes]]


def _summary(p: Proposal) -> dict[str, Any]:
    """A proposal in a list: no evidence, approvals or history."""
    return {
        "id": p.id,
        "paramset": p.name,
        "state": p.state,
        "version_id": p.version.id,
        "base_version_id": p.base_version_id,
        "proposer": p.proposer,
        "note": p.note,
        "sweep_id": p.sweep_id,
        "decision": p.gate_decision,
        "blocking": [g["gate"] for g in p.gate_results or () if g["result"] == "block"],
        "created_at": p.to_dict()["created_at"],
        "updated_at": p.to_dict()["updated_at"],
    }


def install(app: FastAPI, svc: Service, read_body: BodyReader) -> None:
    """Add the guard routes to ``app`` for the service ``svc``."""
    router = APIRouter(prefix="/api/guard")
    reader = Depends(svc.auth.dependency(READ, "read proposals"))
    proposer = svc.auth.dependency(PROPOSE_ROLES, "propose a param change")

    def full(p: Proposal) -> dict[str, Any]:
        out = p.to_dict()
        out["paramset"] = out.pop("name")
        out["decision"] = p.gate_decision
        job = svc.jobs.for_proposal(p.id)
        out["evaluation"] = (
            None
            if job is None
            else {
                "job_id": job.id,
                "status": job.status,
                "attempts": job.attempts,
                "error": job.error,
                "seconds": ((job.stats or {}).get("guard") or {}).get("seconds"),
            }
        )
        return dict(svc.backtests.paths.scrub(out))  # no server folder in what readers see

    @router.get("/policy", dependencies=[reader])
    async def get_policy() -> dict[str, Any]:
        policy = svc.policy
        return {
            "sha256": policy.sha256,
            "source": svc.backtests.paths.relative(policy.source),
            **policy.to_dict(),
            "toml": policy.to_toml(),
        }

    @router.post("/proposals", status_code=201)
    async def propose(request: Request, who: Principal = Depends(proposer)) -> JSONResponse:
        raw = json_object(await read_body(svc, request))
        body = validated(svc.proposals.request_model, raw)
        explicit_base = "base_version_id" in body.model_fields_set
        proposal = await run_in_threadpool(
            svc.proposals.propose, body, who, origin(request), explicit_base
        )
        return JSONResponse({"id": proposal.id, "status": proposal.state}, status_code=201)

    @router.get("/proposals", dependencies=[reader])
    async def list_proposals(
        status: Literal[
            "evaluating", "pending", "blocked", "approved", "rejected", "stale", "failed"
        ]
        | None = None,
        paramset: str | None = Query(None, min_length=1, max_length=64),
        limit: int = Query(100, ge=1, le=10_000),
    ) -> dict[str, Any]:
        found = await run_in_threadpool(svc.guard.list, status, paramset)
        out = [_summary(p) for p in found[:limit]]
        return {"proposals": out, "count": len(out), "matching": len(found)}

    @router.get("/proposals/{proposal_id}", dependencies=[reader])
    async def get_proposal(proposal_id: str) -> dict[str, Any]:
        return full(await run_in_threadpool(svc.guard.get, proposal_id[:64]))

    async def decide(action: str, proposal_id: str, request: Request) -> dict[str, Any]:
        who: Principal | None = None
        pid = proposal_id[:64]
        where = origin(request)
        try:
            who = await run_in_threadpool(
                svc.auth.require, request, APPROVER_ROLES, f"{action} a proposal"
            )
            assert who is not None  # a write always has a caller
            body = validated(DecideBody, json_object(await read_body(svc, request)))
            act = svc.proposals.reject if action == "reject" else svc.proposals.approve
            return full(await run_in_threadpool(act, pid, who, body, where))
        except Refusal as exc:
            if exc.kind in ("forbidden", "conflict"):
                await run_in_threadpool(
                    svc.proposals.refused_decision, action, pid, who or exc.principal, exc, where
                )
            raise

    @router.post("/proposals/{proposal_id}/approve")
    async def approve(proposal_id: str, request: Request) -> dict[str, Any]:
        return await decide("approve", proposal_id, request)

    @router.post("/proposals/{proposal_id}/reject")
    async def reject(proposal_id: str, request: Request) -> dict[str, Any]:
        return await decide("reject", proposal_id, request)

    @router.get("/paramsets/{name}", dependencies=[reader])
    async def get_paramset(name: str) -> dict[str, Any]:
        ps = await run_in_threadpool(svc.guard.paramset, name[:64])
        return ps.to_dict()

    app.include_router(router)
