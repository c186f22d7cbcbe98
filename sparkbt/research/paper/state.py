"""Reading sessions from outside the process running them: status, journal, stop, list.

Every function here opens the journal as a reader (WAL: never blocks the
writer) and may be called while the session runs in another process.
:func:`request_stop` appends a ``stop_requested`` event the running process
sees at its next poll; a session no process runs is marked ``stopped`` at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sparkbt.engine.options import Config
from sparkbt.research.paper.journal import Journal
from sparkbt.research.paper.session import is_running
from sparkbt.research.paper.spec import (
    JOURNAL_FILE,
    SPEC_FILE,
    check_session_id,
    paper_root,
    read_spec,
)

__all__ = ["journal_rows", "list_sessions", "request_stop", "session_events", "session_status"]

_LIFECYCLE = ("started", "resumed", "stopped", "interrupted")


def _folder(session_id: str, evidence_dir: str | Path | None) -> Path:
    folder = paper_root(evidence_dir) / check_session_id(session_id)
    read_spec(folder)  # SessionNotFound when absent
    return folder


def session_status(session_id: str, *, evidence_dir: str | Path | None = None) -> dict[str, Any]:
    """The session's state, inputs and running figures, as JSON-ready values.

    ``state``: ``running`` (a process holds it), ``halted`` (a gate locked),
    ``stopped`` (stopped on request), ``interrupted`` (its process ended
    without a stop: killed, or as ``ended`` says: an error, the service stopping; resume it).
    """
    folder = _folder(session_id, evidence_dir)
    spec = read_spec(folder)
    with Journal(folder / JOURNAL_FILE) as journal:
        rows = journal.bars()
        events = journal.events()
    halted = next((e for e in events if e["kind"] == "halted"), None)
    ends = [e for e in events if e["kind"] in _LIFECYCLE]
    life = [e["kind"] for e in ends]
    if halted is not None:
        state = "halted"
    elif is_running(folder):
        state = "running"
    elif life and life[-1] == "stopped":
        state = "stopped"
    else:
        state = "interrupted"
    cash = float(Config(**spec.options).cash)
    equity = np.array([r.equity for r in rows], dtype=np.float64)
    figures: dict[str, Any] = {"bars": len(rows), "fills": sum(len(r.fills) for r in rows)}
    if len(rows):
        peak = np.maximum.accumulate(np.maximum(equity, cash))
        figures.update(
            last_bar=rows[-1].time,
            equity=float(equity[-1]),
            cash=rows[-1].cash,
            positions=rows[-1].positions,
            total_return=float(equity[-1] / cash - 1.0),
            drawdown=float(1.0 - equity[-1] / peak[-1]),
            max_drawdown=float((1.0 - equity / peak).max()),
        )
    divergence = next((e for e in events if e["kind"] == "divergence"), None)
    return {
        "id": spec.id,
        "state": state,
        "strategy": spec.strategy,
        "params": spec.params,
        "options": spec.options,
        "symbols": spec.symbols,
        "timeframe": spec.timeframe,
        "start": spec.start,
        "start_bar": spec.start_bar,
        "history_from": spec.history_from,
        "paramset": None
        if spec.paramset is None
        else {"name": spec.paramset["name"], "version": spec.paramset["id"]},
        **figures,
        "warnings": [e["detail"] for e in events if e["kind"] == "warning"],
        "halted": None if halted is None else halted["detail"].get("reason"),
        # why an interrupted session ended (an error, the service stopping), when it could say
        "ended": ends[-1]["detail"].get("why")
        if state == "interrupted" and life[-1:] == ["interrupted"]
        else None,
        "divergence": None if divergence is None else divergence["detail"],
        "folder": str(folder),
    }


def journal_rows(
    session_id: str,
    *,
    evidence_dir: str | Path | None = None,
    since_ns: int | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Journaled bars (after ``since_ns``; at most ``limit``) as dicts."""
    folder = _folder(session_id, evidence_dir)
    with Journal(folder / JOURNAL_FILE) as journal:
        return [r.to_dict() for r in journal.bars(since_ns, limit)]


def session_events(
    session_id: str, *, evidence_dir: str | Path | None = None, after: int = 0
) -> list[dict[str, Any]]:
    """The session's events after sequence number ``after``."""
    folder = _folder(session_id, evidence_dir)
    with Journal(folder / JOURNAL_FILE) as journal:
        return journal.events(after=after)


def request_stop(session_id: str, *, evidence_dir: str | Path | None = None) -> dict[str, Any]:
    """Ask the running process to stop the session (or mark an idle one stopped)."""
    folder = _folder(session_id, evidence_dir)
    running = is_running(folder)
    with Journal(folder / JOURNAL_FILE) as journal:
        journal.event("stop_requested" if running else "stopped", {"requested": True})
    return session_status(session_id, evidence_dir=evidence_dir)


def list_sessions(*, evidence_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """The status of every session under the evidence root, by id."""
    root = paper_root(evidence_dir)
    if not root.is_dir():
        return []
    ids = sorted(p.name for p in root.iterdir() if (p / SPEC_FILE).is_file())
    return [session_status(i, evidence_dir=evidence_dir) for i in ids]
