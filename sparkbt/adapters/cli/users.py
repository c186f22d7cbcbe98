"""``sparkbt users add|list|revoke``: API keys with roles for the backtest service.

The users live in the service's job database, found exactly as ``sparkbt serve``
finds it: ``--db``, else ``EVIDENCE_DIR/service/jobs.sqlite`` with
``--evidence-dir``, else ``$SPARKBT_EVIDENCE_DIR``, else ``./evidence``. Nothing
here imports FastAPI or the rest of the service, so the commands work without
the ``service`` extra. Bad input (unknown role or user, bad name) raises an
InputError, which the root command prints as one line with exit 2.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

__all__ = ["db_file", "register", "users_app"]

users_app = typer.Typer(
    help="Manage the service's users: API keys with a role (proposer, approver, admin).",
    no_args_is_help=True,
)

_DB = typer.Option(
    None, "--db", help="SQLite job database (default: EVIDENCE_DIR/service/jobs.sqlite)."
)
_EVIDENCE = typer.Option(
    None, "--evidence-dir", help="Evidence folder (default: $SPARKBT_EVIDENCE_DIR or ./evidence)."
)
_JSON = typer.Option(False, "--json", help="Print JSON instead of text.")


def db_file(db: Path | None = None, evidence_dir: Path | None = None) -> Path:
    """The job database ``sparkbt serve`` would open with these ``--db``/``--evidence-dir``."""
    if db is not None:
        return db.resolve()
    # the same default as sparkbt.evidence.default_evidence_dir, without importing pandas
    root = evidence_dir or Path(os.environ.get("SPARKBT_EVIDENCE_DIR") or "evidence")
    return (root / "service" / "jobs.sqlite").resolve()


@users_app.command("add")
def add(
    name: str = typer.Argument(..., help="User name: 1-64 of a-z, 0-9, '_', '.', '-'."),
    role: str = typer.Option(..., "--role", "-r", help="proposer, approver or admin."),
    db: Path | None = _DB,
    evidence_dir: Path | None = _EVIDENCE,
    as_json: bool = _JSON,
) -> None:
    """Add a user and print its API key (shown this once only: store it now)."""
    from sparkbt.platform.user_actions import add_user

    user, key = add_user(db_file(db, evidence_dir), name, role)
    if as_json:
        typer.echo(json.dumps({"name": user.name, "role": user.role, "key": key}))
        return
    typer.echo(
        f"added user {user.name!r} ({user.role}); its API key is shown once, store it now:",
        err=True,
    )
    typer.echo(key)


@users_app.command("list")
def list_(
    db: Path | None = _DB,
    evidence_dir: Path | None = _EVIDENCE,
    as_json: bool = _JSON,
) -> None:
    """List users (revoked ones too) in the order they were added; never their keys."""
    from sparkbt.platform.user_actions import list_users

    path = db_file(db, evidence_dir)
    users = list_users(path)  # listing creates no database
    if as_json:
        typer.echo(json.dumps(users, indent=2))
        return
    if not users:
        typer.echo(f"no users in {path}")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"users: {path}")
    for col in ("name", "role", "created", "revoked"):
        table.add_column(col)
    for u in users:
        style = "dim" if u["revoked_at"] else None
        table.add_row(u["name"], u["role"], u["created_at"], u["revoked_at"] or "—", style=style)
    Console().print(table)


@users_app.command("revoke")
def revoke(
    name: str = typer.Argument(..., help="Name of the active user to revoke."),
    db: Path | None = _DB,
    evidence_dir: Path | None = _EVIDENCE,
) -> None:
    """Revoke a user: its API key stops working at once."""
    from sparkbt.platform.user_actions import revoke_user

    user = revoke_user(db_file(db, evidence_dir), name)
    typer.echo(f"revoked user {user.name!r} ({user.role})")


def register(app: typer.Typer, data_app: typer.Typer) -> None:
    """Add the ``users`` group to the root CLI."""
    del data_app  # users add nothing under `sparkbt data`
    app.add_typer(users_app, name="users")
