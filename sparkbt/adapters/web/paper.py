"""Paper-session pages: the sessions list (live) and one session beside its backtest.

::

    GET  /ui/paper                     every session: state, symbols, equity, bars behind,
                                       warnings (the rows poll while one runs)
    GET  /ui/paper/rows                the list's rows (htmx)
    GET  /ui/paper/{id}                one session: live equity beside the backtest of the same
                                       candles, positions, fills, drift warnings, halt and the
                                       last reconciliation (approvers may run one)
    GET  /ui/paper/{id}/live           the session's figures, positions, fills (htmx, polled)
    GET  /ui/paper/{id}/chart.json     the equity of the journal and of the backtest
    POST /ui/paper/{id}/reconcile      run the reconciliation (approver, admin)
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from sparkbt.adapters.web.pages import Pages, redirect
from sparkbt.platform.audit import origin
from sparkbt.platform.paper_actions import PAPER_ROLES

__all__ = ["router"]

FILLS_SHOWN = 100


def _fills(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest fills first, each with its bar's time."""
    out = [{"time": r["time"], **f} for r in reversed(rows) for f in reversed(r["fills"])]
    return out[:FILLS_SHOWN]


def router(pages: Pages) -> APIRouter:
    """The paper-session pages of ``pages``' service."""
    r = APIRouter(prefix="/ui/paper")
    acts = pages.svc.paper

    def may_act(request: Request) -> bool:
        user = pages.session.principal(request)
        return user is not None and user.may(PAPER_ROLES)

    async def detail(session_id: str) -> dict[str, Any]:
        status = await run_in_threadpool(acts.status, session_id)
        rows = await run_in_threadpool(acts.journal, session_id)
        return {"s": status, "fills": _fills(rows)}

    @r.get("", response_class=HTMLResponse, include_in_schema=False)
    async def sessions(request: Request) -> Response:
        pages.read(request)
        rows = await run_in_threadpool(acts.sessions)
        return pages.page(request, "paper_sessions.html", rows=rows)

    @r.get("/rows", response_class=HTMLResponse, include_in_schema=False)
    async def session_rows(request: Request) -> Response:
        pages.read(request)
        rows = await run_in_threadpool(acts.sessions)
        return pages.page(request, "_paper_rows.html", rows=rows)

    @r.get("/{session_id}", response_class=HTMLResponse, include_in_schema=False)
    async def session(request: Request, session_id: str) -> Response:
        pages.read(request)
        found = await detail(session_id)
        return pages.page(request, "paper_session.html", may_act=may_act(request), **found)

    @r.get("/{session_id}/live", response_class=HTMLResponse, include_in_schema=False)
    async def live(request: Request, session_id: str) -> Response:
        pages.read(request)
        found = await detail(session_id)
        return pages.page(request, "_paper_live.html", may_act=may_act(request), **found)

    @r.get("/{session_id}/chart.json", include_in_schema=False)
    async def chart(request: Request, session_id: str) -> Response:
        pages.read(request)
        return JSONResponse(await run_in_threadpool(acts.comparison, session_id))

    @r.post("/{session_id}/reconcile", include_in_schema=False)
    async def reconcile(request: Request, session_id: str) -> Response:
        form = await pages.form(request)
        who = pages.act(request, form, PAPER_ROLES, "reconcile a paper session")
        await run_in_threadpool(acts.reconcile, session_id, who, origin(request))
        return redirect(f"/ui/paper/{session_id[:64]}", request)

    return r
