"""Refusals of the service's routes: an HTTP status with a one-line reason.

:class:`Rejected` is raised by request handling and answered as
``{"detail": "<one line>"}``; :func:`validation_message` turns a pydantic
validation error into that line.
"""

from __future__ import annotations

from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

__all__ = ["Rejected", "validation_message"]


class Rejected(Exception):
    """A start request refused with an HTTP status and a one-line reason."""

    def __init__(self, status: int, detail: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.body = status, detail, body


def validation_message(exc: ValidationError | RequestValidationError) -> str:
    """``fees: Input should be greater than or equal to 0 (got -1)``, joined by ``; ``."""
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        got = f" (got {err['input']!r})" if "input" in err and err["type"] != "missing" else ""
        parts.append(f"{loc or 'body'}: {err['msg']}{got}"[:300])
    return "; ".join(parts)
