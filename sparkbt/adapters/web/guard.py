"""Guardrails pages: param sets, proposals with their evidence, and approving or rejecting them.

::

    GET  /ui/guard                               param sets and proposals by state
    GET  /ui/guard/propose                       the proposal form (?paramset= starts from its
                                                 approved version)
    POST /ui/guard/propose                       propose, checked as the API checks it
    GET  /ui/guard/paramsets/{name}              the approved version and the history
    GET  /ui/guard/proposals/{id}                one proposal (id or unique prefix)
    GET  /ui/guard/proposals/{id}/status         its state (htmx polls it while evaluating)
    POST /ui/guard/proposals/{id}/approve        approve (or, for an admin, override)
    POST /ui/guard/proposals/{id}/reject         reject

Proposals and decisions go through the application's actions (the API's,
:class:`~sparkbt.platform.proposal_actions.ProposalActions`),
so the rules, metrics and audit lines are the same whichever way a user decides;
what the page shows or hides is a convenience, never the check.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from sparkbt.adapters.web.forms import body_of_form
from sparkbt.adapters.web.guarddata import chart_payload, diff_rows, evidence_view, gate_rows, show
from sparkbt.adapters.web.pages import Pages, redirect
from sparkbt.adapters.web.runs import strategy_form
from sparkbt.errors import InputError, NotFound, Refusal
from sparkbt.platform.audit import origin
from sparkbt.platform.auth import Principal
from sparkbt.platform.proposal_actions import PROPOSE_ROLES, DecideBody
from sparkbt.platform.records import APPROVER_ROLES, OPEN_STATES, STATES, Proposal
from sparkbt.platform.refusals import status_of
from sparkbt.platform.service import Service
from sparkbt.research.paramsets import ParamSetVersion

__all__ = ["router"]

PER_STATE = 50
"""Proposals listed per state on the panel (newest first)."""


def _line(exc: BaseException) -> str:
    """The one line the API answers with for the same refusal."""
    return " ".join(str(exc).split())[:500] or type(exc).__name__


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    field = ".".join(str(x) for x in first.get("loc", ()))
    return f"{field}: {first.get('msg', 'invalid')}"


def form_values(svc: Service, name: str) -> dict[str, str]:
    """The proposal form's values of param set ``name``'s approved version (empty if none)."""
    try:
        v = svc.guard.paramset(name).approved
    except NotFound:
        v = None
    values = {"paramset": name}
    if v is None:
        return values
    values |= {"strategy": v.strategy, "pair": v.pair, "timeframe": v.timeframe}
    values |= {f"param.{k}": show(x) for k, x in v.params.items()}
    for k, x in v.options.items():
        if k == "gates":
            gates = ", ".join(f"{g}={show(limit)}" for g, limit in (x or {}).items())
            if gates:
                values["opt.gates"] = gates
        elif x is True:
            values[f"opt.{k}"] = "true"
        elif x not in (None, False):
            values[f"opt.{k}"] = show(x)
    return values


def market(v: ParamSetVersion) -> str:
    """What a version trades: ``ETHUSDT 4h``, or a portfolio's symbols ``BTCUSDT, ETHUSDT 4h``."""
    return f"{', '.join(v.pairs)} {v.timeframe}"


def _when(iso: str | None) -> str:
    return "" if not iso else iso[:19].replace("T", " ")


def resolve(svc: Service, proposal_id: str) -> Proposal:
    """The proposal with this id, or the only one whose id starts with it (NotFound)."""
    pid = proposal_id.strip().lower()[:64]
    try:
        return svc.guard.get(pid)
    except NotFound:
        pass
    if len(pid) >= 4 and pid.isalnum():
        found = [p.id for p in svc.guard.list() if p.id.startswith(pid)]
        if len(found) == 1:
            return svc.guard.get(found[0])
        if len(found) > 1:
            raise Refusal(f"proposal {pid!r}: {len(found)} proposals start with it", "not_found")
    raise Refusal(f"proposal {pid!r}: not found", "not_found")


def _summary(p: Proposal) -> dict[str, Any]:
    d = p.to_dict()
    blocking = [g.get("gate") for g in p.gate_results or () if g.get("result") == "block"]
    return {
        "id": p.id,
        "paramset": p.name,
        "state": p.state,
        "strategy": p.version.strategy,
        "market": market(p.version),
        "params": ", ".join(f"{k}={show(v)}" for k, v in p.version.params.items()),
        "version_id": p.version.id,
        "base_version_id": p.base_version_id,
        "proposer": p.proposer,
        "note": p.note,
        "blocking": blocking,
        "created": _when(d["created_at"]),
        "updated": _when(d["updated_at"]),
    }


def _approvers(svc: Service, proposal_id: str | None) -> tuple[list[str], str]:
    """Who approved a proposal and when it was decided (empty for an unknown one)."""
    if not proposal_id:
        return [], ""
    try:
        p = svc.guard.get(proposal_id)
    except NotFound:
        return [], ""
    users = [a.user for a in p.approvals if a.content_sha256 == p.content_sha256]
    return users, _when(p.to_dict()["updated_at"])


def panel_data(svc: Service) -> dict[str, Any]:
    """Param sets with their approved versions, and proposals grouped by state."""
    paramsets = []
    for name in svc.guard.names():
        ps = svc.guard.paramset(name)
        by, at = _approvers(svc, ps.approved_proposal_id)
        v = ps.approved
        paramsets.append(
            {
                "name": name,
                "approved": None
                if v is None
                else {
                    "id": v.id,
                    "strategy": v.strategy,
                    "market": market(v),
                    "params": ", ".join(f"{k}={show(x)}" for k, x in v.params.items()),
                },
                "approved_by": by,
                "approved_at": at,
                "proposal_id": ps.approved_proposal_id,
            }
        )
    groups: dict[str, list[dict[str, Any]]] = {s: [] for s in STATES}
    counts = dict.fromkeys(STATES, 0)
    for p in svc.guard.list():  # newest first
        counts[p.state] = counts.get(p.state, 0) + 1
        if len(groups.setdefault(p.state, [])) < PER_STATE:
            groups[p.state].append(_summary(p))
    return {"paramsets": paramsets, "groups": groups, "counts": counts}


def _history_rows(events: list[Any]) -> list[dict[str, Any]]:
    """History events as rows; an approval of a version approved before is a rollback."""
    approved_before: set[str] = set()
    rows = []
    for h in events:
        detail = dict(h.detail or {})
        version = detail.get("version_id")
        rollback = h.event == "approved" and version in approved_before
        if h.event == "approved" and version:
            approved_before.add(version)
        shown = {
            k: v
            for k, v in detail.items()
            if k in ("version_id", "base_version_id", "comment", "override_reason", "blocking")
            and v not in (None, "", [])
        }
        rows.append(
            {
                "at": _when(h.to_dict()["at"]),
                "event": h.event,
                "state": h.state,
                "actor": h.actor or "",
                "proposal_id": h.proposal_id,
                "detail": "; ".join(f"{k.replace('_', ' ')}: {show(v)}" for k, v in shown.items()),
                "rollback": rollback,
            }
        )
    return rows


def _decision(p: Proposal, user: Principal | None) -> dict[str, Any]:
    """What the signed-in user may do here, and if nothing, why (one line)."""
    out = {"approve": False, "reject": False, "override": False, "why": ""}
    if p.state not in OPEN_STATES:
        out["why"] = f"This proposal is {p.state}: there is nothing left to decide."
    elif user is None:
        out["why"] = "Sign in as an approver or admin to approve or reject this proposal."
    elif user.role not in APPROVER_ROLES:
        out["why"] = f"Your role ({user.role}) may propose changes but not approve or reject them."
    elif user.name == p.proposer:
        out["why"] = "You proposed this change: another approver must decide on it."
    else:
        out["reject"] = True
        if p.state == "evaluating":
            out["why"] = "The evidence is still being computed: approve it once it is evaluated."
        elif p.state == "blocked" and user.role != "admin":
            out["why"] = "Its gates block it: only an admin may approve it, with a reason."
        else:
            out["approve"] = True
            out["override"] = p.state == "blocked"
    return out


def proposal_data(pages: Pages, p: Proposal) -> dict[str, Any]:
    """Everything the proposal page shows: diff, gates, evidence, chart, approvals, history."""
    svc = pages.svc
    d = p.to_dict()
    base = None
    if p.base_version_id:
        try:
            base = svc.guard.version(p.base_version_id).to_dict()
        except NotFound:
            base = None
    ev = evidence_view(svc.backtests.paths.scrub(p.evidence))
    runs = {r["label"]: r["id"] for r in ev["runs"]}
    job = svc.jobs.for_proposal(p.id)
    return {
        "id": p.id,
        "paramset": p.name,
        "state": p.state,
        "proposer": p.proposer,
        "note": p.note,
        "sweep_id": p.sweep_id,
        "created": _when(d["created_at"]),
        "updated": _when(d["updated_at"]),
        "content_sha256": p.content_sha256,
        "policy_sha256": p.policy_sha256,
        "version": d["version"],
        "market": market(p.version),
        "base_version_id": p.base_version_id,
        "diff": diff_rows(d["version"], base, d["changes"]),
        "gates": gate_rows(p.gate_results),
        "decision": p.gate_decision,
        "evidence": ev,
        "chart": chart_payload(pages.run, runs) if runs else None,
        "approvals": [
            {
                **a.to_dict(),
                "created_at": _when(a.to_dict()["created_at"]),
                "current": a.content_sha256 == p.content_sha256,
            }
            for a in p.approvals
        ],
        "needed": svc.guard.min_approvals,
        "history": _history_rows(p.history),
        "evaluation": None
        if job is None
        else {"job_id": job.id, "status": job.status, "error": svc.backtests.paths.text(job.error)},
    }


def router(pages: Pages) -> APIRouter:
    """The guardrails pages of ``pages``' service."""
    r = APIRouter(prefix="/ui/guard")
    svc = pages.svc

    @r.get("", response_class=HTMLResponse, include_in_schema=False)
    async def panel(request: Request) -> HTMLResponse:
        pages.read(request)
        data = await run_in_threadpool(panel_data, svc)
        return pages.page(request, "guard.html", states=STATES, **data)

    def propose_page(
        request: Request, values: dict[str, str], error: str = "", status: int = 200
    ) -> HTMLResponse:
        return strategy_form(pages, request, "guard_propose.html", values, error, status)

    @r.get("/propose", response_class=HTMLResponse, include_in_schema=False)
    async def propose_form(request: Request, paramset: str = "") -> HTMLResponse:
        pages.read(request)
        values = dict(request.query_params)
        if paramset:
            values = await run_in_threadpool(form_values, svc, paramset[:64]) | values
        return propose_page(request, values)

    @r.post("/propose", include_in_schema=False)
    async def propose(request: Request) -> Response:
        form = await pages.form(request)
        who = pages.act(request, form, PROPOSE_ROLES, "propose a param change")
        try:
            raw = body_of_form(form)
            body = svc.proposals.request_model(
                paramset=form.get("paramset", "").strip(),
                strategy=raw["strategy"],
                pair=raw["pair"] or "ETHUSDT",
                timeframe=raw["timeframe"] or "4h",
                params=raw["params"],
                options=raw["options"],
                note=form.get("note", "").strip(),
                sweep_id=form.get("sweep_id", "").strip() or None,
            )
            proposal = await run_in_threadpool(svc.proposals.propose, body, who, origin(request))
        except ValidationError as exc:
            return propose_page(request, form, _first_error(exc), 422)
        except Refusal as exc:
            return propose_page(request, form, exc.detail, status_of(exc))
        except InputError as exc:
            return propose_page(request, form, _line(exc), 422)
        return redirect(f"/ui/guard/proposals/{proposal.id}", request)

    @r.get("/paramsets/{name}", response_class=HTMLResponse, include_in_schema=False)
    async def paramset(request: Request, name: str) -> HTMLResponse:
        pages.read(request)

        def load() -> dict[str, Any]:
            ps = svc.guard.paramset(name[:64])
            by, at = _approvers(svc, ps.approved_proposal_id)
            versions: dict[str, dict[str, Any]] = {}
            for h in ps.history:
                vid = (h.detail or {}).get("version_id")
                if vid and h.event in ("proposed", "approved"):
                    row = versions.setdefault(vid, {"id": vid, "approved": [], "proposals": []})
                    if h.event == "approved":
                        row["approved"].append(_when(h.to_dict()["at"]))
                    elif h.proposal_id:
                        row["proposals"].append(h.proposal_id)
            return {
                "name": ps.name,
                "approved": None if ps.approved is None else ps.approved.to_dict(),
                "market": None if ps.approved is None else market(ps.approved),
                "approved_by": by,
                "approved_at": at,
                "approved_proposal_id": ps.approved_proposal_id,
                "versions": list(versions.values()),
                "history": _history_rows(ps.history),
                "proposals": [_summary(p) for p in svc.guard.list(name=ps.name)],
            }

        data = await run_in_threadpool(load)
        return pages.page(request, "guard_paramset.html", ps=data, show=show)

    @r.get("/proposals/{proposal_id}", response_class=HTMLResponse, include_in_schema=False)
    async def proposal(request: Request, proposal_id: str) -> HTMLResponse:
        pages.read(request)
        p = await run_in_threadpool(resolve, svc, proposal_id)
        data = await run_in_threadpool(proposal_data, pages, p)
        may = _decision(p, pages.session.principal(request))
        return pages.page(request, "guard_proposal.html", p=data, may=may, show=show)

    @r.get("/proposals/{proposal_id}/status", response_class=HTMLResponse, include_in_schema=False)
    async def proposal_status(request: Request, proposal_id: str) -> Response:
        pages.read(request)
        p = await run_in_threadpool(resolve, svc, proposal_id)
        if request.query_params.get("was") == "evaluating" and p.state != "evaluating":
            return Response(status_code=200, headers={"HX-Refresh": "true"})
        job = svc.jobs.for_proposal(p.id)
        status = {"id": p.id, "state": p.state, "job": None if job is None else job.status}
        return pages.page(request, "_guard_status.html", p=status)

    async def decide(request: Request, proposal_id: str, verb: str) -> Response:
        form = await pages.form(request)
        who = pages.act(request, form, APPROVER_ROLES, f"{verb} a proposal")
        p = await run_in_threadpool(resolve, svc, proposal_id)
        reason = (form.get("override_reason") or "").strip() if verb == "approve" else ""
        try:
            body = DecideBody(
                comment=form.get("comment", ""),
                override_reason=reason or None,
                content_sha256=(form.get("content_sha256") or "").strip() or None,
            )
        except ValidationError as exc:
            raise Refusal(_first_error(exc), "invalid") from None
        act = svc.proposals.approve if verb == "approve" else svc.proposals.reject
        await run_in_threadpool(act, p.id, who, body, origin(request))
        return redirect(f"/ui/guard/proposals/{p.id}", request)

    @r.post("/proposals/{proposal_id}/approve", include_in_schema=False)
    async def approve(request: Request, proposal_id: str) -> Response:
        return await decide(request, proposal_id, "approve")

    @r.post("/proposals/{proposal_id}/reject", include_in_schema=False)
    async def reject(request: Request, proposal_id: str) -> Response:
        return await decide(request, proposal_id, "reject")

    return r
