"""Verify jobs: a stored run (or sweep, or walk-forward) re-run by a worker and compared.

``POST /api/runs/{id}/verify`` queues a job whose request is
``{"verify": {"id", "kind"}}``; a worker runs :func:`sparkbt.research.verify.verify`
and the job ends ``done`` with the outcome in its ``stats["verify"]`` (status
verified, differs or cannot_rerun, the first difference, one entry per file),
whatever that outcome is; it fails only when verifying itself failed. The
newest verify job of an id is what the report page shows (:func:`latest`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparkbt.errors import EvidenceNotFound, NotFound

if TYPE_CHECKING:
    from sparkbt.platform.audit import Origin
    from sparkbt.platform.auth import Principal
    from sparkbt.platform.backtest_actions import BacktestActions
    from sparkbt.platform.jobs import Job, JobStore

__all__ = ["latest", "run_verify", "start_verify", "verify_request"]


def verify_request(evidence_dir: str | Path, ref: str) -> dict[str, Any]:
    """The job that verifies stored evidence ``ref`` (id or unique prefix); NotFound if none."""
    from sparkbt.evidence import read_evidence

    if len(ref) > 64 or "/" in ref or ref.startswith("."):
        raise NotFound(f"no stored run with id {ref[:64]!r}")
    try:
        ev = read_evidence(ref, evidence_dir)
    except EvidenceNotFound:
        raise NotFound(f"no stored run, sweep or walk-forward with id {ref!r}") from None
    return {"verify": {"id": ev.id, "kind": ev.kind}, "notes": f"verify {ev.kind} {ev.id}"}


def start_verify(actions: BacktestActions, ref: str, who: Principal, where: Origin) -> Job:
    """Queue a verify job of ``ref`` as a job of ``who`` (same queue and limits), audited."""
    request = verify_request(actions.settings.evidence_dir, ref)
    job = actions.jobs.create(
        request, "engine", where["client_ip"], where["user_agent"], user=who.name
    )
    actions.pool.notify()
    actions.audit.job("start", job, impl=job.impl, notes=request["notes"])
    return job


def run_verify(spec: dict[str, Any], evidence_dir: Path, data_dir: Path | None) -> dict[str, Any]:
    """Run a verify job in a worker: ``{"run_id", "evidence", "stats": {"verify": ...}}``."""
    from sparkbt.research.verify import verify

    result = verify(spec["id"], evidence_dir, data_dir)
    outcome = result.to_dict() | {
        "verified_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    }
    return {
        "run_id": result.id,
        "evidence": str(Path(result.path).resolve()),
        "stats": {"verify": outcome},
    }


def latest(jobs: JobStore, evidence_id: str) -> dict[str, Any] | None:
    """The newest verify job of ``evidence_id`` as a page shows it, or None.

    ``state`` is queued, running, failed (verifying itself failed: ``error``) or
    the outcome's status (verified, differs, cannot_rerun) with ``at`` (when it
    finished), ``message`` and ``first_difference``.
    """
    job = jobs.for_verify(evidence_id)
    if job is None:
        return None
    out: dict[str, Any] = {"job_id": job.id, "state": job.status, "error": job.error}
    outcome = (job.stats or {}).get("verify") if job.status == "done" else None
    if outcome:
        out |= {
            "state": outcome["status"],
            "at": outcome.get("verified_at"),
            "message": outcome.get("message"),
            "reason": outcome.get("reason"),
            "first_difference": outcome.get("first_difference"),
        }
    return out
