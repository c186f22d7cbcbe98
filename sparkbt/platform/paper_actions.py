"""What the service does with paper sessions: start, stop, read, reconcile, compare, watch.

A session is started for a param set's approved version (its strategy, symbols,
timeframe, parameters and options; its approval evidence feeds the drift watch)
by an approver or an admin, and run by the :class:`PaperSupervisor`. Every start,
resume, stop, halt, drift warning and reconciliation is an audit line
(``paper_*``). The Prometheus ``paper_*`` series are read from the running
sessions at each scrape (:class:`PaperCollector`). A reconciliation's outcome is
kept in ``<evidence>/service/paper/<id>.reconcile.json`` for the pages and the
metrics; it runs in the supervisor's threads and is answered at once when it
takes under two seconds, else when it is read again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from pydantic import BaseModel, ConfigDict, Field

from sparkbt.errors import Conflict, Forbidden, NotFound
from sparkbt.platform.audit import AuditLog, Origin
from sparkbt.platform.auth import Principal
from sparkbt.platform.paper_supervisor import PaperSupervisor
from sparkbt.platform.proposal_actions import ProposalActions
from sparkbt.platform.proposals import GuardStore
from sparkbt.platform.public_paths import PublicPaths
from sparkbt.platform.records import APPROVER_ROLES
from sparkbt.platform.refusals import validated
from sparkbt.platform.settings import Settings
from sparkbt.research import paper
from sparkbt.research.paper.spec import SessionExists, SessionNotFound, check_session_id

__all__ = ["PAPER_ROLES", "PaperActions", "PaperCollector", "StartPaperBody"]

PAPER_ROLES = APPROVER_ROLES
"""Roles that may start, stop and reconcile paper sessions."""
_QUICK_SECONDS = 2.0


class StartPaperBody(BaseModel):
    """``POST /api/paper/sessions``: the param set whose approved version runs, and an id."""

    model_config = ConfigDict(extra="forbid", strict=True)

    paramset: str = Field(min_length=1, max_length=64)
    id: str | None = Field(None, min_length=1, max_length=64)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class PaperActions:
    """The paper sessions of one service."""

    def __init__(
        self,
        settings: Settings,
        guard: GuardStore,
        proposals: ProposalActions,
        audit: AuditLog,
        registry: CollectorRegistry,
    ) -> None:
        self.settings, self.guard, self.proposals, self.audit = settings, guard, proposals, audit
        self.paths = PublicPaths(settings)
        self.evidence = Path(settings.evidence_dir)
        self.supervisor = PaperSupervisor(settings, self._watched)
        self.results = self.evidence / "service" / "paper"
        self._reconciling: dict[str, concurrent.futures.Future[Any]] = {}
        self._lock = threading.Lock()
        registry.register(PaperCollector(self))

    # ------------------------------------------------------------------ lifecycle
    def start_service(self) -> list[str]:
        """At the service's start: the supervisor's loop, and every session to resume."""
        self.supervisor.start()
        return self.supervisor.resume_all()

    def stop_service(self) -> None:
        self.supervisor.shutdown()

    # ------------------------------------------------------------------ actions
    def start(self, raw: dict[str, Any], who: Principal, where: Origin) -> dict[str, Any]:
        """Start a session for ``raw["paramset"]``'s approved version (``raw["id"]``: its id)."""
        _may(who, "start a paper session")
        body = validated(StartPaperBody, raw)
        sid = None if body.id is None else check_session_id(body.id)
        if sid is not None and (paper.paper_root(self.evidence) / sid).exists():
            raise Conflict(f"paper session {sid!r} exists already; pick another id")
        version = self.proposals.approved_version(body.paramset)
        approved = self.guard.paramset(body.paramset).approved_proposal_id
        evidence = None if approved is None else self.guard.get(approved).evidence
        self._check_symbols(version.pairs, version.timeframe)
        try:
            session = paper.start_session(
                paramset=version,
                approval=evidence,
                session_id=sid,
                warmup_bars=self.settings.paper_warmup,
                data_dir=self.settings.data_dir,
                evidence_dir=self.evidence,
            )
        except SessionExists as exc:
            raise Conflict(str(exc).split(";")[0]) from None
        self.supervisor.run(session)
        self.audit.write(
            "paper_started",
            user=who.name,
            session_id=session.spec.id,
            paramset=body.paramset,
            version_id=version.id,
            request={"pairs": version.pairs, "timeframe": version.timeframe},
            client_ip=where["client_ip"],
            user_agent=where["user_agent"],
        )
        return self.status(session.spec.id)

    def _check_symbols(self, symbols: list[str], timeframe: str) -> None:
        from sparkbt.research.paper.exchange import prepare_symbols, stored_symbols

        if self.settings.paper_feed == "live":
            warmup, data = self.settings.paper_warmup, self.settings.data_dir
            asyncio.run(prepare_symbols(symbols, timeframe, warmup, data))
        else:
            stored_symbols(symbols, timeframe, self.settings.data_dir)

    def stop(self, session_id: str, who: Principal, where: Origin) -> dict[str, Any]:
        """Stop a session (the service's, or one another process runs)."""
        _may(who, "stop a paper session")
        self._status(session_id)  # NotFound first
        ran_here = self.supervisor.stop(session_id)
        if not ran_here:
            paper.request_stop(session_id, evidence_dir=self.evidence)
        self.audit.write(
            "paper_stopped",
            user=who.name,
            session_id=session_id,
            client_ip=where["client_ip"],
            user_agent=where["user_agent"],
        )
        return self.status(session_id)

    def reconcile(
        self, session_id: str, who: Principal, where: Origin, wait: float = _QUICK_SECONDS
    ) -> dict[str, Any]:
        """Run the reconciliation; its outcome if it ends within ``wait`` s, else ``running``."""
        _may(who, "reconcile a paper session")
        self._status(session_id)
        with self._lock:
            future = self._reconciling.get(session_id)
            if future is None or future.done():
                future = self.supervisor.submit(lambda: self._reconcile(session_id, who, where))
                self._reconciling[session_id] = future
        try:
            return dict(future.result(timeout=wait))
        except concurrent.futures.TimeoutError:
            return {"session_id": session_id, "state": "running"}

    def _reconcile(self, session_id: str, who: Principal, where: Origin) -> dict[str, Any]:
        found = paper.reconcile(session_id, evidence_dir=self.evidence).to_dict()
        out = {"state": "identical" if found["identical"] else "differs", "at": _now()} | found
        out["by"] = who.name
        self.results.mkdir(parents=True, exist_ok=True)
        tmp = self.results / f".{session_id}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(out, default=str))
        os.replace(tmp, self.results / f"{session_id}.reconcile.json")
        self.audit.write(
            "paper_reconciled",
            user=who.name,
            session_id=session_id,
            identical=found["identical"],
            cause=found["cause"],
            client_ip=where["client_ip"],
            user_agent=where["user_agent"],
        )
        return out

    # ------------------------------------------------------------------ reads
    def _status(self, session_id: str) -> dict[str, Any]:
        try:
            return paper.session_status(session_id[:64], evidence_dir=self.evidence)
        except SessionNotFound:
            raise NotFound(f"no paper session {session_id[:64]!r}") from None

    def last_reconcile(self, session_id: str) -> dict[str, Any] | None:
        with self._lock:
            future = self._reconciling.get(session_id)
        if future is not None and not future.done():
            return {"session_id": session_id, "state": "running"}
        try:
            found: dict[str, Any] = json.loads(
                (self.results / f"{check_session_id(session_id)}.reconcile.json").read_text()
            )
        except (OSError, ValueError):
            return None
        return found

    def _public(self, status: dict[str, Any]) -> dict[str, Any]:
        status = dict(status)
        status.pop("folder", None)
        running = self.supervisor.running(status["id"])
        status["bars_behind"] = None if running is None else running.bars_behind()
        status["service"] = running is not None
        return dict(self.paths.scrub(status))

    def status(self, session_id: str) -> dict[str, Any]:
        """A session's status as the API answers it: plus bars behind and its reconciliation."""
        out = self._public(self._status(session_id))
        out["reconcile"] = self.last_reconcile(session_id)
        return out

    def sessions(self) -> list[dict[str, Any]]:
        """Every session's status, by id."""
        return [self._public(s) for s in paper.list_sessions(evidence_dir=self.evidence)]

    def journal(
        self, session_id: str, since_ns: int | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        self._status(session_id)
        return paper.journal_rows(
            session_id[:64], evidence_dir=self.evidence, since_ns=since_ns, limit=limit
        )

    def comparison(self, session_id: str) -> dict[str, Any]:
        """Each journaled bar's equity beside the backtest's of the same stored candles.

        The backtest runs on the session's candles (warm-up included) up to its last
        journaled bar, trading from its first bar: where the two lines part, the
        reconciliation says why.
        """
        from sparkbt.engine.registry import get_strategy
        from sparkbt.research.paper.bars import bar_rows
        from sparkbt.research.paper.reconcile import session_candles
        from sparkbt.research.paper.session import session_backtest
        from sparkbt.research.paper.spec import read_spec

        self._status(session_id)
        spec = read_spec(paper.paper_root(self.evidence) / session_id)
        rows = paper.journal_rows(session_id, evidence_dir=self.evidence)
        out: dict[str, Any] = {"t": [], "paper": [], "backtest": []}
        if not rows:
            return out
        candles = session_candles(spec, rows[-1]["ts"])
        fresh = bar_rows(session_backtest(spec, get_strategy(spec.strategy_ref), candles), candles)
        by_ts = {r.ts: r.equity for r in fresh}
        out["t"] = [r["ts"] // 1_000_000_000 for r in rows]
        out["paper"] = [r["equity"] for r in rows]
        out["backtest"] = [by_ts.get(r["ts"]) for r in rows]
        return out

    # ------------------------------------------------------------------ what sessions do
    def _watched(self, session_id: str, event: str, detail: dict[str, Any]) -> None:
        if event == "warning":
            self.audit.write("paper_warning", session_id=session_id, **detail)
        elif event == "halted":
            self.audit.write("paper_halted", session_id=session_id, reason=detail["reason"])
        elif event == "resumed":
            self.audit.write("paper_resumed", session_id=session_id)
        elif event == "ended" and not detail["kept"] and detail["why"] != "halted":
            self.audit.write("paper_stopped", session_id=session_id, why=detail["why"])


def _may(who: Principal, action: str) -> None:
    if not who.may(PAPER_ROLES):
        raise Forbidden(f"role {who.role} may not {action}", principal=who)


class PaperCollector:
    """The ``paper_*`` Prometheus series of the sessions the service runs, read at scrape."""

    def __init__(self, actions: PaperActions) -> None:
        self.actions = actions

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        label = ["session"]
        equity = GaugeMetricFamily(
            "paper_equity_quote", "Equity of a paper session, in its quote currency.", labels=label
        )
        behind = GaugeMetricFamily(
            "paper_behind_bars",
            "Closed candles of the feed a paper session has not processed yet, in bars.",
            labels=label,
        )
        fills = CounterMetricFamily(
            "paper_fills", "Fills a paper session has journaled.", labels=label
        )
        warnings = CounterMetricFamily(
            "paper_drift_warnings", "Drift warnings a paper session has raised.", labels=label
        )
        recon = GaugeMetricFamily(
            "paper_reconciliation_status",
            "Last reconciliation of a paper session: 1 identical, 0 differs, -1 none yet.",
            labels=label,
        )
        for session in self.actions.supervisor.sessions():
            sid = session.spec.id
            rows = session.rows
            if rows:
                equity.add_metric([sid], rows[-1].equity)
            behind.add_metric([sid], session.bars_behind())
            fills.add_metric([sid], sum(len(r.fills) for r in rows))
            events = paper.session_events(sid, evidence_dir=self.actions.evidence)
            warnings.add_metric([sid], sum(e["kind"] == "warning" for e in events))
            found = self.actions.last_reconcile(sid) or {}
            state = found.get("state")
            recon.add_metric([sid], 1 if state == "identical" else 0 if state == "differs" else -1)
        yield from (equity, behind, fills, warnings, recon)
