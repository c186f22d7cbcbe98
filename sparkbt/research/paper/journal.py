"""A paper session's journal: one SQLite file in WAL mode, append-only, keyed by bar.

Why SQLite rather than fsync'd JSON lines: a commit is atomic, so a process
killed at any instant (``kill -9`` mid-write) leaves every bar either fully
journaled or absent, never a torn line to repair; the bar's open time is the
primary key, so replaying a bar can never add it twice; and the WAL lets a
reader (``sparkbt paper status``, the service) read while the session writes.
``synchronous=FULL`` fsyncs the WAL at every commit: a committed bar survives
a power cut too.

Tables: ``bars`` (one row per closed bar processed: candle fingerprints, fills,
units, equity, cash; never updated) and ``events`` (started, resumed, warning,
divergence, halted, stop_requested, stopped; never updated either). A replayed
bar whose content differs from the journaled one is not written: the caller
records the divergence as an event.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sparkbt.research.paper.bars import BarRow

__all__ = ["Journal"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bars (
    ts INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    candles TEXT NOT NULL,
    fills TEXT NOT NULL,
    positions TEXT NOT NULL,
    equity REAL NOT NULL,
    cash REAL,
    written_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    bar INTEGER,
    detail TEXT NOT NULL
);
"""


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


class Journal:
    """The journal file of one session (``journal.sqlite``); use as a context manager."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        # opened by one thread and handed to another (a service opens a session in a request
        # and runs it in its session loop): one thread at a time uses a journal
        self._db = sqlite3.connect(
            self.path, timeout=10.0, isolation_level=None, check_same_thread=False
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # ------------------------------------------------------------------ bars
    def append(self, rows: Sequence[BarRow]) -> tuple[list[BarRow], list[BarRow]]:
        """Write ``rows`` in one transaction; returns (written, conflicting).

        A row whose bar is journaled already is skipped when equal (a replay)
        and returned as conflicting when its content differs (kept as it was).
        """
        written: list[BarRow] = []
        conflicts: list[BarRow] = []
        now = time.time()
        with self._tx() as db:
            for row in rows:
                old = db.execute("SELECT * FROM bars WHERE ts = ?", (row.ts,)).fetchone()
                if old is not None:
                    if _row(old) != row:
                        conflicts.append(row)
                    continue
                db.execute(
                    "INSERT INTO bars VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        row.ts,
                        row.time,
                        _dumps(row.candles),
                        _dumps(row.fills),
                        _dumps(row.positions),
                        row.equity,
                        row.cash,
                        now,
                    ),
                )
                written.append(row)
        return written, conflicts

    def bars(self, since_ns: int | None = None, limit: int | None = None) -> list[BarRow]:
        """Journaled bars in time order (after ``since_ns`` when given; the first ``limit``)."""
        sql = "SELECT * FROM bars WHERE ts > ? ORDER BY ts"
        args: list[Any] = [-(2**63) if since_ns is None else since_ns]
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        return [_row(r) for r in self._db.execute(sql, args)]

    def last_ts(self) -> int | None:
        row = self._db.execute("SELECT MAX(ts) AS ts FROM bars").fetchone()
        return None if row["ts"] is None else int(row["ts"])

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM bars").fetchone()[0])

    # ------------------------------------------------------------------ events
    def event(self, kind: str, detail: dict[str, Any] | None = None, bar: int | None = None) -> int:
        """Append one event; returns its sequence number."""
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO events (at, kind, bar, detail) VALUES (?, ?, ?, ?)",
                (time.time(), kind, bar, _dumps(detail or {})),
            )
        return int(cur.lastrowid or 0)

    def events(self, kind: str | None = None, after: int = 0) -> list[dict[str, Any]]:
        """Events in order (of one ``kind``, after sequence number ``after``)."""
        sql = "SELECT * FROM events WHERE seq > ?"
        args: list[Any] = [after]
        if kind is not None:
            sql += " AND kind = ?"
            args.append(kind)
        return [
            {
                "seq": r["seq"],
                "at": r["at"],
                "kind": r["kind"],
                "bar": r["bar"],
                "detail": json.loads(r["detail"]),
            }
            for r in self._db.execute(sql + " ORDER BY seq", args)
        ]


def _row(r: sqlite3.Row) -> BarRow:
    return BarRow(
        ts=int(r["ts"]),
        candles=json.loads(r["candles"]),
        fills=json.loads(r["fills"]),
        positions=json.loads(r["positions"]),
        equity=float(r["equity"]),
        cash=None if r["cash"] is None else float(r["cash"]),
    )
