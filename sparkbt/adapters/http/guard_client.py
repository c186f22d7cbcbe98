"""A client of the service's guardrail routes (used by ``sparkbt guard propose|show|...``).

:class:`GuardClient` is a :class:`~sparkbt.adapters.http.client.ServiceClient` with
the ``/api/guard`` calls; refusals come back as its ``ServiceError`` (HTTP
status and the server's one-line detail), an unreachable service as
``ServiceUnreachable``.
"""

from __future__ import annotations

import time
from typing import Any

from sparkbt.adapters.http.client import ServiceClient, ServiceError

__all__ = ["GuardClient"]


class GuardClient(ServiceClient):
    """Proposals, approvals and param sets of one service.

    A write (a proposal, an approval, a rejection) is recorded under the user of
    the API ``key`` and sends only that: the admin token never takes part in the
    approval workflow, so no write falls back to it.
    """

    def _write(self, path: str, body: dict[str, Any]) -> Any:
        if not self.key:
            raise ServiceError(
                401,
                "no API key: pass --key or set SPARKBT_API_KEY "
                "(the admin token may not propose, approve or reject)",
            )
        return self._call("POST", path, json=body, headers={})

    def propose(self, **body: Any) -> dict[str, Any]:
        """Propose a version of a param set: ``{"id", "status": "evaluating"}``."""
        return dict(self._write("/api/guard/proposals", body))

    def proposal(self, proposal_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/api/guard/proposals/{proposal_id}"))

    def proposals(
        self, status: str | None = None, paramset: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        if paramset:
            params["paramset"] = paramset
        answer = self._call("GET", "/api/guard/proposals", params=params)
        if not isinstance(answer, dict) or not isinstance(answer.get("proposals"), list):
            raise ServiceError(0, f"{self.url}: the proposal list answer has no 'proposals'")
        return list(answer["proposals"])

    def approve(
        self, proposal_id: str, comment: str = "", override_reason: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"comment": comment}
        if override_reason is not None:
            body["override_reason"] = override_reason
        return dict(self._write(f"/api/guard/proposals/{proposal_id}/approve", body))

    def reject(self, proposal_id: str, comment: str = "") -> dict[str, Any]:
        return dict(self._write(f"/api/guard/proposals/{proposal_id}/reject", {"comment": comment}))

    def paramset(self, name: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/api/guard/paramsets/{name}"))

    def settle(self, proposal_id: str, timeout: float = 600.0, poll: float = 0.2) -> dict[str, Any]:
        """Poll a proposal until it is no longer evaluating; ServiceError if ``timeout`` passes
        first or its evaluation job failed."""
        deadline = time.monotonic() + timeout
        while True:
            prop = self.proposal(proposal_id)
            if prop["state"] != "evaluating":
                return prop
            job = prop.get("evaluation") or {}
            if job.get("status") == "failed":
                raise ServiceError(
                    0, f"proposal {proposal_id}: evaluation failed: {job.get('error')}"
                )
            if time.monotonic() > deadline:
                raise ServiceError(
                    0, f"proposal {proposal_id} still evaluating after {timeout:g} s"
                )
            time.sleep(poll)
