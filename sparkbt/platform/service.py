"""One running service: its stores, worker pool, audit log, metrics, auth and actions.

:class:`Service` is what the adapters are given: they authenticate with
``auth`` and act through ``backtests``, ``proposals`` and ``paper`` (the
application's actions), reading ``jobs`` and ``guard`` directly for what they only show.
"""

from __future__ import annotations

import fcntl
from typing import IO

from prometheus_client import CollectorRegistry

from sparkbt.errors import ConfigError, TooMany
from sparkbt.platform.audit import AuditLog
from sparkbt.platform.auth import Auth
from sparkbt.platform.backtest_actions import BacktestActions
from sparkbt.platform.jobs import Job, JobStore, QueueLimits
from sparkbt.platform.metrics import ServiceMetrics
from sparkbt.platform.paper_actions import PaperActions
from sparkbt.platform.proposal_actions import ProposalActions
from sparkbt.platform.proposals import GuardStore
from sparkbt.platform.settings import IMPLS, Settings
from sparkbt.platform.workers import JobPool, make_pool
from sparkbt.research.policy import Policy, default_policy, load_policy

__all__ = ["Service"]


def _lock_database(settings: Settings) -> IO[bytes]:
    """Hold an exclusive lock beside the job database for the life of the service.

    A second service on the same database would requeue the first one's running
    jobs at its start and run every job twice, so it is refused.
    """
    db = settings.db_file
    db.parent.mkdir(parents=True, exist_ok=True)
    fh = open(db.with_name(db.name + ".lock"), "a+b")  # noqa: SIM115 - held until close()
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise ConfigError(f"{db}: another sparkbt service is using this job database") from None
    return fh


class Service:
    """The parts of one running service, shared by the adapters."""

    settings: Settings
    policy: Policy
    jobs: JobStore
    guard: GuardStore
    audit: AuditLog
    metrics: ServiceMetrics
    pool: JobPool
    auth: Auth
    backtests: BacktestActions
    proposals: ProposalActions
    paper: PaperActions

    def __init__(self, settings: Settings, registry: CollectorRegistry) -> None:
        self.settings = settings
        # the policy first: a bad policy file stops the start before anything is opened
        self.policy = (
            load_policy(settings.policy_file) if settings.policy_file else default_policy()
        )
        self._db_lock = _lock_database(settings)
        limits = QueueLimits(settings.max_queue, settings.max_queued_per_user)
        self.jobs = JobStore(settings.db_file, limits, self._refused)
        self.guard = GuardStore(settings.db_file, min_approvals=settings.approvals)
        self.audit = AuditLog(settings.audit_file)
        self.metrics = ServiceMetrics(registry, IMPLS, lambda: self.jobs.counts()["queued"])
        try:  # a Dask pool connects here: an unreachable scheduler stops the start
            self.pool = make_pool(settings, self.jobs, self._finished, self.policy)
        except BaseException:
            self.guard.close()
            self.jobs.close()
            self._db_lock.close()
            raise
        self.auth = Auth(settings.admin_token, settings.db_file, settings.private)
        self.proposals = ProposalActions(
            settings, self.guard, self.jobs, self.pool, self.audit, self.metrics
        )
        self.backtests = BacktestActions(
            settings,
            self.jobs,
            self.pool,
            self.audit,
            self.metrics,
            self.proposals.approved_version,
        )
        self.paper = PaperActions(settings, self.guard, self.proposals, self.audit, registry)

    def recover(self) -> None:
        """At start: requeue interrupted jobs (auditing those that failed for good) and the
        evaluations of proposals that have no job."""
        _requeued, failed = self.jobs.recover(self.settings.max_attempts)
        for job in failed:
            self.audit.job("failed", job, error=job.error)
        self.proposals.requeue_evaluations()

    def close(self) -> None:
        """Close the database and release its lock (after the pool has stopped)."""
        self.auth.close()
        self.guard.close()
        self.jobs.close()
        self._db_lock.close()

    def _refused(self, exc: TooMany) -> None:
        self.metrics.refused.labels(reason=exc.reason).inc()

    def _finished(self, job: Job, duration_ms: float) -> None:
        self.metrics.run_finished(job.status, job.impl, duration_ms)
        self.audit.job(job.status, job, error=job.error, run_id=job.run_id)
        guard = job.request.get("guard")
        if guard:
            self.proposals.evaluated(job, guard, duration_ms)
