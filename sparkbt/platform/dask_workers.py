"""Jobs run on an existing Dask cluster instead of local worker processes.

The service stays the record: as with local workers, one dispatcher thread
claims the oldest queued job from SQLite, runs it (here: submits it to the
scheduler as one task), and records the outcome when the task's future
finishes. At most as many jobs are in flight as the cluster has worker
threads, so a job's timeout counts its run, not a wait in Dask's queue.

Failure handling:

- a Dask worker that dies mid-job: the scheduler runs the task again on another
  worker (Dask's ``allowed-failures``); only when it gives up (``KilledWorker``)
  is the job marked ``failed``;
- a job past ``job_timeout``: its task is cancelled and the job marked ``failed``;
- the service stopped or killed: its running jobs go back to the queue (at stop,
  or by ``JobStore.recover`` at the next start), exactly as with local workers.

Workers import sparkbt and write evidence to the service's evidence folder, so
they need the same sparkbt version and the service's evidence and data folders
(and, for guard evaluations, its database) at the same paths.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sparkbt.errors import ConfigError
from sparkbt.platform.jobs import Job
from sparkbt.platform.workers import Dispatcher, job_error, run_job

if TYPE_CHECKING:
    pass

__all__ = ["DaskPool"]

log = logging.getLogger("sparkbt.adapters.http")

_IDLE_POLL_SECONDS = 1.0
_CLUSTER_POLL_SECONDS = 2.0


def run_task(impl: str, request: dict[str, Any], cfg: dict[str, Any]) -> tuple[str, Any]:
    """The Dask task of one job: ``("done", reply)`` or ``("failed", reason)``.

    A failure of the run is the job's outcome, returned rather than raised, so
    Dask retries only what it should: a task whose worker died.
    """
    try:
        return "done", run_job(impl, request, cfg)
    except Exception as exc:
        return "failed", job_error(exc)


@dataclass
class _Running:
    job: Job
    future: Any  # distributed.Future
    started: float


class DaskPool(Dispatcher):
    """Jobs from the store run as tasks on the Dask scheduler ``settings.scheduler``."""

    def _open(self) -> None:
        from sparkbt.research.executors import dask_client

        # connected here, so an unreachable scheduler stops `sparkbt serve` in one line
        self._client: Any = dask_client(self.settings.scheduler)[0]
        self._running: dict[str, _Running] = {}
        self._workers: dict[str, Any] = {}  # address -> scheduler info of each Dask worker
        self._pids: dict[str, int] = {}  # address -> process id of each Dask worker
        self._polled = 0.0
        self._wake = threading.Event()

    # ---- public
    def start(self) -> None:
        self._poll_cluster(force=True)
        self._thread.start()

    def notify(self) -> None:
        """Wake the dispatcher (a job was queued). Never blocks."""
        self._wake.set()

    def alive(self) -> int:
        return len(self._workers)

    def ready(self) -> int:
        return len(self._workers)

    def busy(self) -> int:
        return len(self._running)

    def pids(self) -> list[int]:
        return sorted(int(pid) for pid in self._pids.values())

    def stop(self, timeout: float = 5.0) -> None:
        """Stop dispatching, cancel running tasks and give their jobs back to the queue."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        for run in list(self._running.values()):
            self.store.requeue(run.job.id)
            with contextlib.suppress(Exception):
                run.future.cancel()
        self._running.clear()
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close(timeout=timeout)
            self._client = None

    # ---- dispatch loop
    def _step(self) -> None:
        self._poll_cluster()
        self._dispatch()
        now = time.monotonic()
        timeout = _IDLE_POLL_SECONDS
        for run in self._running.values():
            timeout = min(timeout, run.started + self.settings.job_timeout - now)
        self._wake.wait(max(0.0, timeout))
        self._wake.clear()
        for run in list(self._running.values()):
            if run.future.done():
                self._receive(run)
            elif time.monotonic() - run.started > self.settings.job_timeout:
                with contextlib.suppress(Exception):
                    run.future.cancel()
                limit = self.settings.job_timeout
                self._record(run, "failed", error=f"timed out after {limit:g} s; task cancelled")

    def _poll_cluster(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._polled < _CLUSTER_POLL_SECONDS:
            return
        self._polled = now
        try:
            workers = dict(self._client.scheduler_info(n_workers=-1)["workers"])
            if set(workers) != set(self._pids):  # workers came or went: ask them their pids
                self._pids = dict(self._client.run(os.getpid, workers=list(workers)))
            self._workers = workers
        except Exception as exc:
            if force:
                raise ConfigError(
                    f"cannot read the Dask cluster at {self.settings.scheduler} "
                    f"({type(exc).__name__})"
                ) from None
            log.warning("cannot read the Dask cluster: %s", exc)

    def _capacity(self) -> int:
        return sum(int(w.get("nthreads") or 1) for w in self._workers.values())

    def _dispatch(self) -> None:
        while not self._stop.is_set() and len(self._running) < self._capacity():
            job = self.store.claim_next(0)
            if job is None:
                return
            future = self._client.submit(
                run_task,
                job.impl,
                job.request,
                self._cfg,
                key=f"sparkbt-job-{job.id}-{uuid.uuid4().hex[:8]}",
                pure=False,
            )
            self._running[job.id] = _Running(job, future, time.monotonic())
            future.add_done_callback(lambda _f: self._wake.set())

    def _receive(self, run: _Running) -> None:
        if run.future.status == "cancelled":
            self._record(run, "failed", error="task cancelled on the Dask cluster")
            return
        try:
            status, payload = run.future.result(timeout=60)  # fetched from its worker
        except Exception as exc:  # e.g. KilledWorker: every worker it ran on died
            first = str(exc).splitlines()[0] if str(exc) else ""
            self._record(run, "failed", error=f"{type(exc).__name__} on Dask: {first}"[:500])
            return
        if status == "done":
            self._record(run, "done", **payload)
        else:
            self._record(run, "failed", error=str(payload))

    def _record(self, run: _Running, status: str, **fields: Any) -> None:
        self._running.pop(run.job.id, None)
        self._finish(run.job.id, run.started, status, **fields)
