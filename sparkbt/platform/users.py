"""Per-user API keys with roles, kept in the service's SQLite job database.

A user has a unique name, one role (``proposer``, ``approver`` or ``admin``)
and one API key. The key is random (``sbk_`` followed by 256 random bits,
URL-safe base64), is returned once by :meth:`UserStore.add` and is never
stored: the ``users`` table keeps only its sha256. :meth:`UserStore.authenticate`
turns a presented key into its :class:`User`, or ``None`` for an unknown or
revoked key.

The table lives beside the ``jobs`` table in the same file
(``Settings.db_file``, by default ``EVIDENCE_DIR/service/jobs.sqlite``), in WAL
mode. Every write is one short transaction, so the service and any number of
``sparkbt users`` processes can use the file at the same time; the database
itself enforces that at most one active (unrevoked) user holds a name.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparkbt.errors import ConfigError, did_you_mean
from sparkbt.platform.db import Store, from_row, iso

__all__ = [
    "ADMIN_TOKEN_USER",
    "KEY_PREFIX",
    "RESERVED_NAMES",
    "ROLES",
    "User",
    "UserStore",
    "check_name",
    "check_new_name",
    "check_role",
    "hash_key",
]

ROLES = ("proposer", "approver", "admin")
ADMIN_TOKEN_USER = "admin-token"
"""The user name the admin token acts under (in audit lines and job records)."""
RESERVED_NAMES = (ADMIN_TOKEN_USER, "admin", "administrator", "root", "system", "sparkbt")
"""Names no user may take (nor any name starting with ``sparkbt``): they would pass for the
admin token or the service itself in the audit log."""
KEY_PREFIX = "sbk_"
_NAME = re.compile(r"[a-z0-9_.-]{1,64}")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('proposer', 'approver', 'admin')),
    key_hash    TEXT NOT NULL UNIQUE,
    created_at  REAL NOT NULL,
    revoked_at  REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS users_active_name ON users (name) WHERE revoked_at IS NULL;
"""


def hash_key(key: str) -> str:
    """The stored form of an API key: the hex sha256 of its UTF-8 bytes.

    A plain, unsalted sha256 is adequate here because the keys are not
    passwords: each carries 256 random bits from :func:`secrets.token_urlsafe`,
    so neither guessing nor precomputed tables can find a key from its hash,
    and slow, salted password hashes (bcrypt, scrypt, argon2) would add nothing
    but cost. Being deterministic, the hash also serves as the lookup index.
    """
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def check_role(role: str) -> str:
    """``role`` if it is one of :data:`ROLES`, else a ConfigError with a did-you-mean hint."""
    if role in ROLES:
        return role
    hint = did_you_mean(str(role).strip().lower(), ROLES)
    raise ConfigError(f"role: expected one of {', '.join(ROLES)} (got {role!r}){hint}")


def check_name(name: str) -> str:
    """``name`` if it is 1-64 characters of ``a-z 0-9 _ . -``, else a ConfigError."""
    if isinstance(name, str) and _NAME.fullmatch(name):
        return name
    raise ConfigError(f"name: expected 1-64 characters of a-z, 0-9, '_', '.' or '-' (got {name!r})")


def check_new_name(name: str) -> str:
    """``name`` if it is valid (:func:`check_name`) and not reserved, else a ConfigError."""
    check_name(name)
    if name in RESERVED_NAMES or name.startswith("sparkbt"):
        raise ConfigError(
            f"name: {name!r} is reserved (reserved: {', '.join(RESERVED_NAMES)}, sparkbt*)"
        )
    return name


@dataclass(frozen=True)
class User:
    """One row of the users table (never the key or its hash)."""

    name: str
    role: str
    created_at: float
    revoked_at: float | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def public(self) -> dict[str, Any]:
        """``name``, ``role`` and the two timestamps as ISO-8601 UTC strings."""
        return {
            "name": self.name,
            "role": self.role,
            "created_at": iso(self.created_at),
            "revoked_at": iso(self.revoked_at),
        }

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> User:
        return from_row(cls, row)


class UserStore(Store):
    """Users and the hashes of their API keys in the ``users`` table of one SQLite file."""

    def __init__(self, db_path: str | Path) -> None:
        super().__init__(db_path, _SCHEMA)

    def add(self, name: str, role: str) -> tuple[User, str]:
        """Create an active user; return it with its API key, which nothing can show again.

        A reserved name (:data:`RESERVED_NAMES`) or one already held by an active
        user is a ConfigError (a revoked user's name may be given to a new user).
        """
        check_new_name(name)
        check_role(role)
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        try:
            with self._lock:
                row = self._db.execute(
                    "INSERT INTO users (name, role, key_hash, created_at) VALUES (?, ?, ?, ?)"
                    " RETURNING name, role, created_at, revoked_at",
                    (name, role, hash_key(key), time.time()),
                ).fetchone()
        except sqlite3.IntegrityError:
            raise ConfigError(
                f"name: expected a name no active user holds "
                f"({name!r} is taken: revoke it or pick another)"
            ) from None
        return User.from_row(row), key

    def get(self, name: str) -> User | None:
        """The active user with this name, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT name, role, created_at, revoked_at FROM users"
                " WHERE name = ? AND revoked_at IS NULL",
                (name,),
            ).fetchone()
        return User.from_row(row) if row is not None else None

    def list(self, include_revoked: bool = True) -> list[User]:
        """Users in the order they were added (revoked ones too unless told otherwise)."""
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        with self._lock:
            rows = self._db.execute(
                f"SELECT name, role, created_at, revoked_at FROM users{where} ORDER BY id"
            ).fetchall()
        return [User.from_row(r) for r in rows]

    def revoke(self, name: str) -> User:
        """Revoke the active user with this name (its key stops authenticating at once)."""
        with self._lock:
            row = self._db.execute(
                "UPDATE users SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL"
                " RETURNING name, role, created_at, revoked_at",
                (time.time(), name),
            ).fetchone()
        if row is None:
            raise ConfigError(f"name: expected the name of an active user (got {name!r})")
        return User.from_row(row)

    def authenticate(self, key: str) -> User | None:
        """The active user holding this API key, or None (unknown, malformed or revoked key)."""
        if not isinstance(key, str) or not key:
            return None
        digest = hash_key(key)
        # The lookup goes by the hash, so its timing depends only on a sha256 an
        # attacker cannot steer; the final comparison is constant-time regardless.
        with self._lock:
            row = self._db.execute(
                "SELECT name, role, created_at, revoked_at, key_hash FROM users WHERE key_hash = ?",
                (digest,),
            ).fetchone()
        if row is None or not hmac.compare_digest(row["key_hash"], digest):
            return None
        if row["revoked_at"] is not None:
            return None
        return User.from_row(row)
