"""Who is calling, and may they: API keys, the admin token and roles.

A request names its caller in one of two ways:

- ``Authorization: Bearer <key>``: a key from ``sparkbt users add``, looked up
  (by its hash) in the ``users`` table of the service database, so a user added
  or revoked while the service runs counts from the next request;
- ``x-admin-token: <token>``: the admin's break-glass token (``SPARKBT_ADMIN_TOKEN``),
  compared in constant time; it acts as role ``admin`` under the name ``admin-token``
  (a reserved name no user may take), but never proposes, approves or rejects.

:meth:`Auth.require` is the one check every route uses: it returns the
:class:`Principal` or raises a :class:`~sparkbt.errors.Refusal`: kind ``unauthorized``
(``unauthorized``) for a missing, unknown or revoked credential, and
:class:`~sparkbt.errors.Forbidden` (``role X may not Y``) for a known caller
whose role is not among those the action allows. With ``roles=None`` the action
is a read: open to anyone (``None`` is returned) unless the service is
private, where any valid caller may read. Neither the key nor the token is ever
returned, logged or stored.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request

from sparkbt.errors import Forbidden, Refusal
from sparkbt.platform.sessions import SessionStore
from sparkbt.platform.users import ADMIN_TOKEN_USER, ROLES, UserStore

__all__ = [
    "ADMIN_TOKEN_USER",
    "READ",
    "ROLES",
    "START_ROLES",
    "Auth",
    "Principal",
]

START_ROLES = ("proposer", "approver", "admin")
"""Roles that may start a backtest."""

READ = None
"""``roles`` for a read: open, or any valid caller on a private service."""


@dataclass(frozen=True)
class Principal:
    """The caller of a request: a user name and its role (never the key).

    ``token`` is true for the admin's break-glass token, which is nobody's own
    key: it may run the service but never takes part in the approval workflow.
    """

    name: str
    role: str
    token: bool = field(default=False, compare=False)

    def may(self, roles: Iterable[str]) -> bool:
        return self.role in roles


class Auth:
    """Identifies callers of one service (its admin token and user table)."""

    def __init__(self, admin_token: str, db_file: str | Path, private: bool = False) -> None:
        self._token = admin_token.encode("utf-8")
        self.users = UserStore(db_file)
        self.sessions = SessionStore(db_file)  # the web UI's sign-ins
        self.private = private

    def close(self) -> None:
        self.sessions.close()
        self.users.close()

    def identify(self, request: Request) -> Principal | None:
        """The caller, None when the request carries no credential; a Refusal (unauthorized)
        when it carries one that is wrong (bad admin token, malformed header, unknown or
        revoked key)."""
        token = request.headers.get("x-admin-token")
        if token is not None:
            if hmac.compare_digest(token.encode("latin-1"), self._token):
                return Principal(ADMIN_TOKEN_USER, "admin", token=True)
            raise _unauthorized()
        header = request.headers.get("authorization")
        if header is None:
            return None
        scheme, _, key = header.strip().partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise _unauthorized()
        user = self.users.authenticate(key)
        if user is None:
            raise _unauthorized()
        return Principal(user.name, user.role)

    def require(
        self, request: Request, roles: Iterable[str] | None, action: str = "do this"
    ) -> Principal | None:
        """The caller allowed to do ``action``, which ``roles`` may do (``READ``: a read).

        Reads on a service that is not private are open: no credential is looked
        at and None is returned.
        """
        if roles is READ and not self.private:
            return None
        principal = self.identify(request)
        if principal is None:
            raise _unauthorized()
        if roles is not READ and not principal.may(roles):
            raise Forbidden(f"role {principal.role} may not {action}", principal=principal)
        request.state.principal = principal
        return principal

    def dependency(
        self, roles: Iterable[str] | None, action: str = "do this"
    ) -> Callable[[Request], Principal | None]:
        """A FastAPI dependency for ``require(request, roles, action)``:
        ``principal = Depends(auth.dependency(("admin",), "approve a proposal"))``."""
        allowed = None if roles is READ else tuple(roles)
        unknown = set(allowed or ()) - set(ROLES)
        if unknown:
            raise ValueError(f"unknown roles {sorted(unknown)}: roles are {', '.join(ROLES)}")

        def _require(request: Request) -> Principal | None:
            return self.require(request, allowed, action)

        return _require


def _unauthorized() -> Refusal:
    return Refusal("unauthorized", "unauthorized")
