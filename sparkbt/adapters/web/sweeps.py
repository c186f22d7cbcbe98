"""Sweep pages: the stored sweeps, one sweep's heatmap and results, opening one combination.

::

    GET  /ui/sweeps                       stored sweeps, newest first
    GET  /ui/sweeps/{sweep_id}            heatmap of ?metric= over ?x= and ?y= (the other
                                          parameters fixed by ?fix.<param>=<value>, by default
                                          at the best row's values) and the sortable results
    GET  /ui/sweeps/{sweep_id}/open       one combination (?<param>=<value>...): its stored run,
                                          or a form to run it
    POST /ui/sweeps/{sweep_id}/open       queue that combination as a job (a single backtest
                                          on the sweep's candles and options, run by a worker)
                                          and show its job page, which links to the report when
                                          it is done (its stored run directly, if there is one)

Running a combination writes evidence, so it needs a signed-in user allowed to
start backtests and a CSRF token, as every other action does; it is a job like
any start (:meth:`~sparkbt.platform.backtest_actions.BacktestActions.start_cell`):
within the queue's limits, the job timeout and the audit log.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from sparkbt.adapters.web.pages import Pages, redirect
from sparkbt.adapters.web.sweepdata import (
    METRICS,
    Choice,
    find_row,
    heatmap,
    list_sweeps,
    load_sweep,
    predicted_run_id,
    table,
)
from sparkbt.engine.result import format_stat
from sparkbt.errors import Refusal
from sparkbt.platform.audit import origin
from sparkbt.platform.auth import START_ROLES

__all__ = ["router"]


def _params_of(items: Any) -> dict[str, str]:
    return {str(k)[:64]: str(v)[:200] for k, v in items if k != "csrf_token"}


def router(pages: Pages) -> APIRouter:
    """The sweep pages of ``pages``' service."""
    r = APIRouter(prefix="/ui")
    svc = pages.svc

    def stored(run_id: str) -> bool:
        return (pages.evidence_dir / "backtest" / run_id / "report.json").is_file()

    @r.get("/sweeps", response_class=HTMLResponse, include_in_schema=False)
    async def sweeps(request: Request) -> HTMLResponse:
        pages.read(request)
        rows = await run_in_threadpool(list_sweeps, pages.evidence_dir)
        return pages.page(request, "sweeps.html", sweeps=rows)

    def detail(sweep_id: str, query: dict[str, str]) -> dict[str, Any]:
        sweep = load_sweep(pages.evidence_dir, sweep_id)
        choice = Choice(sweep, query)
        return {
            "sweep": sweep,
            "meta": sweep.meta,
            "ident": sweep.meta.get("identity") or {},
            "choice": choice,
            "metrics": METRICS,
            "heat": heatmap(sweep, choice, stored),
            "table": table(sweep, choice),
        }

    @r.get("/sweeps/{sweep_id}", response_class=HTMLResponse, include_in_schema=False)
    async def sweep_page(request: Request, sweep_id: str) -> HTMLResponse:
        pages.read(request)
        query = {k[:80]: v[:200] for k, v in request.query_params.items()}
        ctx = await run_in_threadpool(detail, sweep_id, query)
        return pages.page(request, "sweep.html", **ctx)

    @r.get("/sweeps/{sweep_id}/open", include_in_schema=False)
    async def open_get(request: Request, sweep_id: str) -> Response:
        pages.read(request)
        sweep = await run_in_threadpool(load_sweep, pages.evidence_dir, sweep_id)
        values = _params_of(request.query_params.items())
        row = find_row(sweep, values)
        params = [p for p in sweep.meta.get("params") or [] if p in row]
        run_id = predicted_run_id(sweep.meta.get("identity") or {}, row, params)
        if run_id and stored(run_id):
            return redirect(f"/ui/runs/{run_id}")
        metric = str(sweep.meta.get("metric") or "sharpe")
        return pages.page(
            request,
            "sweep_open.html",
            sweep=sweep,
            values={p: values[p] for p in params},
            metric=metric,
            metric_text=format_stat(metric, row.get(metric)),
        )

    @r.post("/sweeps/{sweep_id}/open", include_in_schema=False)
    async def open_post(request: Request, sweep_id: str) -> Response:
        form = await pages.form(request)
        who = pages.act(request, form, START_ROLES, "run a combination of a sweep")
        values = _params_of(form.items())
        sweep = await run_in_threadpool(load_sweep, pages.evidence_dir, sweep_id)
        row = find_row(sweep, values)
        params = [p for p in sweep.meta.get("params") or [] if p in row]
        run_id = predicted_run_id(sweep.meta.get("identity") or {}, row, params)
        if run_id and stored(run_id):
            return redirect(f"/ui/runs/{run_id}", request)
        try:
            job = await run_in_threadpool(
                svc.backtests.start_cell, sweep.id, values, who, origin(request)
            )
        except Refusal as exc:
            svc.backtests.refused(exc, who, origin(request))
            raise
        return redirect(f"/ui/jobs/{job.id}", request)

    return r
