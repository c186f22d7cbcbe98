"""The service's users as the application offers them: add, list, revoke.

``sparkbt users`` calls these with the service's database file. Nothing here
imports FastAPI or the rest of the service, so the commands work without the
``service`` extra. Bad input (unknown role or user, bad name) is a ConfigError.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sparkbt.errors import ConfigError
from sparkbt.platform.users import User, UserStore, check_name, check_new_name, check_role

__all__ = ["add_user", "list_users", "revoke_user"]


def add_user(db: Path, name: str, role: str) -> tuple[User, str]:
    """Add an active user; return it with its API key (shown this once only)."""
    check_new_name(name)
    check_role(role)  # before the database is created
    with UserStore(db) as store:
        return store.add(name, role)


def list_users(db: Path) -> list[dict[str, Any]]:
    """Every user (revoked ones too) in the order they were added; never a key.
    A database that does not exist has no users (and is not created)."""
    if not db.exists():
        return []
    with UserStore(db) as store:
        return [u.public() for u in store.list()]


def revoke_user(db: Path, name: str) -> User:
    """Revoke the active user ``name``: its key stops working at once."""
    check_name(name)
    if not db.exists():
        raise ConfigError(f"name: expected the name of an active user (got {name!r}; no {db})")
    with UserStore(db) as store:
        return store.revoke(name)
