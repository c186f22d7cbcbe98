"""The durable job store: one SQLite table in WAL mode.

A job is written once, as ``queued``, inside the start request; the dispatcher
moves it to ``running`` when it hands it to a worker and to ``done`` or
``failed`` when the worker answers (or dies, or times out). Every transition is
a single committed statement, so a crash of the server at any point leaves
each job in a state that :meth:`JobStore.recover` understands at the next
start: ``running`` rows were interrupted and go back to ``queued`` (or fail
once they have been interrupted ``max_attempts`` times, so one poisonous job
cannot crash-loop the service).

WAL with ``synchronous=NORMAL`` survives a crash or ``kill -9`` of the process
without losing a committed job; only an OS crash or power loss can drop the
last few commits. The server is the only writer; one connection guarded by a
lock serves the request loop and the dispatcher thread.

The queue is bounded (:class:`QueueLimits`): a new job is refused
(:class:`~sparkbt.errors.TooMany`) when the queue, or its user's share of it, is
full. The count and the insert are one write transaction, so concurrent starts
cannot overshoot either limit.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparkbt.errors import TooMany
from sparkbt.platform.db import Store, from_row, iso

__all__ = ["STATUSES", "Job", "JobStore", "QueueLimits"]

STATUSES = ("queued", "running", "done", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    status      TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    impl        TEXT NOT NULL,
    request     TEXT NOT NULL,
    client_ip   TEXT,
    user_agent  TEXT,
    created_at  REAL NOT NULL,
    started_at  REAL,
    finished_at REAL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    worker_pid  INTEGER,
    run_id      TEXT,
    evidence    TEXT,
    stats       TEXT,
    error       TEXT,
    user        TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, seq);
CREATE INDEX IF NOT EXISTS jobs_by_proposal ON jobs (json_extract(request, '$.guard.proposal_id'))
    WHERE json_extract(request, '$.guard.proposal_id') IS NOT NULL;
"""


@dataclass(frozen=True)
class Job:
    """One row of the job table."""

    id: str
    status: str
    impl: str
    request: dict[str, Any]
    client_ip: str | None
    user_agent: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    attempts: int
    worker_pid: int | None
    run_id: str | None
    evidence: str | None
    stats: dict[str, Any] | None
    error: str | None
    user: str | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        stats = json.loads(row["stats"]) if row["stats"] is not None else None
        return from_row(cls, row, request=json.loads(row["request"]), stats=stats)

    def public(self) -> dict[str, Any]:
        """The JSON the API returns: who started the job (``user``), but no client ip or
        user agent (those go to the audit log)."""
        return {
            "id": self.id,
            "status": self.status,
            "impl": self.impl,
            **self.request,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "attempts": self.attempts,
            "run_id": self.run_id,
            "evidence": self.evidence,
            "stats": self.stats,
            "error": self.error,
            "user": self.user,
        }


@dataclass(frozen=True)
class QueueLimits:
    """How many jobs may wait in the queue: in all, and of one user."""

    total: int
    per_user: int

    def check(self, db: sqlite3.Connection, user: str | None) -> None:
        """Refuse (TooMany) one more queued job of ``user``; ``db`` is inside the write
        transaction that inserts it."""
        queued = db.execute("SELECT COUNT(*) FROM jobs WHERE status = 'queued'").fetchone()[0]
        if queued >= self.total:
            raise TooMany(
                f"the job queue is full ({queued} jobs queued, limit {self.total}); retry later",
                "queue_full",
            )
        if user is None:
            return
        mine = db.execute(
            "SELECT COUNT(*) FROM jobs WHERE user = ? AND status = 'queued'", (user,)
        ).fetchone()[0]
        if mine >= self.per_user:
            raise TooMany(
                f"{user} has {mine} jobs queued (limit {self.per_user} per user); "
                "retry once some have run",
                "user_cap",
            )


class JobStore(Store):
    """Jobs in one SQLite file; safe to share between the event loop and the dispatcher thread.

    With ``limits``, :meth:`create` and :meth:`insert` refuse jobs over them and
    call ``on_refused`` (metrics) with each refusal.
    """

    def __init__(
        self,
        path: str | Path,
        limits: QueueLimits | None = None,
        on_refused: Callable[[TooMany], None] | None = None,
    ) -> None:
        super().__init__(path, _SCHEMA)
        self.limits, self.on_refused = limits, on_refused
        columns = {r["name"] for r in self._db.execute("PRAGMA table_info(jobs)")}
        if "user" not in columns:  # a database from before jobs recorded who started them
            self._db.execute("ALTER TABLE jobs ADD COLUMN user TEXT")
        self._db.execute("CREATE INDEX IF NOT EXISTS jobs_by_user ON jobs (user, status)")

    def _one(self, sql: str, args: tuple[Any, ...] = ()) -> Job | None:
        with self._lock:
            row = self._db.execute(sql, args).fetchone()
        return Job.from_row(row) if row is not None else None

    def create(
        self,
        request: dict[str, Any],
        impl: str,
        client_ip: str | None = None,
        user_agent: str | None = None,
        user: str | None = None,
        *,
        capped: bool = True,
    ) -> Job:
        """Record a new queued job started by ``user`` and return it (the id is a random UUID).

        TooMany when ``capped`` and the queue or ``user``'s share of it is full.
        """
        with self._write() as db:
            return self.insert(db, request, impl, client_ip, user_agent, user, capped=capped)

    def insert(
        self,
        db: sqlite3.Connection,
        request: dict[str, Any],
        impl: str,
        client_ip: str | None = None,
        user_agent: str | None = None,
        user: str | None = None,
        *,
        capped: bool = True,
    ) -> Job:
        """:meth:`create` on ``db``: a connection to this database inside a write transaction
        (another store's, so a job can be queued atomically with what that store writes)."""
        if capped and self.limits is not None:
            try:
                self.limits.check(db, user)
            except TooMany as exc:
                if self.on_refused is not None:
                    self.on_refused(exc)
                raise
        row = db.execute(
            "INSERT INTO jobs (id, status, impl, request, client_ip, user_agent, created_at, user)"
            " VALUES (?, 'queued', ?, ?, ?, ?, ?, ?) RETURNING *",
            (
                uuid.uuid4().hex,
                impl,
                json.dumps(request, sort_keys=True),
                client_ip,
                user_agent,
                time.time(),
                user,
            ),
        ).fetchone()
        return Job.from_row(row)

    def get(self, job_id: str) -> Job | None:
        return self._one("SELECT * FROM jobs WHERE id = ?", (job_id,))

    def for_proposal(self, proposal_id: str) -> Job | None:
        """The newest evaluation job of a guard proposal, if any."""
        return self._one(
            "SELECT * FROM jobs WHERE json_extract(request, '$.guard.proposal_id') = ?"
            " AND json_extract(request, '$.guard.proposal_id') IS NOT NULL"
            " ORDER BY seq DESC LIMIT 1",
            (proposal_id,),
        )

    def for_verify(self, evidence_id: str) -> Job | None:
        """The newest verify job of stored evidence (a run, sweep or walk-forward), if any."""
        return self._one(
            "SELECT * FROM jobs WHERE json_extract(request, '$.verify.id') = ?"
            " ORDER BY seq DESC LIMIT 1",
            (evidence_id,),
        )

    @staticmethod
    def _where(status: str | None, prefix: str | None) -> tuple[str, tuple[Any, ...]]:
        """The WHERE clause for a status and an id prefix (a range on the id index)."""
        terms: list[str] = []
        args: tuple[Any, ...] = ()
        if status is not None:
            terms.append("status = ?")
            args += (status,)
        if prefix:
            # every id starting with prefix sorts in [prefix, prefix + U+10FFFF)
            terms.append("id >= ? AND id < ?")
            args += (prefix, prefix + "\U0010ffff")
        return (" WHERE " + " AND ".join(terms) if terms else ""), args

    def list(
        self, status: str | None = None, limit: int = 50, prefix: str | None = None
    ) -> list[Job]:
        """Jobs newest first, optionally only those with one status or an id prefix."""
        where, args = self._where(status, prefix)
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM jobs{where} ORDER BY seq DESC LIMIT ?", (*args, limit)
            ).fetchall()
        return [Job.from_row(r) for r in rows]

    def count(self, status: str | None = None, prefix: str | None = None) -> int:
        """How many jobs :meth:`list` would give without its limit."""
        where, args = self._where(status, prefix)
        with self._lock:
            return int(self._db.execute(f"SELECT COUNT(*) FROM jobs{where}", args).fetchone()[0])

    def counts(self) -> dict[str, int]:
        """Number of jobs in each status (every status present, zero if none)."""
        with self._lock:
            rows = self._db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
        return {s: 0 for s in STATUSES} | {r[0]: r[1] for r in rows}

    def claim_next(self, worker_pid: int) -> Job | None:
        """Move the oldest queued job to ``running`` for one worker, or return None."""
        return self._one(
            "UPDATE jobs SET status = 'running', started_at = ?, attempts = attempts + 1,"
            " worker_pid = ?, error = NULL"
            " WHERE seq = (SELECT seq FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1)"
            " RETURNING *",
            (time.time(), worker_pid),
        )

    def finish(
        self,
        job_id: str,
        status: str,
        *,
        run_id: str | None = None,
        evidence: str | None = None,
        stats: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> Job | None:
        """Close a running job as ``done`` or ``failed``; None if it was not running."""
        if status not in ("done", "failed"):
            raise ValueError(f"finish: status must be done or failed (got {status!r})")
        return self._one(
            "UPDATE jobs SET status = ?, finished_at = ?, run_id = ?, evidence = ?, stats = ?,"
            " error = ? WHERE id = ? AND status = 'running' RETURNING *",
            (
                status,
                time.time(),
                run_id,
                evidence,
                json.dumps(stats) if stats is not None else None,
                error,
                job_id,
            ),
        )

    def requeue(self, job_id: str) -> None:
        """Give a running job back to the queue without counting the attempt (clean shutdown)."""
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET status = 'queued', started_at = NULL, worker_pid = NULL,"
                " attempts = MAX(attempts - 1, 0) WHERE id = ? AND status = 'running'",
                (job_id,),
            )

    def recover(self, max_attempts: int) -> tuple[builtins.list[Job], builtins.list[Job]]:
        """At startup: requeue interrupted ``running`` jobs; fail those interrupted too often.

        Returns (requeued, failed).
        """
        now = time.time()
        with self._write() as db:
            failed = db.execute(
                "UPDATE jobs SET status = 'failed', finished_at = ?, error = ?"
                " WHERE status = 'running' AND attempts >= ? RETURNING *",
                (
                    now,
                    f"interrupted {max_attempts} times (server crashed or restarted "
                    "while it ran); not retried again",
                    max_attempts,
                ),
            ).fetchall()
            requeued = db.execute(
                "UPDATE jobs SET status = 'queued', started_at = NULL, worker_pid = NULL"
                " WHERE status = 'running' RETURNING *"
            ).fetchall()
        return [Job.from_row(r) for r in requeued], [Job.from_row(r) for r in failed]
