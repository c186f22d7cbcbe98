"""Web UI sessions: a random id per sign-in, kept by the browser, stored hashed in SQLite.

Signing in with an API key opens a session: the browser keeps only a random session
id (256 bits), never the key, and the ``sessions`` table (beside ``users`` in the
service database) keeps only the id's sha256, the user it belongs to and the
session's CSRF secret. A session ends at sign-out, when its user is revoked (the
lookup joins the user's row, so ``sparkbt users revoke`` in another process counts
at the next click), after :data:`IDLE_SECONDS` without a request and, at the latest,
:data:`MAX_SECONDS` after sign-in.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from sparkbt.platform.db import Store
from sparkbt.platform.users import hash_key

__all__ = ["IDLE_SECONDS", "MAX_SECONDS", "SessionStore", "SignedIn"]

IDLE_SECONDS = 12 * 3600
"""A session unused this long is over."""
MAX_SECONDS = 7 * 86400
"""No session lives longer than this, however busy."""
_TOUCH_EVERY = 60.0  # seconds between writes of a session's last use

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id_hash     TEXT PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    csrf        TEXT NOT NULL,
    created_at  REAL NOT NULL,
    seen_at     REAL NOT NULL,
    revoked_at  REAL
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id);
"""


@dataclass(frozen=True)
class SignedIn:
    """The user of a live session and the session's CSRF token."""

    name: str
    role: str
    csrf: str


class SessionStore(Store):
    """Sessions in the ``sessions`` table of the service database (``users`` must exist)."""

    def __init__(self, db_path: str | Path) -> None:
        super().__init__(db_path, _SCHEMA)

    def open(self, key: str) -> tuple[str, SignedIn] | None:
        """A new session for the active user holding API ``key``: ``(session id, user)``;
        None for an unknown or revoked key. Ended sessions are pruned here."""
        session_id, csrf, now = secrets.token_urlsafe(32), secrets.token_hex(32), time.time()
        with self._lock:
            self._db.execute(
                "DELETE FROM sessions WHERE revoked_at IS NOT NULL OR created_at < ?"
                " OR seen_at < ?",
                (now - MAX_SECONDS, now - IDLE_SECONDS),
            )
            row = self._db.execute(
                "INSERT INTO sessions (id_hash, user_id, csrf, created_at, seen_at)"
                " SELECT ?, id, ?, ?, ? FROM users WHERE key_hash = ? AND revoked_at IS NULL"
                " RETURNING user_id",
                (hash_key(session_id), csrf, now, now, hash_key(key)),
            ).fetchone()
        if row is None:
            return None
        found = self.get(session_id)
        return None if found is None else (session_id, found)

    def get(self, session_id: str) -> SignedIn | None:
        """The live session with this id, None when it is unknown, ended or its user revoked."""
        if not session_id:
            return None
        now = time.time()
        with self._lock:
            row = self._db.execute(
                "SELECT u.name, u.role, s.csrf, s.seen_at FROM sessions s"
                " JOIN users u ON u.id = s.user_id"
                " WHERE s.id_hash = ? AND s.revoked_at IS NULL AND u.revoked_at IS NULL"
                " AND s.created_at >= ? AND s.seen_at >= ?",
                (hash_key(session_id), now - MAX_SECONDS, now - IDLE_SECONDS),
            ).fetchone()
            if row is not None and now - row["seen_at"] > _TOUCH_EVERY:
                self._db.execute(
                    "UPDATE sessions SET seen_at = ? WHERE id_hash = ?",
                    (now, hash_key(session_id)),
                )
        return None if row is None else SignedIn(row["name"], row["role"], row["csrf"])

    def end(self, session_id: str) -> None:
        """End the session (sign-out); an unknown id is ignored."""
        with self._lock:
            self._db.execute(
                "UPDATE sessions SET revoked_at = ? WHERE id_hash = ? AND revoked_at IS NULL",
                (time.time(), hash_key(session_id)),
            )
