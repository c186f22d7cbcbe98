"""The one way the service's stores open SQLite: :func:`connect`.

Every store (jobs, users, the guard's tables) shares one database file and may
be opened by several processes (the service, ``sparkbt users``), so each
connection is set up alike: WAL journal with ``synchronous=NORMAL`` (a crash of
the process loses no committed write), a busy timeout so a writer waits for
another's lock instead of failing, foreign keys enforced, rows readable by
column name, autocommit (stores open their own transactions) and usable from
any thread (each store guards its connection with a lock).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

__all__ = ["BUSY_TIMEOUT_S", "connect", "retry_locked"]

BUSY_TIMEOUT_S = 10.0
"""How long a statement waits for another connection's lock before it fails."""

T = TypeVar("T")


def retry_locked(fn: Callable[[], T], attempts: int = 50) -> T:
    """Run ``fn``, retrying while another process holds a lock SQLite does not wait on
    (switching the journal to WAL, creating tables)."""
    for i in range(attempts):
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or i == attempts - 1:
                raise
            time.sleep(0.05)
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def connect(path: str | Path, timeout: float = BUSY_TIMEOUT_S) -> sqlite3.Connection:
    """A connection to the SQLite file ``path`` (its folder is created), set up as above."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
    retry_locked(lambda: db.execute("PRAGMA journal_mode=WAL"))
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    return db
