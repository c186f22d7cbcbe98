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
    GET  /metrics                   Prometheus text format
    GET  /healthz                   liveness plus queue and worker counts
    /api/guard/...                  param-change proposals, approvals, param sets and the
                                    policy in force (see :mod:`.guard_routes`; the service's
                                    side of them is :mod:`sparkbt.platform.guard_service`)
    /ui/...                         the web UI (:mod:`sparkbt.adapters.web`), when Jinja2
                                    is installed

``POST /api/backtest/start`` with ``{"paramset": NAME}`` runs that param set's
approved version (404 when none is approved).

The start request never runs or loads anything heavy: it checks the caller,
the body size, the JSON, the strategy and its parameters (registry names only,
never a file path), that
candles exist (a file-existence check), inserts one SQLite row and wakes the
dispatcher. Errors are ``{"detail": "<one clear line>"}``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Any, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from starlette.concurrency import run_in_threadpool

from sparkbt.adapters.http.guard_routes import install
from sparkbt.adapters.http.option_models import OptionsBody, document_body, engine_options_model
from sparkbt.errors import ConfigError, InputError
from sparkbt.platform import backtests as engine
from sparkbt.platform.audit import AuditLog, origin
from sparkbt.platform.auth import READ, START_ROLES, Auth, AuthError, Principal
from sparkbt.platform.guard_service import GuardActions
from sparkbt.platform.jobs import Job, JobStore
from sparkbt.platform.metrics import CONTENT_TYPE_LATEST, ServiceMetrics
from sparkbt.platform.proposals import GuardStore
from sparkbt.platform.refusals import Rejected, validation_message
from sparkbt.platform.settings import IMPLS, Settings
from sparkbt.platform.workers import WorkerPool
from sparkbt.research.policy import default_policy, load_policy

__all__ = ["StartRequest", "create_app"]


# Engine options the platform sends at the top level of the body (before ``options``
# existed). Their types come from the engine's Config; their values are judged by it alone.
TOP_LEVEL_OPTIONS = ("fees", "slippage", "direction")


class _StartBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    pair: str = Field("ETHUSDT", min_length=1, max_length=32)
    timeframe: str = Field("4h", min_length=1, max_length=16)
    strategy: str = Field("sma_cross", min_length=1, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict, max_length=64)
    notes: str = Field("", max_length=2000)
    # run the approved version of this param set (then no strategy, pair, params or options)
    paramset: str | None = Field(None, min_length=1, max_length=64)
    # every engine option (the generated EngineOptions); they win over the top-level ones
    options: OptionsBody = Field(default_factory=OptionsBody)

    def engine_options(self) -> dict[str, Any]:
        """The engine options the body gives (top-level ones, then ``options``), unchecked."""
        top = {name: getattr(self, name) for name in TOP_LEVEL_OPTIONS}
        return {k: v for k, v in top.items() if v is not None} | self.options.given()


def _top_level_fields() -> dict[str, Any]:
    from sparkbt.engine.options import spec

    return {
        name: (spec(name).py_type | None, Field(None, description=spec(name).help))
        for name in TOP_LEVEL_OPTIONS
    }


def start_request_model() -> type[_StartBody]:
    """The start body's model, with the engine options as the option specs say now."""
    engine_options = engine_options_model()
    return create_model(  # type: ignore[no-any-return,call-overload]
        "StartRequest",
        __base__=_StartBody,
        __module__=__name__,
        __doc__="Body of ``POST /api/backtest/start``: every field optional, unknown fields "
        "refused; the model checks types and shape, the engine's Config the option values.",
        options=(
            engine_options,
            Field(
                default_factory=engine_options,
                description="Engine options; they win over the top-level fees, slippage "
                "and direction.",
            ),
        ),
        **_top_level_fields(),
    )


StartRequest = start_request_model()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _lock_database(db: Path) -> IO[bytes]:
    """Hold an exclusive lock beside the job database for the life of the service.

    A second service on the same database would requeue the first one's running
    jobs at its start and run every job twice, so it is refused.
    """
    db.parent.mkdir(parents=True, exist_ok=True)
    fh = open(db.with_name(db.name + ".lock"), "a+b")  # noqa: SIM115 - held until close()
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise ConfigError(f"{db}: another sparkbt service is using this job database") from None
    return fh


class Service(GuardActions):
    """The parts of one running service, shared by the routes."""

    def __init__(self, settings: Settings, registry: CollectorRegistry) -> None:
        self.settings = settings
        self.request_model = start_request_model()
        # the policy first: a bad policy file stops the start before anything is opened
        self.policy = (
            load_policy(settings.policy_file) if settings.policy_file else default_policy()
        )
        self._db_lock = _lock_database(settings.db_file)
        self.store = JobStore(settings.db_file)
        self.guard = GuardStore(settings.db_file, min_approvals=settings.approvals)
        self.audit = AuditLog(settings.audit_file)
        self.metrics = ServiceMetrics(registry, IMPLS, lambda: self.store.counts()["queued"])
        self.pool = WorkerPool(settings, self.store, self._finished, self.policy)
        self.auth = Auth(settings.admin_token, settings.db_file, settings.private)

    def close(self) -> None:
        """Close the database and release its lock (after the pool has stopped)."""
        self.auth.close()
        self.guard.close()
        self.store.close()
        self._db_lock.close()

    def _finished(self, job: Job, duration_ms: float) -> None:
        self.metrics.run_finished(job.status, job.impl, duration_ms)
        self.audit.job(job.status, job, error=job.error, run_id=job.run_id)
        guard = job.request.get("guard")
        if guard:
            self._evaluated(job, guard, duration_ms)

    async def read_body(self, request: Request) -> bytes:
        """The request body, refusing (413) anything over the limit before and while reading."""
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise Rejected(422, "Content-Length: expected a number of bytes")
            if int(declared) > limit:
                raise Rejected(413, f"body too large: {declared} bytes (limit {limit})")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise Rejected(413, f"body too large: over {limit} bytes (limit {limit})")
        return bytes(body)

    def parse(self, body: bytes) -> dict[str, Any]:
        """Decode, validate and canonicalise a start body (422 on any fault)."""
        try:
            raw = json.loads(body, parse_constant=_reject_constant) if body.strip() else {}
        except (ValueError, RecursionError) as exc:
            raise Rejected(422, f"malformed JSON body: {exc}"[:300]) from None
        if not isinstance(raw, dict):
            raise Rejected(422, f"body: expected a JSON object (got {type(raw).__name__})")
        return self.validate(raw)

    def validate(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Validate and canonicalise a decoded start body (422 on any fault)."""
        try:
            req = self.request_model.model_validate(raw)
        except ValidationError as exc:
            raise Rejected(422, validation_message(exc), raw) from None
        fields = (req.pair, req.timeframe, req.strategy, req.params, req.engine_options())
        extra: dict[str, Any] = {}
        if req.paramset is not None:
            given = sorted(req.model_fields_set - {"paramset", "notes"})
            if given:
                raise Rejected(
                    422,
                    f"paramset: runs the approved version as it is; drop {', '.join(given)}",
                    raw,
                )
            version = self.approved_version(req.paramset)
            fields = (
                version.pair,
                version.timeframe,
                version.strategy,
                dict(version.params),
                dict(version.options),
            )
            extra = {"paramset": version.name, "version_id": version.id}
        try:
            pair, tf, strategy, params = engine.check_request(*fields[:4], self.settings.data_dir)
            options = engine.check_options(fields[4])
        except InputError as exc:
            raise Rejected(422, str(exc), raw) from None
        return (
            req.model_dump(exclude={"paramset"})
            | extra
            | {name: options[name] for name in TOP_LEVEL_OPTIONS}
            | {
                "pair": pair,
                "timeframe": tf,
                "strategy": strategy,
                "params": params,
                "options": options,
            }
        )

    async def start(self, request: Request) -> JSONResponse:
        principal: Principal | None = None
        try:
            principal = self.auth.require(request, START_ROLES, "start a backtest")
            assert principal is not None  # a write always has a caller
            job = self.start_job(self.parse(await self.read_body(request)), principal, request)
        except (Rejected, AuthError) as exc:
            self.refused(exc, principal, request)
            return JSONResponse({"detail": exc.detail}, status_code=exc.status)
        return JSONResponse({"id": job.id, "status": job.status}, status_code=201)

    def start_job(self, request_body: dict[str, Any], who: Principal, request: Request) -> Job:
        """Queue a validated start body (:meth:`validate`) as a job of ``who``, and audit it."""
        where = origin(request)
        job = self.store.create(
            request_body, self.settings.impl, where["client_ip"], where["user_agent"], user=who.name
        )
        self.pool.notify()
        self.metrics.starts.inc()
        self.audit.job("start", job, impl=job.impl, notes=job.request.get("notes"))
        return job

    def refused(
        self, exc: Rejected | AuthError, principal: Principal | None, request: Request
    ) -> None:
        """Count and audit a refused start request."""
        self.metrics.rejected.labels(code=str(exc.status)).inc()
        who = principal or (exc.principal if isinstance(exc, AuthError) else None)
        self.audit.write(
            "rejected",
            user=who.name if who else None,
            request=getattr(exc, "body", None),
            **origin(request),
            status=exc.status,
            reason=exc.detail,
        )

    def job_or_404(self, job_id: str) -> Job:
        job = self.store.get(job_id) if len(job_id) <= 64 else None
        if job is None:
            raise Rejected(404, f"no job with id {job_id[:64]!r}")
        return job


def _install_ui(app: FastAPI, svc: Service) -> None:
    """Serve the web UI under ``/ui`` when its dependency (Jinja2) is installed."""
    try:
        from sparkbt.adapters.web.routes import install as install_ui
    except ModuleNotFoundError as exc:  # jinja2 missing: the API runs without the UI
        if exc.name != "jinja2":
            raise
        return
    install_ui(app, svc)


def create_app(settings: Settings, registry: CollectorRegistry | None = None) -> FastAPI:
    """A new app for ``settings``; metrics go to ``registry`` (a fresh one by default)."""
    svc = Service(settings, registry if registry is not None else CollectorRegistry())

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        _requeued, failed = svc.store.recover(settings.max_attempts)
        for job in failed:
            svc.audit.job("failed", job, error=job.error)
        svc.requeue_evaluations()
        svc.pool.start()
        try:
            yield
        finally:
            await run_in_threadpool(svc.pool.stop)
            svc.close()

    # A private service does not publish its API description (/docs, /openapi.json) either.
    docs: dict[str, Any] = (
        {"openapi_url": None, "docs_url": None, "redoc_url": None} if settings.private else {}
    )
    app = FastAPI(title="sparkbt backtest service", lifespan=lifespan, **docs)
    app.state.service = svc

    @app.exception_handler(Rejected)
    async def _rejected(_: Request, exc: Rejected) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)

    @app.exception_handler(AuthError)
    async def _auth_error(_: Request, exc: AuthError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_message(exc)}, status_code=422)

    # Every API read goes through this: open, or any valid caller on a private service.
    reader = Depends(svc.auth.dependency(READ, "read jobs"))

    @app.post("/api/backtest/start", status_code=201)
    async def start_backtest(request: Request) -> JSONResponse:
        t0 = time.perf_counter()
        try:
            return await svc.start(request)
        finally:
            svc.metrics.enqueue_latency.observe((time.perf_counter() - t0) * 1000.0)

    @app.get("/api/backtest", dependencies=[reader])
    async def list_backtests(
        status: Literal["queued", "running", "done", "failed"] | None = None,
        limit: int = Query(50, ge=1, le=10_000),
        prefix: str | None = Query(None, min_length=1, max_length=64),
    ) -> dict[str, Any]:
        jobs = [j.public() for j in svc.store.list(status, limit, prefix)]
        out: dict[str, Any] = {"jobs": jobs, "count": len(jobs)}
        if prefix is not None:
            out["matching"] = svc.store.count(status, prefix)
        return out

    @app.get("/api/backtest/{job_id}", dependencies=[reader])
    async def get_backtest(job_id: str) -> dict[str, Any]:
        return svc.job_or_404(job_id).public()

    @app.get("/api/backtest/{job_id}/report", dependencies=[reader])
    async def get_report(job_id: str) -> Any:
        job = svc.job_or_404(job_id)
        if job.status != "done":
            raise Rejected(409, f"job {job.id} is {job.status}: a report exists once it is done")
        if job.evidence is None:
            raise Rejected(404, f"job {job.id} ran with impl={job.impl}: it wrote no report")
        try:
            return await run_in_threadpool(engine.read_report, job.evidence)
        except InputError as exc:
            raise Rejected(404, str(exc)) from None

    document_body(app, "/api/backtest/start", svc.request_model)
    install(app, svc)
    _install_ui(app, svc)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(svc.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        counts = svc.store.counts()
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
