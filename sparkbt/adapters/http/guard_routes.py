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
:class:`~sparkbt.platform.proposals.GuardStore`'s;
the routes add who the caller is (from the key) and map refusals to HTTP:
Forbidden 403, Conflict 409, NotFound 404, any other input error 422, always
``{"detail": "<one line>"}``. A ``sweep_id`` must name a stored sweep of the
proposed strategy (its id, or a unique prefix of it, which is stored in full)
or the proposal is a 422 that writes nothing. An approval or rejection refused
with 403 or 409 (role, own proposal, blocked, stale, decided) writes a
``guard_refused`` audit line: user, proposal id, action, status and reason.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from sparkbt.errors import InputError
from sparkbt.platform import backtests as engine
from sparkbt.platform.audit import origin
from sparkbt.platform.auth import READ, AuthError, Principal
from sparkbt.platform.proposals import APPROVER_ROLES, Conflict, Forbidden, NotFound, Proposal
from sparkbt.platform.refusals import Rejected, validation_message
from sparkbt.research.paramsets import ParamSetVersion, version_of

__all__ = ["PROPOSE_ROLES", "install", "submit_proposal"]

PROPOSE_ROLES = ("proposer", "approver", "admin")
"""Roles that may propose a param change."""


class ProposeBody(BaseModel):
    """Body of ``POST /api/guard/proposals``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    paramset: str = Field(min_length=1, max_length=64)
    strategy: str = Field(min_length=1, max_length=64)
    pair: str = Field("ETHUSDT", min_length=1, max_length=32)
    timeframe: str = Field("4h", min_length=1, max_length=16)
    params: dict[str, Any] = Field(default_factory=dict, max_length=64)
    options: dict[str, Any] = Field(default_factory=dict, max_length=16)
    sweep_id: str | None = Field(None, min_length=1, max_length=64)
    note: str = Field("", max_length=2000)
    # the approved version the change was prepared against (default: the one approved now)
    base_version_id: str | None = Field(None, max_length=64)


class DecideBody(BaseModel):
    """Body of the approve and reject routes."""

    model_config = ConfigDict(extra="forbid", strict=True)

    comment: str = Field("", max_length=2000)
    override_reason: str | None = Field(None, max_length=2000)
    content_sha256: str | None = Field(None, min_length=1, max_length=64)


def _line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:500] or type(exc).__name__


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


def stored_sweep(evidence_dir: Path, sweep_id: str, strategy: str) -> str:
    """The full id of the stored sweep ``sweep_id`` (an id or a unique prefix) of ``strategy``.

    Raises InputError (a 422) when there is no such sweep, the prefix is
    ambiguous, or the sweep is of another strategy.
    """
    text = sweep_id.strip()
    root = Path(evidence_dir) / "sweep"
    hits = []
    if re.fullmatch(r"[0-9A-Za-z_-]{1,64}", text) and root.is_dir():
        exact = root / text / "sweep.json"
        hits = [exact] if exact.is_file() else sorted(root.glob(f"{text}*/sweep.json"))
    if not hits:
        raise InputError(f"sweep_id: no stored sweep with id {sweep_id[:64]!r}")
    if len(hits) > 1:
        names = ", ".join(h.parent.name for h in hits[:5])
        raise InputError(f"sweep_id: {sweep_id!r} matches several sweeps ({names})")
    try:
        meta = json.loads(hits[0].read_text())
    except (OSError, ValueError):
        raise InputError(f"sweep_id: sweep {hits[0].parent.name} is unreadable") from None
    found = (meta.get("identity") or {}).get("strategy")
    if found != strategy:
        raise InputError(
            f"sweep_id: sweep {hits[0].parent.name} is of strategy {found}, "
            f"not of the proposed {strategy}"
        )
    return hits[0].parent.name


def install(app: FastAPI, svc: Any) -> None:
    """Add the guard routes and their error mapping to ``app`` for the service ``svc``."""

    for cls, status in ((Forbidden, 403), (Conflict, 409), (NotFound, 404), (InputError, 422)):

        async def _handler(_: Request, exc: Exception, status: int = status) -> JSONResponse:
            return JSONResponse({"detail": _line(exc)}, status_code=status)

        app.add_exception_handler(cls, _handler)

    router = APIRouter(prefix="/api/guard")
    reader = Depends(svc.auth.dependency(READ, "read proposals"))
    proposer = svc.auth.dependency(PROPOSE_ROLES, "propose a param change")

    async def body_of(request: Request, model: type[BaseModel]) -> Any:
        raw = await svc.read_body(request)
        try:
            data = json.loads(raw) if raw.strip() else {}
        except (ValueError, RecursionError) as exc:
            raise Rejected(422, f"malformed JSON body: {exc}"[:300]) from None
        if not isinstance(data, dict):
            raise Rejected(422, f"body: expected a JSON object (got {type(data).__name__})")
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise Rejected(422, validation_message(exc)) from None

    def full(p: Proposal) -> dict[str, Any]:
        out = p.to_dict()
        out["paramset"] = out.pop("name")
        out["decision"] = p.gate_decision
        job = svc.store.for_proposal(p.id)
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
        return out

    @router.get("/policy", dependencies=[reader])
    async def get_policy() -> dict[str, Any]:
        policy = svc.policy
        return {
            "sha256": policy.sha256,
            "source": policy.source,
            **policy.to_dict(),
            "toml": policy.to_toml(),
        }

    @router.post("/proposals", status_code=201)
    async def propose(request: Request, who: Principal = Depends(proposer)) -> JSONResponse:
        body: ProposeBody = await body_of(request, ProposeBody)
        proposal = await run_in_threadpool(
            submit_proposal, svc, body, who, request, "base_version_id" in body.model_fields_set
        )
        return JSONResponse({"id": proposal.id, "status": proposal.state}, status_code=201)

    @router.get("/proposals", dependencies=[reader])
    async def list_proposals(
        status: Literal["evaluating", "pending", "blocked", "approved", "rejected", "stale"]
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

    def refused(
        action: str,
        proposal_id: str,
        who: Principal | None,
        status: int,
        exc: Exception,
        request: Request,
    ) -> None:
        """Audit an approval or rejection refused with 403 or 409 (never a key: none is passed)."""
        svc.audit.write(
            "guard_refused",
            user=None if who is None else who.name,
            **origin(request),
            proposal_id=proposal_id,
            action=action,
            role=None if who is None else who.role,
            status=status,
            reason=_line(exc),
        )

    async def decide(action: str, proposal_id: str, request: Request) -> dict[str, Any]:
        who: Principal | None = None
        pid = proposal_id[:64]
        try:
            who = await run_in_threadpool(
                svc.auth.require, request, APPROVER_ROLES, f"{action} a proposal"
            )
            body: DecideBody = await body_of(request, DecideBody)
            if action == "reject":
                if body.override_reason is not None:
                    raise Rejected(
                        422, "override_reason: only an approval overrides a blocked proposal"
                    )
                return full(await run_in_threadpool(svc.reject, pid, who, body, request))
            return full(await run_in_threadpool(svc.approve, pid, who, body, request))
        except AuthError as exc:
            if exc.status == 403:
                await run_in_threadpool(refused, action, pid, exc.principal, 403, exc, request)
            raise
        except (Forbidden, Conflict) as exc:
            status = 403 if isinstance(exc, Forbidden) else 409
            await run_in_threadpool(refused, action, pid, who, status, exc, request)
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


def submit_proposal(
    svc: Any, body: ProposeBody, who: Principal, request: Request, explicit_base: bool = False
) -> Proposal:
    """Check a proposal as the API does (registry strategy, parameters, candles, sweep) and
    submit it as ``who``: InputError (422) for a fault, before anything is written."""
    engine.check_strategy_name(body.strategy)
    version = version_of(
        body.paramset, body.strategy, body.pair, body.timeframe, body.params, body.options
    )
    engine.check_request(
        version.pair, version.timeframe, version.strategy, version.params, svc.settings.data_dir
    )
    if body.sweep_id is not None:
        full_id = stored_sweep(svc.settings.evidence_dir, body.sweep_id, version.strategy)
        body = body.model_copy(update={"sweep_id": full_id})
    return svc.submit(version, body, who, explicit_base, request)


def approved_version(svc: Any, name: str) -> ParamSetVersion:
    """The approved version of param set ``name`` (NotFound when there is none)."""
    ps = svc.guard.paramset(name)
    if ps.approved is None:
        raise NotFound(f"param set {name!r}: no version is approved")
    return ps.approved
