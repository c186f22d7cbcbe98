"""Paper trading: a strategy or an approved param set on live candles, with the backtest's kernel.

Library API (what ``sparkbt paper`` and a service use)::

    from sparkbt.research.paper import start_session, resume_session, run_session
    from sparkbt.research.paper import session_status, journal_rows, request_stop, reconcile

    session = start_session("sma_cross", symbols="BTCTRY", timeframe="1m",
                            params={"fast": 5, "slow": 20})      # or paramset=version
    asyncio.run(run_session(session, feed=LiveFeed(["BTCTRY"], "1m", store=store)))
    session_status(session.spec.id)   # state, figures, warnings, halt, divergence
    reconcile(session.spec.id)        # identical, or the first difference and its cause

A session lives in ``<evidence>/paper/<id>/`` (``session.json`` +
``journal.sqlite``); see :mod:`.session` for how it advances, :mod:`.journal`
for the journal, :mod:`.reconcile`, :mod:`.drift` and :mod:`.runner`.
"""

from __future__ import annotations

from sparkbt.research.paper.bars import BarRow
from sparkbt.research.paper.reconcile import Reconciliation, reconcile
from sparkbt.research.paper.runner import run_session
from sparkbt.research.paper.session import (
    Advance,
    PaperSession,
    resume_session,
    start_session,
)
from sparkbt.research.paper.spec import (
    SessionBusy,
    SessionExists,
    SessionNotFound,
    SessionSpec,
    paper_root,
)
from sparkbt.research.paper.state import (
    journal_rows,
    list_sessions,
    request_stop,
    session_events,
    session_status,
)

__all__ = [
    "Advance",
    "BarRow",
    "PaperSession",
    "Reconciliation",
    "SessionBusy",
    "SessionExists",
    "SessionNotFound",
    "SessionSpec",
    "journal_rows",
    "list_sessions",
    "paper_root",
    "reconcile",
    "request_stop",
    "resume_session",
    "run_session",
    "session_events",
    "session_status",
    "start_session",
]
