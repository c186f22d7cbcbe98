"""Checks and headers every HTTP exchange of the service goes through (an ASGI middleware).

- **Host**: a request whose ``Host`` header is not one of ``Settings.allowed_hosts``
  is answered 400 before the app sees it, so a DNS-rebinding page (a hostile name
  resolving to this service) cannot talk to it, and redirects never name a foreign host.
- **Origin**: a state-changing request (POST, PUT, PATCH, DELETE) from a browser
  must come from this service's own pages: its ``Origin`` (or, lacking one, its
  ``Referer``) must name the host it was sent to, else 403. API clients (an
  ``Authorization`` or ``x-admin-token`` header and no cookie) carry no ambient
  credential and pass; a request with neither header is not a browser's cross-site
  request (browsers send ``Origin`` on every cross-site POST) and is left to the
  CSRF token and the credential checks.
- **Headers** on every response: ``X-Frame-Options: DENY``, a Content-Security-Policy
  (own scripts only, no framing), ``X-Content-Type-Options: nosniff`` and
  ``Referrer-Policy: same-origin``.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable
from typing import Any

__all__ = ["CSP", "SECURITY_HEADERS", "SecurityMiddleware"]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
"""The UI's policy: scripts only from the service's own vendored files; inline style
attributes (heatmap colours) and the chart libraries' styles are allowed."""

_DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "img-src 'self' data: https://fastapi.tiangolo.com; frame-ancestors 'none'"
)
"""The interactive API docs (``/docs``, ``/redoc``) load their viewer from a CDN."""

SECURITY_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _host_of(value: str) -> str:
    """``"Example.com:4010"`` -> ``"example.com"``, ``"[::1]:80"`` -> ``"::1"``."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    return value.rpartition(":")[0] if value.count(":") == 1 else value


def _same_origin(source: str, host: str) -> bool:
    """Whether the URL ``source`` (an Origin or Referer) names ``host`` (a Host header)."""
    try:
        parsed = urllib.parse.urlsplit(source.strip())
    except ValueError:
        return False
    return parsed.scheme in ("http", "https") and parsed.netloc.lower() == host.strip().lower()


class SecurityMiddleware:
    """Wrap an ASGI ``app`` with the checks above; ``allowed_hosts=None`` answers any host."""

    def __init__(self, app: Any, allowed_hosts: Iterable[str] | None) -> None:
        self.app = app
        hosts = None if allowed_hosts is None else {h.lower() for h in allowed_hosts}
        self.allowed = None if hosts is None or "*" in hosts else frozenset(hosts)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        csp = _DOCS_CSP if scope["path"] in ("/docs", "/redoc") else CSP
        extra = [*SECURITY_HEADERS, (b"content-security-policy", csp.encode())]
        refusal = self._refusal(scope["method"], headers, host)
        if refusal is not None:
            status, detail = refusal
            body = json.dumps({"detail": detail}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        *extra,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _refusal(self, method: str, headers: dict[str, str], host: str) -> tuple[int, str] | None:
        if self.allowed is not None and _host_of(host) not in self.allowed:
            return 400, "invalid Host header: this service does not answer that name"
        if method not in _UNSAFE:
            return None
        api_client = "cookie" not in headers and (
            "authorization" in headers or "x-admin-token" in headers
        )
        if api_client:
            return None
        source = headers.get("origin") or headers.get("referer")
        if source is not None and not _same_origin(source, host):
            return 403, "cross-site request refused: send it from this service's own pages"
        return None
