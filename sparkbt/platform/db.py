"""The one way the service's stores open SQLite: :func:`connect`.

Every store (jobs, users, the guard's tables) shares one database file and may
be opened by several processes (the service, ``sparkbt users``), so each
connection is set up alike: WAL journal with ``synchronous=NORMAL`` (a crash of
the process loses no committed write), a busy timeout so a writer waits for
another's lock instead of failing, foreign keys enforced, rows readable by
column name, autocommit (stores open their own transactions) and usable from
any thread (each store guards its connection with a lock). :class:`Store` is
the base the stores share: the connection, its lock, the transactions and
:func:`from_row` to read a row back into a dataclass.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["BUSY_TIMEOUT_S", "Store", "connect", "from_row", "iso", "retry_locked"]

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


class Store:
    """One connection to a SQLite file, shared by threads behind one lock.

    ``schema`` (a script) is run when the store opens; ``reentrant`` stores take
    their lock again inside their own transactions.
    """

    def __init__(
        self,
        path: str | Path,
        schema: str = "",
        timeout: float = BUSY_TIMEOUT_S,
        *,
        reentrant: bool = False,
    ) -> None:
        self.path = Path(path)
        self._lock: threading.Lock | threading.RLock = (
            threading.RLock() if reentrant else threading.Lock()
        )
        self._db = connect(self.path, timeout)
        if schema:
            retry_locked(lambda: self._db.executescript(schema))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: BEGIN IMMEDIATE takes the database's write lock first."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One consistent snapshot for reads spanning several queries."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                yield self._db
            finally:
                self._db.execute("COMMIT")


D = TypeVar("D", bound="DataclassInstance")


def from_row(cls: type[D], row: sqlite3.Row, **given: Any) -> D:
    """A ``cls`` whose fields are ``given`` or else the row's columns of the same name."""
    columns = {f.name: row[f.name] for f in fields(cls) if f.name not in given}
    return cls(**columns, **given)


def iso(ts: float | None) -> str | None:
    """A row's timestamp as ISO-8601 UTC with milliseconds (``...Z``); None stays None."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
