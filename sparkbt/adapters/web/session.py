"""Who is using the UI: the API key kept in a cookie, and CSRF tokens for forms.

A user signs in once with their API key (the one ``sparkbt users add`` printed).
The key is kept in an ``HttpOnly``, ``SameSite=Strict`` cookie, so page scripts
cannot read it and other sites cannot send it; every action looks the key up
again, exactly as the API does for a bearer key, so a revoked key stops working
at the next click.

Every form carries a CSRF token: an HMAC of a random per-browser cookie, keyed
by a secret derived from the service's admin token. A post whose token does not
match its cookie is refused (403) before anything else is looked at.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

from fastapi import Request
from fastapi.responses import Response

from sparkbt.errors import Forbidden, Refusal
from sparkbt.platform.auth import Auth, Principal

__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "KEY_COOKIE",
    "Session",
]

KEY_COOKIE = "sparkbt_key"
CSRF_COOKIE = "sparkbt_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class Session:
    """Sign-in and CSRF checks for one service (its admin token and user table)."""

    def __init__(self, auth: Auth, admin_token: str) -> None:
        self.auth = auth
        self._secret = hmac.new(
            admin_token.encode("utf-8"), b"sparkbt-ui-csrf", hashlib.sha256
        ).digest()

    # ---- identity
    def principal(self, request: Request) -> Principal | None:
        """The signed-in user, None when there is no key cookie or it is no longer valid."""
        key = request.cookies.get(KEY_COOKIE)
        if not key:
            return None
        user = self.auth.users.authenticate(key)
        return None if user is None else Principal(user.name, user.role)

    def check_key(self, key: str) -> Principal | None:
        user = self.auth.users.authenticate(key.strip()) if key.strip() else None
        return None if user is None else Principal(user.name, user.role)

    def require(self, request: Request, roles: Iterable[str] | None, action: str) -> Principal:
        """The signed-in user allowed to ``action`` (a Refusal, unauthorized or forbidden,
        otherwise).

        ``roles=None`` asks only that someone is signed in.
        """
        who = self.principal(request)
        if who is None:
            raise Refusal(f"sign in with your API key to {action}", "unauthorized")
        if roles is not None and not who.may(roles):
            raise Forbidden(f"role {who.role} may not {action}", principal=who)
        return who

    def may_read(self, request: Request) -> bool:
        """Reads are open unless the service is private; then a signed-in user may read."""
        return not self.auth.private or self.principal(request) is not None

    @staticmethod
    def sign_in(response: Response, key: str) -> None:
        response.set_cookie(
            KEY_COOKIE, key, httponly=True, samesite="strict", path="/", max_age=30 * 86400
        )

    @staticmethod
    def sign_out(response: Response) -> None:
        response.delete_cookie(KEY_COOKIE, path="/", httponly=True, samesite="strict")

    # ---- CSRF
    def _token_of(self, nonce: str) -> str:
        return hmac.new(self._secret, nonce.encode("utf-8"), hashlib.sha256).hexdigest()

    def csrf_nonce(self, request: Request) -> str:
        """The browser's CSRF nonce; a new one is kept on the request for :meth:`keep_nonce`."""
        nonce = request.cookies.get(CSRF_COOKIE)
        if nonce and len(nonce) == 32 and all(c in "0123456789abcdef" for c in nonce):
            return nonce
        nonce = getattr(request.state, "csrf_nonce", None) or secrets.token_hex(16)
        request.state.csrf_nonce = nonce
        return nonce

    def csrf_token(self, request: Request) -> str:
        return self._token_of(self.csrf_nonce(request))

    @staticmethod
    def keep_nonce(request: Request, response: Response) -> None:
        """Set the nonce cookie if this request created one."""
        nonce = getattr(request.state, "csrf_nonce", None)
        if nonce and request.cookies.get(CSRF_COOKIE) != nonce:
            response.set_cookie(CSRF_COOKIE, nonce, httponly=True, samesite="strict", path="/")

    def check_csrf(self, request: Request, form: dict[str, str]) -> None:
        """A Refusal (forbidden) unless the form (or header) carries the token of this
        browser's nonce."""
        nonce = request.cookies.get(CSRF_COOKIE) or ""
        sent = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
        if not nonce or not hmac.compare_digest(sent.encode(), self._token_of(nonce).encode()):
            raise Forbidden("the form's CSRF token is missing or wrong: reload the page")
