"""Run pages: the runs list (live), the start form, a job's progress and a run's report.

::

    GET  /ui/                         redirect to /ui/runs
    GET  /ui/runs                     jobs and stored runs, newest first (filters in the query)
    GET  /ui/runs/rows                the list's rows (htmx polls it while a job is active)
    GET  /ui/runs/new                 the start form (?strategy= picks its parameter fields)
    GET  /ui/runs/new/params          the parameter fields of one strategy (htmx)
    POST /ui/runs/new                 start a backtest, validated as the API does
    GET  /ui/jobs/{job_id}            a job's status (polls until it is done or failed)
    GET  /ui/jobs/{job_id}/status     the status fragment
    GET  /ui/runs/{run_id}            the report of a stored run
    GET  /ui/runs/{run_id}/trades.csv every trade of trades.parquet as CSV
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from sparkbt.adapters.web.forms import body_of_form, option_fields, param_fields, with_pairs
from sparkbt.adapters.web.pages import Pages, newest_json, redirect
from sparkbt.adapters.web.portfoliodata import portfolio_payload
from sparkbt.adapters.web.reportdata import report_payload
from sparkbt.adapters.web.tradetable import trade_page, trades_csv
from sparkbt.engine.registry import get_strategy, list_strategies
from sparkbt.errors import InputError, Refusal, SparkbtError
from sparkbt.platform.audit import origin
from sparkbt.platform.auth import START_ROLES
from sparkbt.platform.public_paths import PublicPaths
from sparkbt.platform.refusals import status_of
from sparkbt.platform.verify_jobs import latest as latest_verification

__all__ = ["list_rows", "options_text", "router", "strategy_form"]

STATUSES = ("queued", "running", "done", "failed", "stored")
LIST_LIMIT = 200


@functools.cache
def _defaults() -> dict[str, Any]:
    from sparkbt.engine.options import Config

    return Config().to_dict()


def options_text(options: dict[str, Any] | None) -> str:
    """The engine options that differ from the defaults, e.g. ``sl_stop=0.05 fees=0.001``."""
    defaults = _defaults()
    out = []
    for key, value in (options or {}).items():
        if key == "year_days" or value == defaults.get(key) or value in (None, {}):
            continue
        if key == "gates" and isinstance(value, dict):
            out += [f"gate {k}={v}" for k, v in value.items()]
        elif isinstance(value, dict):  # an exchange rule per symbol
            out.append(f"{key}={','.join(f'{k}:{v}' for k, v in value.items())}")
        else:
            out.append(f"{key}={value}")
    return " ".join(out)


def _job_row(job: Any, paths: PublicPaths) -> dict[str, Any]:
    req = job.request
    return {
        "job_id": job.id,
        "run_id": job.run_id,
        "status": job.status,
        "strategy": req.get("strategy") or "",
        "params": req.get("params") or {},
        "options": options_text(req.get("options")),
        "symbol": ", ".join(req["pairs"]) if req.get("pairs") else req.get("pair") or "",
        "timeframe": req.get("timeframe") or "",
        "user": job.user,
        "created": job.public()["created_at"],
        "stats": job.stats or {},
        "error": paths.text(job.error),
        "kind": "evaluation" if req.get("guard") else "backtest",
    }


def _symbols_text(meta: dict[str, Any]) -> str:
    """A stored run's market: its symbol, or a portfolio's symbols joined by commas."""
    symbols = meta.get("symbols")
    if isinstance(symbols, list) and symbols:
        return ", ".join(str(s) for s in symbols)
    return str(meta.get("symbol") or "")


def _stored_rows(root: Path, limit: int) -> list[dict[str, Any]]:
    """Stored runs (newest folders first), read from their report.json."""
    out = []
    for _folder, report in newest_json(root / "backtest", "report.json", limit):
        meta = report.get("metadata") or {}
        out.append(
            {
                "job_id": None,
                "run_id": report.get("id"),
                "status": "stored",
                "strategy": report.get("strategy") or "",
                "params": report.get("params") or {},
                "options": options_text(report.get("config")),
                "symbol": _symbols_text(meta),
                "timeframe": meta.get("timeframe") or "",
                "user": None,
                "created": (report.get("timing") or {}).get("created_at"),
                "stats": report.get("stats") or {},
                "error": None,
                "kind": "backtest",
            }
        )
    return out


def list_rows(pages: Pages, strategy: str, symbol: str, status: str) -> list[dict[str, Any]]:
    """Jobs and stored runs no job made, newest first, filtered."""
    svc = pages.svc
    job_status = status if status in ("queued", "running", "done", "failed") else None
    rows = (
        []
        if status == "stored"
        else [_job_row(j, svc.backtests.paths) for j in svc.jobs.list(job_status, LIST_LIMIT)]
    )
    if status in ("", "stored"):
        seen = {r["run_id"] for r in rows if r["run_id"]}
        rows += [r for r in _stored_rows(pages.evidence_dir, LIST_LIMIT) if r["run_id"] not in seen]
    if strategy:
        rows = [r for r in rows if r["strategy"] == strategy]
    if symbol:
        want = symbol.upper()
        rows = [r for r in rows if want in (r["symbol"].upper(), *r["symbol"].upper().split(", "))]
    rows.sort(key=lambda r: r["created"] or "", reverse=True)
    return rows[:LIST_LIMIT]


@functools.lru_cache(maxsize=16)
def _payload(pages: Pages, run_id: str) -> dict[str, Any]:
    run = pages.run(run_id)
    if run.is_portfolio:
        return portfolio_payload(run, pages.portfolio_candles(run.report))
    return report_payload(run, pages.candles_for(run.report))


def router(pages: Pages) -> APIRouter:
    """The run pages of ``pages``' service."""
    r = APIRouter(prefix="/ui")
    svc = pages.svc

    def filters(request: Request) -> dict[str, str]:
        q = request.query_params
        return {k: (q.get(k) or "").strip()[:64] for k in ("strategy", "symbol", "status")}

    @r.get("/", include_in_schema=False)
    async def home() -> Response:
        return redirect("/ui/runs")

    @r.get("/runs", response_class=HTMLResponse, include_in_schema=False)
    async def runs(request: Request) -> HTMLResponse:
        pages.read(request)
        f = filters(request)
        rows = await run_in_threadpool(list_rows, pages, **f)
        return pages.page(
            request,
            "runs.html",
            rows=rows,
            filters=f,
            statuses=STATUSES,
            strategies=[s.name for s in list_strategies()],
        )

    @r.get("/runs/rows", response_class=HTMLResponse, include_in_schema=False)
    async def runs_rows(request: Request) -> HTMLResponse:
        pages.read(request)
        f = filters(request)
        rows = await run_in_threadpool(list_rows, pages, **f)
        return pages.page(request, "_runs_rows.html", rows=rows, filters=f)

    def form_page(
        request: Request, values: dict[str, str], error: str = "", status: int = 200
    ) -> HTMLResponse:
        return strategy_form(pages, request, "start.html", values, error, status)

    @r.get("/runs/new", response_class=HTMLResponse, include_in_schema=False)
    async def new_run(request: Request) -> HTMLResponse:
        pages.read(request)
        return form_page(request, dict(request.query_params))

    @r.get("/runs/new/params", response_class=HTMLResponse, include_in_schema=False)
    async def new_run_params(request: Request, strategy: str = "") -> HTMLResponse:
        pages.read(request)
        name = svc_strategy_name(strategy)
        try:
            spec = get_strategy(name)
        except SparkbtError as exc:
            raise Refusal(str(exc).splitlines()[0], "not_found") from None
        return pages.page(request, "_param_fields.html", params=param_fields(spec), strategy=spec)

    @r.post("/runs/new", include_in_schema=False)
    async def start_run(request: Request) -> Response:
        form = await pages.form(request)
        who = pages.act(request, form, START_ROLES, "start a backtest")
        try:
            body = with_pairs(body_of_form(form))
            job = svc.backtests.start(body, who, origin(request))
        except Refusal as exc:
            svc.backtests.refused(exc, who, origin(request))
            return form_page(request, form, exc.detail, status_of(exc))
        except InputError as exc:
            return form_page(request, form, str(exc).splitlines()[0], 422)
        return redirect(f"/ui/jobs/{job.id}", request)

    @r.get("/jobs/{job_id}", response_class=HTMLResponse, include_in_schema=False)
    async def job_page(request: Request, job_id: str) -> HTMLResponse:
        pages.read(request)
        return pages.page(
            request, "job.html", job=_job_row(svc.backtests.job(job_id), svc.backtests.paths)
        )

    @r.get("/jobs/{job_id}/status", response_class=HTMLResponse, include_in_schema=False)
    async def job_status(request: Request, job_id: str) -> HTMLResponse:
        pages.read(request)
        return pages.page(
            request,
            "_job_status.html",
            job=_job_row(svc.backtests.job(job_id), svc.backtests.paths),
        )

    @r.get("/runs/{run_id}", response_class=HTMLResponse, include_in_schema=False)
    async def run_report(request: Request, run_id: str) -> HTMLResponse:
        pages.read(request)
        data = await run_in_threadpool(_payload, pages, run_id)
        base = f"/ui/runs/{data['id']}"
        return pages.page(
            request,
            "portfolio.html" if data.get("kind") == "portfolio" else "report.html",
            data=data,
            csv_url=f"{base}/trades.csv",
            trades_url=f"{base}/trades.json" if data["trade_count"] > len(data["trades"]) else "",
            verification=latest_verification(svc.jobs, data["id"]),
        )

    @r.get("/runs/{run_id}/trades.json", include_in_schema=False)
    async def run_trade_page(
        request: Request,
        run_id: str,
        offset: int = 0,
        limit: int = 2000,
        sort: str = "id",
        desc: bool = False,
        q: str = "",
        reason: str = "",
    ) -> JSONResponse:
        pages.read(request)
        run = await run_in_threadpool(pages.run, run_id)
        try:
            page = await run_in_threadpool(
                lambda: trade_page(
                    run.trades,
                    offset=offset,
                    limit=limit,
                    sort=sort,
                    descending=desc,
                    query=q[:100],
                    reason=reason[:32],
                )
            )
        except ValueError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=422)
        return JSONResponse(page)

    @r.get("/runs/{run_id}/trades.csv", include_in_schema=False)
    async def run_trades(request: Request, run_id: str) -> Response:
        pages.read(request)
        run = await run_in_threadpool(pages.run, run_id)
        text = await run_in_threadpool(trades_csv, run.trades)
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="trades-{run.id}.csv"'},
        )

    return r


def strategy_form(
    pages: Pages,
    request: Request,
    template: str,
    values: dict[str, str],
    error: str = "",
    status: int = 200,
) -> HTMLResponse:
    """A form of a strategy's parameter fields and the engine options (``template`` lays it
    out), filled with ``values`` and showing ``error``."""
    names = [s.name for s in list_strategies()]
    chosen = values.get("strategy") or ("sma_cross" if "sma_cross" in names else names[0])
    name = svc_strategy_name(chosen)
    try:
        strategy = get_strategy(name)
    except SparkbtError as exc:
        raise Refusal(str(exc).splitlines()[0], "not_found") from None
    return pages.page(
        request,
        template,
        status=status,
        strategies=names,
        strategy=strategy,
        values=values,
        params=param_fields(strategy, values),
        options=option_fields(values),
        error=error,
    )


def svc_strategy_name(name: str) -> str:
    """A strategy name from a query string: registry names only, never a file path."""
    from sparkbt.platform.backtests import check_strategy_name

    try:
        return check_strategy_name(name.strip()[:64] or "sma_cross")
    except InputError as exc:
        raise Refusal(str(exc), "invalid") from None
