"""The audit log: one JSON object per line for every start, done, failed and rejected event,
and for every guard proposal, evaluation, approval, override and rejection, and every
approval or rejection the service refused (``guard_refused``: 403 or 409, with the
user, the proposal id, the action and the reason), and for every paper session the
service starts, resumes, stops, sees halted or warned of drift, or reconciles
(``paper_*``, with the session id).

Appended with one ``write`` of one line under a lock, from the request loop and
the dispatcher thread alike, so lines never interleave. Each line names the
acting user (``user``: the key's user, ``admin-token`` for the admin token,
null when the request carried no valid credential). Neither API keys nor the
admin token are ever passed in, so they cannot be logged; a rejected request
records the reason and whatever of the body could be parsed.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sparkbt.platform.jobs import Job

__all__ = ["EVENTS", "AuditLog", "Origin", "origin"]


Origin = dict[str, str | None]
"""Where a request came from: ``client_ip`` and ``user_agent`` (see :func:`origin`)."""


def origin(request: Any) -> Origin:
    """Where a request came from, as audit lines record it: ``client_ip`` and ``user_agent``
    (cut to 256 characters)."""
    return {
        "client_ip": request.client.host if request.client else None,
        "user_agent": (request.headers.get("user-agent") or "")[:256] or None,
    }


EVENTS = (
    "start",
    "done",
    "failed",
    "rejected",
    "guard_proposed",
    "guard_evaluated",
    "guard_approved",
    "guard_override",
    "guard_rejected",
    "guard_refused",
    "paper_started",
    "paper_resumed",
    "paper_stopped",
    "paper_halted",
    "paper_warning",
    "paper_reconciled",
)
_FIELDS = ("pair", "timeframe", "strategy", "params")


class AuditLog:
    """Append-only JSON-lines file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def write(
        self,
        event: str,
        *,
        job_id: str | None = None,
        user: str | None = None,
        request: dict[str, Any] | None = None,
        client_ip: str | None = None,
        user_agent: str | None = None,
        **extra: Any,
    ) -> None:
        """Append one event line."""
        if event not in EVENTS:
            raise ValueError(f"audit event must be one of {EVENTS} (got {event!r})")
        req = request or {}
        record: dict[str, Any] = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "event": event,
            "job_id": job_id,
            "user": user,
            **{k: req.get(k) for k in _FIELDS},
            **({"pairs": req["pairs"]} if isinstance(req.get("pairs"), list) else {}),
            "client_ip": client_ip,
            "user_agent": user_agent,
            **extra,
        }
        line = json.dumps(record, default=str, separators=(",", ":")) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)

    def job(self, event: str, job: Job, **extra: Any) -> None:
        """Append an event about a stored job (its user, request, client ip and user agent)."""
        self.write(
            event,
            job_id=job.id,
            user=job.user,
            request=job.request,
            client_ip=job.client_ip,
            user_agent=job.user_agent,
            **extra,
        )
