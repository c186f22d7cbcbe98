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
                                    policy in force (see :mod:`.guard_routes`)

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

from ..errors import ConfigError, InputError
from ..guard.paramsets import ParamSetVersion
from ..guard.policy import default_policy, load_policy
from ..guard.proposals import OPEN_STATES, Conflict, GuardStore, NotFound, Proposal
from . import engine
from .audit import AuditLog
from .auth import READ, START_ROLES, Auth, AuthError, Principal
from .guard_routes import approved_version, install
from .jobs import Job, JobStore
from .metrics import CONTENT_TYPE_LATEST, ServiceMetrics
from .settings import IMPLS, Settings
from .workers import WorkerPool

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
    # every engine option (sparkbt.config.ENGINE_OPTIONS); they win over the top-level ones
    options: dict[str, Any] = Field(default_factory=dict, max_length=16)

    def engine_options(self) -> dict[str, Any]:
        """The engine options the body gives (top-level ones, then ``options``), unchecked."""
        top = {name: getattr(self, name) for name in TOP_LEVEL_OPTIONS}
        return {k: v for k, v in top.items() if v is not None} | self.options


def _top_level_fields() -> dict[str, Any]:
    from typing import get_type_hints

    from ..config import Config

    hints = get_type_hints(Config)
    return {name: (hints[name] | None, None) for name in TOP_LEVEL_OPTIONS}


StartRequest = create_model(
    "StartRequest",
    __base__=_StartBody,
    __module__=__name__,
    __doc__="Body of ``POST /api/backtest/start``: every field optional, unknown fields "
    "refused; the model checks types and shape, the engine's Config the option values.",
    **_top_level_fields(),
)


class Rejected(Exception):
    """A start request refused with an HTTP status and a one-line reason."""

    def __init__(self, status: int, detail: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.body = status, detail, body


def _validation_message(exc: ValidationError | RequestValidationError) -> str:
    """``fees: Input should be greater than or equal to 0 (got -1)``, joined by ``; ``."""
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        got = f" (got {err['input']!r})" if "input" in err and err["type"] != "missing" else ""
        parts.append(f"{loc or 'body'}: {err['msg']}{got}"[:300])
    return "; ".join(parts)


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


class Service:
    """The parts of one running service, shared by the routes."""

    def __init__(self, settings: Settings, registry: CollectorRegistry) -> None:
        self.settings = settings
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

    # ---- guard proposals (the routes are in guard_routes)
    def approved_version(self, name: str) -> ParamSetVersion:
        """The approved version of a param set, ready to run (Rejected 404 or 409 otherwise)."""
        from ..registry import get_strategy

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
        client_ip = request.client.host if request.client else None
        agent = (request.headers.get("user-agent") or "")[:256] or None
        job = self._evaluation_job(proposal, client_ip, agent)
        self.metrics.guard_proposals.labels(status=proposal.state).inc()
        self.audit.write(
            "guard_proposed",
            job_id=job.id,
            user=who.name,
            request=version.content(),
            client_ip=client_ip,
            user_agent=agent,
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
            client_ip=request.client.host if request.client else None,
            user_agent=(request.headers.get("user-agent") or "")[:256] or None,
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
            client_ip=request.client.host if request.client else None,
            user_agent=(request.headers.get("user-agent") or "")[:256] or None,
            proposal_id=after.id,
            paramset=after.name,
            version_id=after.version.id,
            role=who.role,
            comment=body.comment,
        )
        return after

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
            req = StartRequest.model_validate(raw)
        except ValidationError as exc:
            raise Rejected(422, _validation_message(exc), raw) from None
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
        job = self.store.create(
            request_body,
            self.settings.impl,
            request.client.host if request.client else None,
            (request.headers.get("user-agent") or "")[:256] or None,
            user=who.name,
        )
        self.pool.notify()
        self.metrics.starts.inc()
        self.audit.job("start", job, impl=job.impl, notes=job.request.get("notes"))
        return job

    def refused(
        self, exc: Rejected | AuthError, principal: Principal | None, request: Request
    ) -> None:
        """Count and audit a refused start request."""
        client_ip = request.client.host if request.client else None
        agent = (request.headers.get("user-agent") or "")[:256] or None
        self.metrics.rejected.labels(code=str(exc.status)).inc()
        who = principal or (exc.principal if isinstance(exc, AuthError) else None)
        self.audit.write(
            "rejected",
            user=who.name if who else None,
            request=getattr(exc, "body", None),
            client_ip=client_ip,
            user_agent=agent,
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
        from ..ui.routes import install as install_ui
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
        return JSONResponse({"detail": _validation_message(exc)}, status_code=422)

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
