"""The service's paper sessions: one event loop, in a thread of its own, running them all.

:class:`PaperSupervisor` owns that loop and a task per session
(:func:`sparkbt.research.paper.run_session`), so a session's backtest never
blocks the HTTP loop. Which sessions the service runs is kept in
``<evidence>/service/paper_sessions.json`` (added at start, dropped at a stop or
a halt), so at the next start of the service :meth:`resume_all` takes up every
session that was running: after a clean stop (the service closes its sessions
as ``interrupted``) and after a kill alike. With ``paper_feed = "live"`` each
session connects its own :class:`~sparkbt.data.feeds.btcturk.LiveFeed`;
with ``"store"`` it follows the candle store another process feeds.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparkbt.platform.settings import Settings
from sparkbt.research.paper import Advance, PaperSession, run_session, session_status
from sparkbt.research.paper.session import error_text
from sparkbt.research.paper.spec import SessionNotFound

__all__ = ["PaperSupervisor", "Watcher"]

Watcher = Callable[[str, str, dict[str, Any]], None]
"""Told of what a session does: ``(session_id, event, detail)`` with event ``advanced``,
``warning``, ``halted`` or ``ended`` (detail ``why``)."""


@dataclass
class _Run:
    session: PaperSession
    stop: asyncio.Event
    future: concurrent.futures.Future[str]


class PaperSupervisor:
    """Runs the service's paper sessions until it stops; resumes them when it starts again."""

    def __init__(self, settings: Settings, watch: Watcher, poll: float = 1.0) -> None:
        self.settings, self.watch, self.poll = settings, watch, poll
        self.file = Path(settings.evidence_dir) / "service" / "paper_sessions.json"
        self._runs: dict[str, _Run] = {}
        self._lock = threading.Lock()
        self._closing = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="paper", daemon=True)

    # ------------------------------------------------------------------ the list kept on disk
    def wanted(self) -> list[str]:
        """Ids of the sessions the service runs (or ran when it last stopped)."""
        try:
            return list(json.loads(self.file.read_text()))
        except (FileNotFoundError, ValueError):
            return []

    def _keep(self, session_id: str, keep: bool) -> None:
        with self._lock:
            ids = [i for i in self.wanted() if i != session_id] + ([session_id] if keep else [])
            self.file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.file.with_name(f".{self.file.name}.{os.getpid()}")
            tmp.write_text(json.dumps(ids))
            os.replace(tmp, self.file)

    # ------------------------------------------------------------------ running
    def start(self) -> None:
        self._thread.start()

    def resume_all(self) -> list[str]:
        """Resume every listed session that is neither stopped nor halted; the ids resumed."""
        from sparkbt.research.paper import resume_session

        resumed = []
        for sid in self.wanted():
            try:
                state = session_status(sid, evidence_dir=self.settings.evidence_dir)["state"]
            except SessionNotFound:
                self._keep(sid, False)
                continue
            if state in ("stopped", "halted"):
                self._keep(sid, False)
                continue
            if state == "running":  # another process holds it: leave it there
                continue
            self.run(resume_session(sid, evidence_dir=self.settings.evidence_dir))
            self.watch(sid, "resumed", {})
            resumed.append(sid)
        return resumed

    def run(self, session: PaperSession) -> None:
        """Run ``session`` (opened, holding its lock) until it stops, halts or the service ends."""
        sid = session.spec.id
        self._keep(sid, True)
        stop = asyncio.Event()
        future = asyncio.run_coroutine_threadsafe(self._drive(session, stop), self._loop)
        with self._lock:
            self._runs[sid] = _Run(session, stop, future)

    def running(self, session_id: str) -> PaperSession | None:
        """The open session ``session_id`` when this service runs it."""
        with self._lock:
            run = self._runs.get(session_id)
        return None if run is None or run.future.done() else run.session

    def sessions(self) -> list[PaperSession]:
        with self._lock:
            return [r.session for r in self._runs.values() if not r.future.done()]

    def stop(self, session_id: str) -> bool:
        """Stop a session this service runs (dropped from the list); whether it ran here."""
        self._keep(session_id, False)
        with self._lock:
            run = self._runs.get(session_id)
        if run is None or run.future.done():
            return False
        self._loop.call_soon_threadsafe(run.stop.set)
        return True

    def submit(self, fn: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        """Run ``fn`` in a thread of the supervisor's loop (slow reads: reconciliation)."""
        return asyncio.run_coroutine_threadsafe(asyncio.to_thread(fn), self._loop)

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop every session (kept in the list: the next start resumes them), then the loop."""
        self._closing = True
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            self._loop.call_soon_threadsafe(run.stop.set)
        concurrent.futures.wait([r.future for r in runs], timeout=timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)

    async def _drive(self, session: PaperSession, stop: asyncio.Event) -> str:
        sid = session.spec.id
        feed = None
        if self.settings.paper_feed == "live":
            from sparkbt.data.feeds.btcturk import LiveFeed

            feed = LiveFeed(session.spec.symbols, session.spec.timeframe, store=session.store)

        def advanced(done: Advance) -> None:
            self.watch(sid, "advanced", {"bars": len(done.written)})
            for w in done.warnings:
                self.watch(sid, "warning", w)
            if done.halted:
                self.watch(sid, "halted", {"reason": done.halted})

        why = "error"
        error: str | None = None
        try:
            why = await run_session(
                session,
                feed=feed,
                stop=stop,
                poll=self.poll,
                settle=self.settings.paper_settle,
                on_advance=advanced,
                close=False,
            )
        except Exception as exc:  # a feed that failed for good: the next start tries again
            error = error_text(exc)
        finally:
            interrupted = self._closing or error is not None
            session.close(
                "interrupted" if interrupted else "stopped",
                {"why": "service stopped" if self._closing else error or why},
            )
            if not interrupted:
                self._keep(sid, False)
            self.watch(sid, "ended", {"why": why, "error": error, "kept": interrupted})
        return why
