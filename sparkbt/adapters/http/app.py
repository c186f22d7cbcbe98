"""The HTTP API: ``create_app(settings)`` builds a fresh FastAPI app with its own
job store, worker pool, metrics registry and audit log.

Routes (reads are public unless the service is private; starting a backtest
needs a user key of role proposer, approver or admin, or the admin token, see
:mod:`.auth`)::

    POST /api/backtest/start        validate, record as queued, 201 {"id", "status"}
    GET  /api/backtest/{id}         one job: status, timestamps, stats, evidence, error
    GET  /api/backtest              jobs newest first (?status=...&limit=1..10000, default 50;
                                    ?prefix=ID_PREFIX adds "matching", the count without limit)
    GET  /api/backtest/{id}/report  the run's report.json (engine jobs once done)
    POST /api/runs/{id}/verify      queue a job re-running stored evidence and comparing it
                                    (``sparkbt verify``); 201 {"id", "status"} of the job
    GET  /api/runs/{id}/verify      the newest verify job's outcome (state, at, first_difference)
    GET  /metrics                   Prometheus text format
    GET  /healthz                   liveness plus queue and worker counts
    /api/guard/...                  param-change proposals, approvals, param sets and the
                                    policy in force (see :mod:`.guard_routes`; the service's
                                    side of them is :mod:`sparkbt.platform.proposal_actions`)
    /api/paper/...                  paper sessions of approved param sets: start, stop, status,
                                    journal, reconcile (see :mod:`.paper_routes`)
    /ui/...                         the web UI (:mod:`sparkbt.adapters.web`), when Jinja2
                                    is installed

``POST /api/backtest/start`` with ``{"paramset": NAME}`` runs that param set's
approved version (404 when none is approved).

The routes only parse, call the application's actions
(:mod:`sparkbt.platform.backtest_actions`) and render. Every refusal is a
:class:`~sparkbt.errors.Refusal` (any other bad input is 422), answered by one
handler with the status of its kind (:data:`~sparkbt.platform.refusals.HTTP_STATUS`)
as ``{"detail": "<one clear line>"}``; under ``/ui`` the web UI renders it as a page.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry
from starlette.concurrency import run_in_threadpool

from sparkbt.adapters.http import paper_routes
from sparkbt.adapters.http.guard_routes import install
from sparkbt.adapters.http.openapi import document_body
from sparkbt.adapters.http.security import SecurityMiddleware
from sparkbt.errors import InputError, NotFound, Refusal
from sparkbt.platform.audit import origin
from sparkbt.platform.auth import READ, START_ROLES, Principal
from sparkbt.platform.backtest_actions import StartRequest
from sparkbt.platform.metrics import CONTENT_TYPE_LATEST
from sparkbt.platform.refusals import (
    headers_of,
    json_object,
    read_limited,
    status_of,
    validation_message,
)
from sparkbt.platform.service import Service
from sparkbt.platform.settings import Settings

__all__ = ["StartRequest", "create_app", "read_body"]

RefusalPage = Callable[[Request, int, str], Response]
"""How the web UI answers a refusal under ``/ui``: ``(request, status, detail)``."""


async def read_body(svc: Service, request: Request) -> bytes:
    """The request body, refused (too_large) over the service's limit."""
    declared = request.headers.get("content-length")
    return await read_limited(declared, request.stream(), svc.settings.max_body_bytes)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, Refusal):
        return exc.detail
    return " ".join(str(exc).split())[:500] or type(exc).__name__


def _install_ui(app: FastAPI, svc: Service) -> RefusalPage | None:
    """Serve the web UI under ``/ui`` when its dependency (Jinja2) is installed."""
    try:
        from sparkbt.adapters.web.routes import install as install_ui
    except ModuleNotFoundError as exc:  # jinja2 missing: the API runs without the UI
        if exc.name != "jinja2":
            raise
        return None
    return install_ui(app, svc)


def create_app(settings: Settings, registry: CollectorRegistry | None = None) -> FastAPI:
    """A new app for ``settings``; metrics go to ``registry`` (a fresh one by default)."""
    svc = Service(settings, registry if registry is not None else CollectorRegistry())

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        svc.recover()
        svc.pool.start()
        await run_in_threadpool(svc.paper.start_service)
        try:
            yield
        finally:
            await run_in_threadpool(svc.paper.stop_service)
            await run_in_threadpool(svc.pool.stop)
            svc.close()

    # A private service does not publish its API description (/docs, /openapi.json) either.
    docs: dict[str, Any] = (
        {"openapi_url": None, "docs_url": None, "redoc_url": None} if settings.private else {}
    )
    app = FastAPI(title="sparkbt backtest service", lifespan=lifespan, **docs)
    app.state.service = svc
    app.add_middleware(SecurityMiddleware, allowed_hosts=settings.allowed_hosts)
    ui_page: RefusalPage | None = None

    @app.exception_handler(InputError)
    async def _refused(request: Request, exc: Exception) -> Response:
        status, detail = status_of(exc), svc.backtests.paths.text(_one_line(exc)) or ""
        if ui_page is not None and request.url.path.startswith("/ui"):
            page = ui_page(request, status, detail)
            page.headers.update(headers_of(exc))
            return page
        return JSONResponse({"detail": detail}, status_code=status, headers=headers_of(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_message(exc)}, status_code=422)

    # Every API read goes through this: open, or any valid caller on a private service.
    reader = Depends(svc.auth.dependency(READ, "read jobs"))

    @app.post("/api/backtest/start", status_code=201)
    async def start_backtest(request: Request) -> JSONResponse:
        t0 = time.perf_counter()
        who: Principal | None = None
        try:
            who = svc.auth.require(request, START_ROLES, "start a backtest")
            assert who is not None  # a write always has a caller
            raw = json_object(await read_body(svc, request))
            job = svc.backtests.start(raw, who, origin(request))
        except Refusal as exc:
            svc.backtests.refused(exc, who, origin(request))
            raise
        finally:
            svc.metrics.enqueue_latency.observe((time.perf_counter() - t0) * 1000.0)
        return JSONResponse({"id": job.id, "status": job.status}, status_code=201)

    @app.get("/api/backtest", dependencies=[reader])
    async def list_backtests(
        status: Literal["queued", "running", "done", "failed"] | None = None,
        limit: int = Query(50, ge=1, le=10_000),
        prefix: str | None = Query(None, min_length=1, max_length=64),
    ) -> dict[str, Any]:
        return svc.backtests.list(status, limit, prefix)

    @app.get("/api/backtest/{job_id}", dependencies=[reader])
    async def get_backtest(job_id: str) -> dict[str, Any]:
        return svc.backtests.public(svc.backtests.job(job_id))

    @app.get("/api/backtest/{job_id}/report", dependencies=[reader])
    async def get_report(job_id: str) -> Any:
        return await run_in_threadpool(svc.backtests.report, job_id)

    @app.post("/api/runs/{run_id}/verify", status_code=201)
    async def verify_run(request: Request, run_id: str) -> JSONResponse:
        from sparkbt.platform.verify_jobs import start_verify

        who = svc.auth.require(request, START_ROLES, "verify a run")
        assert who is not None  # a write always has a caller
        job = await run_in_threadpool(start_verify, svc.backtests, run_id, who, origin(request))
        return JSONResponse({"id": job.id, "status": job.status}, status_code=201)

    @app.get("/api/runs/{run_id}/verify", dependencies=[reader])
    async def run_verification(run_id: str) -> dict[str, Any]:
        from sparkbt.platform.verify_jobs import latest

        found = latest(svc.jobs, run_id)
        if found is None:
            raise NotFound(f"no verify job of {run_id[:64]!r}; POST to this address starts one")
        return found

    document_body(app, "/api/backtest/start", svc.backtests.request_model)
    document_body(app, "/api/guard/proposals", svc.proposals.request_model)
    install(app, svc, read_body)
    paper_routes.install(app, svc, read_body)
    ui_page = _install_ui(app, svc)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(svc.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        counts = svc.jobs.counts()
        return {
            "status": "ok",
            "impl": settings.impl,
            "workers": svc.pool.alive(),
            "ready": svc.pool.ready(),
            "worker_pids": svc.pool.pids(),
            "busy": svc.pool.busy(),
            "queued": counts["queued"],
            "running": counts["running"],
        }

    return app
