"""The backtest HTTP service (``sparkbt serve``): FastAPI app, durable SQLite jobs,
worker processes, Prometheus metrics, audit log and an HTTP client.

Imports are lazy so that ``sparkbt --help`` and the CLI client do not pay for
FastAPI; install the extra with ``pip install sparkbt[service]``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ServiceClient", "ServiceError", "ServiceUnreachable", "Settings", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from sparkbt.adapters.http.app import create_app

        return create_app
    if name == "Settings":
        from sparkbt.platform.settings import Settings

        return Settings
    if name in ("ServiceClient", "ServiceError", "ServiceUnreachable"):
        from sparkbt.adapters.http import client

        return getattr(client, name)
    raise AttributeError(f"module 'sparkbt.adapters.http' has no attribute {name!r}")
