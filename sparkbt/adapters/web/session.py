"""Who is using the UI: a server-side session per sign-in, and CSRF tokens for forms.

A user signs in once with their API key (the one ``sparkbt users add`` printed).
The browser then holds only a random session id (see
:mod:`sparkbt.platform.sessions`: stored hashed, ended at sign-out, when the user
is revoked, after 12 hours idle or 7 days at most) in an ``HttpOnly``,
``SameSite=Strict`` cookie; over https the cookie is ``Secure`` and named with
the ``__Host-`` prefix, so no other port or subdomain can set it.

Every form carries a CSRF token. A signed-in user's token is their session's own
secret, so a token planted with a cookie from elsewhere matches no one's session.
Before sign-in the token is an HMAC of a random per-browser cookie under a key
made when the service starts. A post whose token does not match is refused (403)
before anything else is looked at.
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
from sparkbt.platform.sessions import MAX_SECONDS, SignedIn

__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "SESSION_COOKIE",
    "Session",
    "cookie_name",
]

SESSION_COOKIE = "sparkbt_session"
CSRF_COOKIE = "sparkbt_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def cookie_name(base: str, request: Request) -> str:
    """``base`` as this request's cookie name: ``__Host-`` prefixed over https."""
    return f"__Host-{base}" if _secure(request) else base


class Session:
    """Sign-in and CSRF checks for one service (its admin token and user table)."""

    def __init__(self, auth: Auth) -> None:
        self.auth = auth
        self._secret = secrets.token_bytes(32)  # keys the tokens of signed-out forms

    # ---- identity
    def signed_in(self, request: Request) -> SignedIn | None:
        """This request's live session, None when it has none (looked up once per request)."""
        if not hasattr(request.state, "signed_in"):
            session_id = request.cookies.get(cookie_name(SESSION_COOKIE, request), "")
            request.state.signed_in = self.auth.sessions.get(session_id)
        found: SignedIn | None = request.state.signed_in
        return found

    def principal(self, request: Request) -> Principal | None:
        """The signed-in user, None when there is no live session."""
        found = self.signed_in(request)
        return None if found is None else Principal(found.name, found.role)

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

    def sign_in(self, request: Request, response: Response, key: str) -> Principal | None:
        """Open a session for ``key`` and set its cookie; None (nothing set) for a bad key."""
        opened = self.auth.sessions.open(key.strip()) if key.strip() else None
        if opened is None:
            return None
        session_id, who = opened
        response.set_cookie(
            cookie_name(SESSION_COOKIE, request),
            session_id,
            httponly=True,
            samesite="strict",
            path="/",
            max_age=MAX_SECONDS,
            secure=_secure(request),
        )
        return Principal(who.name, who.role)

    def sign_out(self, request: Request, response: Response) -> None:
        """End this browser's session and drop its cookie."""
        name = cookie_name(SESSION_COOKIE, request)
        self.auth.sessions.end(request.cookies.get(name, ""))
        response.delete_cookie(
            name, path="/", httponly=True, samesite="strict", secure=_secure(request)
        )

    # ---- CSRF
    def _token_of(self, nonce: str) -> str:
        return hmac.new(self._secret, nonce.encode("utf-8"), hashlib.sha256).hexdigest()

    def csrf_nonce(self, request: Request) -> str:
        """The browser's CSRF nonce; a new one is kept on the request for :meth:`keep_nonce`."""
        nonce = request.cookies.get(cookie_name(CSRF_COOKIE, request))
        if nonce and len(nonce) == 32 and all(c in "0123456789abcdef" for c in nonce):
            return nonce
        nonce = getattr(request.state, "csrf_nonce", None) or secrets.token_hex(16)
        request.state.csrf_nonce = nonce
        return nonce

    def csrf_token(self, request: Request) -> str:
        """The token this request's forms carry: the session's, or the signed-out nonce's."""
        found = self.signed_in(request)
        return found.csrf if found is not None else self._token_of(self.csrf_nonce(request))

    @staticmethod
    def keep_nonce(request: Request, response: Response) -> None:
        """Set the nonce cookie if this request created one."""
        nonce = getattr(request.state, "csrf_nonce", None)
        name = cookie_name(CSRF_COOKIE, request)
        if nonce and request.cookies.get(name) != nonce:
            response.set_cookie(
                name, nonce, httponly=True, samesite="strict", path="/", secure=_secure(request)
            )

    def check_csrf(self, request: Request, form: dict[str, str]) -> None:
        """A Refusal (forbidden) unless the form (or header) carries this request's token:
        its session's when signed in, else its nonce cookie's."""
        sent = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
        found = self.signed_in(request)
        if found is not None:
            expected = found.csrf
        else:
            nonce = request.cookies.get(cookie_name(CSRF_COOKIE, request)) or ""
            expected = self._token_of(nonce) if nonce else ""
        if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
            raise Forbidden("the form's CSRF token is missing or wrong: reload the page")
