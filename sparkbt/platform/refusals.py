"""Requests as the application reads them, and refusals as the service answers them.

Every adapter that takes a request body (the HTTP API, the web UI's forms) reads
it with :func:`read_limited` and, for JSON, decodes it with :func:`json_object`
then :func:`validated`; each fault is a :class:`~sparkbt.errors.Refusal`.
:data:`HTTP_STATUS` is the one table from a refusal's kind to the status code the
service answers with (the API as ``{"detail": "<one line>"}``, the UI as its
error page); :func:`status_of` applies it to any error, :func:`headers_of` gives
the headers that go with it (``Retry-After`` on a 429).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sparkbt.errors import REFUSAL_KINDS, InputError, Refusal, TooMany

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = [
    "HTTP_STATUS",
    "headers_of",
    "json_object",
    "read_limited",
    "status_of",
    "validated",
    "validation_message",
]

HTTP_STATUS: dict[str, int] = {
    "invalid": 422,
    "malformed": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "too_large": 413,
    "too_many": 429,
}
"""The HTTP status of each refusal kind."""

assert set(HTTP_STATUS) == set(REFUSAL_KINDS)


def status_of(exc: BaseException) -> int:
    """The HTTP status of an error: its kind's for a Refusal, 422 for other bad input."""
    if isinstance(exc, Refusal):
        return HTTP_STATUS[exc.kind]
    return 422 if isinstance(exc, InputError) else 500


def headers_of(exc: BaseException) -> dict[str, str]:
    """The headers an answer to ``exc`` carries: ``Retry-After`` (seconds) when too_many."""
    if isinstance(exc, Refusal) and exc.kind == "too_many":
        return {"Retry-After": str(getattr(exc, "retry_after", TooMany.retry_after))}
    return {}


class _HasErrors(Protocol):
    def errors(self) -> Any: ...


def validation_message(exc: _HasErrors) -> str:
    """``fees: Input should be greater than or equal to 0 (got -1)``, joined by ``; ``
    (from a pydantic or FastAPI validation error)."""
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        got = f" (got {err['input']!r})" if "input" in err and err["type"] != "missing" else ""
        parts.append(f"{loc or 'body'}: {err['msg']}{got}"[:300])
    return "; ".join(parts)


async def read_limited(declared: str | None, chunks: AsyncIterable[bytes], limit: int) -> bytes:
    """A request body of at most ``limit`` bytes, refused (too_large) before and while reading.

    ``declared`` is the request's Content-Length header (None when absent).
    """
    if declared is not None:
        if not declared.isdigit():
            raise Refusal("Content-Length: expected a number of bytes")
        if int(declared) > limit:
            raise Refusal(f"body too large: {declared} bytes (limit {limit})", "too_large")
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise Refusal(f"body too large: over {limit} bytes (limit {limit})", "too_large")
    return bytes(body)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def json_object(body: bytes) -> dict[str, Any]:
    """A JSON object body (an empty body is ``{}``); NaN and Infinity are refused."""
    try:
        raw = json.loads(body, parse_constant=_reject_constant) if body.strip() else {}
    except (ValueError, RecursionError) as exc:
        raise Refusal(f"malformed JSON body: {exc}"[:300]) from None
    if not isinstance(raw, dict):
        raise Refusal(f"body: expected a JSON object (got {type(raw).__name__})")
    return raw


M = TypeVar("M", bound="BaseModel")


def validated(model: type[M], raw: dict[str, Any]) -> M:
    """``raw`` as the pydantic ``model`` (a Refusal naming the fields at fault otherwise)."""
    from pydantic import ValidationError

    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise Refusal(validation_message(exc), body=raw) from None
