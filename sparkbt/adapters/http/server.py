"""How ``sparkbt serve`` runs the app: uvicorn with the service's connection limits.

uvicorn closes idle keep-alive connections and caps concurrent connections, but it
has no deadline for a request's headers: a client that sends half a request line
and then nothing holds its connection (and a file descriptor) forever. The HTTP
protocol here is uvicorn's h11 protocol plus that deadline: a connection that has
not sent a complete request head ``header_timeout`` seconds after it opened (or
after its first byte of a later keep-alive request) is closed.

Proxy headers (``X-Forwarded-For``, ``X-Forwarded-Proto``) are honoured only from
the addresses in ``Settings.forwarded_allow_ips``; by default from nobody, so a
client cannot choose the ip the audit log records.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from sparkbt.platform.settings import Settings

__all__ = ["header_timeout_protocol", "run"]


class _HeaderDeadline(H11Protocol):
    """uvicorn's h11 protocol, closing connections slow to send a request's headers."""

    header_timeout = 10.0
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:  # still waiting for a complete request head
            if self._deadline is None:
                self._arm()
        else:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(self.header_timeout, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def header_timeout_protocol(seconds: float) -> type[H11Protocol]:
    """The h11 protocol class with a request-head deadline of ``seconds``."""
    return type("HeaderDeadlineProtocol", (_HeaderDeadline,), {"header_timeout": seconds})


def run(app: Any, settings: Settings, log_level: str) -> None:
    """Serve ``app`` on the settings' host and port until interrupted."""
    import uvicorn

    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        access_log=False,
        http=header_timeout_protocol(settings.header_timeout),
        timeout_keep_alive=settings.keep_alive_timeout,
        limit_concurrency=settings.limit_concurrency,
        h11_max_incomplete_event_size=settings.max_header_bytes,
        proxy_headers=settings.forwarded_allow_ips is not None,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )
