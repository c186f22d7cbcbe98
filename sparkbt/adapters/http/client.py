"""A small synchronous client of the backtest service (used by ``sparkbt jobs``).

Errors the server reports come back as :class:`ServiceError` carrying the
HTTP status and the server's one-line ``detail``; a service that cannot be
reached (refused, unknown host, bad URL, or something else answering at that
URL) is a :class:`ServiceUnreachable`, a :class:`ServiceError` with status 0.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from sparkbt.errors import SparkbtError, require

__all__ = ["DEFAULT_URL", "ServiceClient", "ServiceError", "ServiceUnreachable"]

DEFAULT_URL = "http://127.0.0.1:4010"
FINAL_STATUSES = ("done", "failed")


class ServiceError(SparkbtError):
    """The service refused a request (``status`` is its HTTP status, 0 if unreachable)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ServiceUnreachable(ServiceError):
    """No sparkbt service answers at the URL: one line naming it and why."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(0, f"cannot reach the service at {url}: {_one_line(reason)}")
        self.url = url


def _one_line(text: str, limit: int = 300) -> str:
    """Collapse whitespace (HTML pages, tracebacks) so every message is a single line."""
    return " ".join(str(text).split())[:limit]


class ServiceClient:
    """Calls one service at ``url``.

    ``key`` (a ``sparkbt users`` API key) goes with every request as
    ``Authorization: Bearer``, so it also serves a private service's reads; the
    admin ``token`` is sent only with writes, and wins there when both are given.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        token: str | None = None,
        *,
        key: str | None = None,
        timeout: float = 10.0,
        transport: Any = None,
    ) -> None:
        httpx = require("httpx", "service")
        self.url = url.rstrip("/")
        self.token = token
        self.key = key
        self._httpx = httpx
        headers = {"authorization": f"Bearer {key}"} if key else {}
        try:
            self._http = httpx.Client(
                base_url=self.url, timeout=timeout, transport=transport, headers=headers
            )
        except httpx.InvalidURL as exc:
            raise ServiceUnreachable(self.url, f"invalid URL ({exc})") from None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            resp = self._http.request(method, path, **kwargs)
        except (self._httpx.HTTPError, self._httpx.InvalidURL) as exc:
            raise ServiceUnreachable(self.url, str(exc) or type(exc).__name__) from None
        try:
            body = resp.json()
        except ValueError:
            body = None
        if resp.status_code >= 400:
            detail = body.get("detail", resp.text) if isinstance(body, dict) else resp.text
            raise ServiceError(resp.status_code, _one_line(f"HTTP {resp.status_code}: {detail}"))
        if body is None:
            kind = resp.headers.get("content-type", "no content type")
            raise ServiceUnreachable(
                self.url,
                f"HTTP {resp.status_code} answer is not JSON ({kind}): not a sparkbt service?",
            )
        return body

    def start(self, **body: Any) -> dict[str, Any]:
        """Queue a backtest; ``body`` holds pair, timeframe, strategy, params, notes, ..."""
        if not self.token and not self.key:
            raise ServiceError(
                401,
                "no admin token or API key: pass --key or set SPARKBT_API_KEY "
                "(or --token / SPARKBT_ADMIN_TOKEN)",
            )
        headers = {"x-admin-token": self.token} if self.token else {}
        return dict(self._call("POST", "/api/backtest/start", json=body, headers=headers))

    def status(self, job_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/api/backtest/{job_id}"))

    def find(self, ref: str) -> dict[str, Any]:
        """The job whose id is ``ref`` or starts with it, as ``sparkbt show`` resolves run ids.

        ServiceError 404 when no job matches, 409 when several do (with how many).
        """
        ref = ref.strip()
        if not ref or len(ref) > 64:
            raise ServiceError(404, f"no job with id or id prefix {ref[:64]!r}")
        answer = self._call("GET", "/api/backtest", params={"prefix": ref, "limit": 1})
        if not isinstance(answer, dict) or "matching" not in answer:
            return self.status(ref)  # a service without id prefixes: exact ids only
        matching = int(answer["matching"])
        if matching == 0:
            raise ServiceError(404, f"no job with id or id prefix {ref!r}")
        if matching > 1:
            raise ServiceError(
                409, f"job id prefix {ref!r} is ambiguous: {matching} jobs match; give more of it"
            )
        return dict(answer["jobs"][0])

    def list(self, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        answer = self._call("GET", "/api/backtest", params=params)
        if not isinstance(answer, dict) or not isinstance(answer.get("jobs"), list):
            raise ServiceUnreachable(
                self.url, "the job list answer has no 'jobs': not a sparkbt service?"
            )
        return list(answer["jobs"])

    def report(self, job_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/api/backtest/{job_id}/report"))

    def wait(self, job_id: str, timeout: float = 600.0, poll: float = 0.25) -> dict[str, Any]:
        """Poll a job until it is done or failed; ServiceError if ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.status(job_id)
            if job["status"] in FINAL_STATUSES:
                return job
            if time.monotonic() > deadline:
                raise ServiceError(0, f"job {job_id} still {job['status']} after {timeout:g} s")
            time.sleep(poll)
