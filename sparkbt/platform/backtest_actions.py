"""Backtest jobs as the application offers them: start one, read one, list them.

The HTTP API and the web UI both call :class:`BacktestActions`; they only parse
the request and render the answer. Starting never runs or loads anything heavy:
it checks the body (:data:`StartRequest`), the strategy and its parameters
(registry names only, never a file path), that candles exist, inserts one SQLite
row and wakes the dispatcher. Every fault is a :class:`~sparkbt.errors.Refusal`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    create_model,
    field_validator,
)

from sparkbt.errors import (
    CandleError,
    ConfigError,
    InputError,
    NotFound,
    PortfolioError,
    Refusal,
    StrategyError,
    WeightsError,
)
from sparkbt.platform import backtests as engine
from sparkbt.platform.audit import AuditLog, Origin
from sparkbt.platform.auth import Principal
from sparkbt.platform.jobs import Job, JobStore
from sparkbt.platform.metrics import ServiceMetrics
from sparkbt.platform.option_models import OptionsBody, engine_options_model
from sparkbt.platform.public_paths import PublicPaths
from sparkbt.platform.refusals import status_of, validated
from sparkbt.platform.settings import Settings
from sparkbt.platform.text import check_text
from sparkbt.platform.text_fields import Line, Text, values_of_field
from sparkbt.platform.workers import JobPool
from sparkbt.research.paramsets import ParamSetVersion

__all__ = ["TOP_LEVEL_OPTIONS", "BacktestActions", "StartRequest"]

# Engine options the platform sends at the top level of the body (before ``options``
# existed). Their types come from the engine's Config; their values are judged by it alone.
TOP_LEVEL_OPTIONS = ("fees", "slippage", "direction")
MAX_PAIRS = 64
"""Symbols one portfolio start may name."""

PairName = Annotated[
    str, StringConstraints(min_length=1, max_length=32), AfterValidator(check_text)
]
"""One symbol of ``pairs``: one line of 1 to 32 characters."""


class _StartBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    pair: Line = Field("ETHUSDT", min_length=1, max_length=32)
    pairs: list[PairName] | None = Field(
        None,
        min_length=1,
        max_length=MAX_PAIRS,
        description="A portfolio: several symbols sharing one cash, at one timeframe and "
        "one quote currency (instead of pair).",
    )
    timeframe: Line = Field("4h", min_length=1, max_length=16)
    strategy: Line = Field("sma_cross", min_length=1, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict, max_length=64)
    notes: Text = Field("", max_length=2000)
    # run the approved version of this param set (then no strategy, pair, params or options)
    paramset: Line | None = Field(None, min_length=1, max_length=64)
    # every engine option (the generated EngineOptions); they win over the top-level ones
    options: OptionsBody = Field(default_factory=OptionsBody)

    _texts = field_validator("params", "options", mode="before")(values_of_field)

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
    return create_model(
        "StartRequest",
        __base__=_StartBody,
        __module__=__name__,
        __doc__="Body of a backtest start: every field optional, unknown fields refused; "
        "the model checks types and shape, the engine's Config the option values.",
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


_INPUT_FAULTS = tuple(
    f"{kind.__name__}:"
    for kind in (CandleError, StrategyError, ConfigError, PortfolioError, WeightsError)
)
"""How a job's error starts when its input was at fault (the error's type name)."""


def _input_fault(error: str | None) -> bool:
    """Whether a failed job's error names bad input (its strategy, candles or options)."""
    return bool(error) and str(error).startswith(_INPUT_FAULTS)


class BacktestActions:
    """Start, read and list the backtest jobs of one service."""

    def __init__(
        self,
        settings: Settings,
        jobs: JobStore,
        pool: JobPool,
        audit: AuditLog,
        metrics: ServiceMetrics,
        approved_version: Callable[[str], ParamSetVersion],
    ) -> None:
        self.settings, self.jobs, self.pool = settings, jobs, pool
        self.audit, self.metrics = audit, metrics
        self._approved_version = approved_version
        self.request_model = start_request_model()
        self.paths = PublicPaths(settings)

    def validate(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Validate and canonicalise a decoded start body (a Refusal on any fault)."""
        req: Any = validated(self.request_model, raw)
        if req.pairs is not None and req.paramset is None:
            return self._validate_portfolio(req, raw)
        fields = (req.pair, req.timeframe, req.strategy, req.params, req.engine_options())
        extra: dict[str, Any] = {}
        if req.paramset is not None:
            given = sorted(req.model_fields_set - {"paramset", "notes"})
            if given:
                raise Refusal(
                    f"paramset: runs the approved version as it is; drop {', '.join(given)}",
                    body=raw,
                )
            v = self._approved_version(req.paramset)
            extra = {"paramset": v.name, "version_id": v.id}
            if v.is_portfolio:
                fields = (v.pairs, v.timeframe, v.strategy, dict(v.params), dict(v.options))
                return self._portfolio_body(req, raw, fields) | extra
            fields = (v.pair, v.timeframe, v.strategy, dict(v.params), dict(v.options))
        try:
            pair, tf, strategy, params = engine.check_request(*fields[:4], self.settings.data_dir)
            options = engine.check_options(fields[4])
        except InputError as exc:
            raise Refusal(str(exc), body=raw) from None
        return (
            req.model_dump(exclude={"paramset", "pairs"})
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

    def _validate_portfolio(self, req: Any, raw: dict[str, Any]) -> dict[str, Any]:
        """The canonical body of a start naming ``pairs`` (no ``pair``)."""
        if "pair" in req.model_fields_set:
            raise Refusal(
                "pair, pairs: give one of them (pair for one symbol, pairs for a portfolio)",
                body=raw,
            )
        fields = (req.pairs, req.timeframe, req.strategy, req.params, req.engine_options())
        return self._portfolio_body(req, raw, fields)

    def _portfolio_body(
        self, req: Any, raw: dict[str, Any], fields: tuple[Any, ...]
    ) -> dict[str, Any]:
        """The canonical body of a portfolio start of ``fields`` (pairs, timeframe, strategy,
        params, options), checked against the store."""
        try:
            pairs, tf, strategy, params, options = engine.check_portfolio_request(
                fields[0], fields[1], fields[2], fields[3], fields[4], self.settings.data_dir
            )
        except InputError as exc:
            raise Refusal(str(exc), body=raw) from None
        return (
            req.model_dump(exclude={"paramset", "pair"})
            | {name: options[name] for name in TOP_LEVEL_OPTIONS}
            | {
                "pairs": pairs,
                "timeframe": tf,
                "strategy": strategy,
                "params": params,
                "options": options,
            }
        )

    def start(self, raw: dict[str, Any], who: Principal, where: Origin) -> Job:
        """Validate a decoded start body and queue it as a job of ``who``, audited."""
        body = self.validate(raw)
        job = self.jobs.create(
            body, self.settings.impl, where["client_ip"], where["user_agent"], user=who.name
        )
        self.pool.notify()
        self.metrics.starts.inc()
        self.audit.job("start", job, impl=job.impl, notes=job.request.get("notes"))
        return job

    def start_cell(
        self, sweep_id: str, values: dict[str, str], who: Principal, where: Origin
    ) -> Job:
        """Queue the combination ``values`` of stored sweep ``sweep_id`` as a job of ``who``
        (run by a worker like any start, within the same limits), audited."""
        from sparkbt.platform.sweep_cells import cell_request

        request = cell_request(self.settings.evidence_dir, sweep_id, values)
        job = self.jobs.create(
            request, "engine", where["client_ip"], where["user_agent"], user=who.name
        )
        self.pool.notify()
        self.audit.job("start", job, impl=job.impl, notes=request["notes"])
        return job

    def refused(self, exc: Refusal, who: Principal | None, where: Origin) -> None:
        """Count and audit a refused start."""
        status = status_of(exc)
        self.metrics.rejected.labels(code=str(status)).inc()
        who = who or exc.principal
        self.audit.write(
            "rejected",
            user=who.name if who else None,
            request=exc.body,
            **where,
            status=status,
            reason=exc.detail,
        )

    def job(self, job_id: str) -> Job:
        """The job ``job_id`` (NotFound otherwise)."""
        job = self.jobs.get(job_id) if len(job_id) <= 64 else None
        if job is None:
            raise NotFound(f"no job with id {job_id[:64]!r}")
        return job

    def public(self, job: Job) -> dict[str, Any]:
        """The job as the API answers it: its evidence folder relative to the evidence folder
        and no server path in its error."""
        out = job.public()
        out["evidence"] = self.paths.relative(job.evidence)
        out["error"] = self.paths.text(job.error)
        return out

    def list(
        self, status: str | None = None, limit: int = 50, prefix: str | None = None
    ) -> dict[str, Any]:
        """Jobs newest first (``matching``: how many match ``prefix`` without the limit)."""
        found = [self.public(j) for j in self.jobs.list(status, limit, prefix)]
        out: dict[str, Any] = {"jobs": found, "count": len(found)}
        if prefix is not None:
            out["matching"] = self.jobs.count(status, prefix)
        return out

    def report(self, job_id: str) -> dict[str, Any]:
        """The report.json of a done engine job (Refusal 404 or 409 otherwise; 422 with its
        reason for a portfolio job that failed on bad input, e.g. its strategy's weights)."""
        job = self.job(job_id)
        if job.status == "failed" and job.request.get("pairs") and _input_fault(job.error):
            # what only running the portfolio shows (a strategy's bad weights) is bad input
            raise Refusal(self.paths.text(job.error) or "", "invalid")
        if job.status != "done":
            raise Refusal(
                f"job {job.id} is {job.status}: a report exists once it is done", "conflict"
            )
        if job.evidence is None:
            raise NotFound(f"job {job.id} ran with impl={job.impl}: it wrote no report")
        try:
            return engine.read_report(job.evidence)
        except InputError as exc:
            raise NotFound(str(exc)) from None
