"""The paper-session routes: approved param sets forward-tested on live candles.

::

    POST /api/paper/sessions                  {"paramset": NAME, "id"?: ID}: start a session of
                                              the approved version (approver, admin): 201 status
    GET  /api/paper/sessions                  every session's status
    GET  /api/paper/sessions/{id}             state, figures, positions, warnings, halt,
                                              divergence, bars behind, last reconciliation
    GET  /api/paper/sessions/{id}/journal     journaled bars (?since_ns=&limit=)
    POST /api/paper/sessions/{id}/stop        stop it (approver, admin)
    POST /api/paper/sessions/{id}/reconcile   compare the journal with the backtest of the
                                              stored candles (approver, admin): 200 with the
                                              outcome, or 202 {"state": "running"} when slow

The actions are :class:`~sparkbt.platform.paper_actions.PaperActions`'; refusals
are the app's one handler's (403 role, 404 unknown, 409 id taken, 422 bad input).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from sparkbt.platform.audit import origin
from sparkbt.platform.auth import READ
from sparkbt.platform.paper_actions import PAPER_ROLES
from sparkbt.platform.refusals import json_object
from sparkbt.platform.service import Service

__all__ = ["install"]

BodyReader = Callable[[Service, Request], Awaitable[bytes]]


def install(app: FastAPI, svc: Service, read_body: BodyReader) -> None:
    """Add the paper routes to ``app`` for the service ``svc``."""
    router = APIRouter(prefix="/api/paper/sessions")
    reader = Depends(svc.auth.dependency(READ, "read paper sessions"))
    acts = svc.paper

    async def caller(request: Request, action: str) -> Any:
        return await run_in_threadpool(svc.auth.require, request, PAPER_ROLES, action)

    @router.post("", status_code=201)
    async def start(request: Request) -> JSONResponse:
        who = await caller(request, "start a paper session")
        raw = json_object(await read_body(svc, request))
        out = await run_in_threadpool(acts.start, raw, who, origin(request))
        return JSONResponse(out, status_code=201)

    @router.get("", dependencies=[reader])
    async def sessions() -> dict[str, Any]:
        found = await run_in_threadpool(acts.sessions)
        return {"sessions": found, "count": len(found)}

    @router.get("/{session_id}", dependencies=[reader])
    async def status(session_id: str) -> dict[str, Any]:
        return await run_in_threadpool(acts.status, session_id)

    @router.get("/{session_id}/journal", dependencies=[reader])
    async def journal(
        session_id: str,
        since_ns: int | None = Query(None, ge=0),
        limit: int = Query(1000, ge=1, le=100_000),
    ) -> dict[str, Any]:
        rows = await run_in_threadpool(acts.journal, session_id, since_ns, limit)
        return {"session_id": session_id[:64], "bars": rows, "count": len(rows)}

    @router.post("/{session_id}/stop")
    async def stop(session_id: str, request: Request) -> dict[str, Any]:
        who = await caller(request, "stop a paper session")
        return await run_in_threadpool(acts.stop, session_id, who, origin(request))

    @router.post("/{session_id}/reconcile")
    async def reconcile(session_id: str, request: Request) -> JSONResponse:
        who = await caller(request, "reconcile a paper session")
        out = await run_in_threadpool(acts.reconcile, session_id, who, origin(request))
        return JSONResponse(out, status_code=202 if out.get("state") == "running" else 200)

    app.include_router(router)
