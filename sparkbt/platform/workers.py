"""A bounded pool of worker processes fed from the job store by one dispatcher thread.

Why processes and one dispatcher: a backtest is CPU-bound Python/numpy work,
so it must not share the interpreter with the request loop, and a hung or
crashed run must be killable without touching the server. The dispatcher
thread (in the server process) is the only code that moves jobs out of
``queued``: it claims the oldest queued job from SQLite for each idle worker,
sends it down that worker's pipe, and waits on all pipes, all process
sentinels and a wake-up pipe (poked by the start request) at once. When a
worker answers, dies, or passes its deadline, the dispatcher records the
outcome in SQLite and calls ``on_finish`` (metrics, audit). A worker that dies
or times out is killed and replaced, and its job is marked ``failed`` with the
reason; the service keeps running.

Workers run at the lowest CPU priority (``nice 19``) so that, with every core
busy running backtests, the request loop still answers within its latency
budget; idle CPU still goes to the workers.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import re
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sparkbt.errors import SparkbtError
from sparkbt.platform.jobs import Job, JobStore
from sparkbt.platform.settings import Settings

if TYPE_CHECKING:
    from sparkbt.research.policy import Policy

__all__ = ["WORKER_NICE", "Dispatcher", "JobPool", "WorkerPool", "job_error", "make_pool"]

log = logging.getLogger("sparkbt.adapters.http")

WORKER_NICE = 19
_IDLE_POLL_SECONDS = 1.0

OnFinish = Callable[[Job, float], None]


class JobPool(Protocol):
    """Where queued jobs run: local worker processes or a Dask cluster.

    Either way one dispatcher thread in the service claims jobs from SQLite (the
    record), runs them, records each outcome and calls ``on_finish``.
    """

    def start(self) -> None: ...
    def notify(self) -> None: ...
    def stop(self, timeout: float = 5.0) -> None: ...
    def alive(self) -> int: ...
    def ready(self) -> int: ...
    def busy(self) -> int: ...
    def pids(self) -> list[int]: ...


def make_pool(
    settings: Settings, store: JobStore, on_finish: OnFinish, policy: Policy | None = None
) -> JobPool:
    """The pool ``settings.executor`` names (Dask is imported only when asked for)."""
    if settings.executor == "dask":
        from sparkbt.platform.dask_workers import DaskPool

        return DaskPool(settings, store, on_finish, policy)
    return WorkerPool(settings, store, on_finish, policy)


def worker_config(settings: Settings, policy: Policy | None) -> dict[str, Any]:
    """What a worker needs to run any job: impl, folders, database and guard policy."""
    from sparkbt.research.policy import default_policy

    policy = policy or default_policy()
    return {
        "impl": settings.impl,
        "mock_seconds": settings.mock_seconds,
        "evidence_dir": Path(settings.evidence_dir),
        "data_dir": Path(settings.data_dir) if settings.data_dir else None,
        "nice": WORKER_NICE,
        "db_file": Path(settings.db_file),
        "policy": (policy.to_dict(), policy.source),  # for guard evaluations
    }


_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\\/][^\s\\/'\"]+)*[\\/](?=[^\s\\/'\"]+)")


def job_error(exc: BaseException) -> str:
    """A failed job's error as users may read it: the first line of a sparkbt error's
    message (absolute folders dropped, file names kept), the type name of anything else
    (which may carry engine internals, frames or install paths)."""
    name = type(exc).__name__
    if not isinstance(exc, SparkbtError):
        return f"{name}: unexpected error in the engine (see the server log)"
    first = (str(exc).strip().splitlines() or [""])[0]
    line = _PATH.sub("", first)
    if "site-packages" in line or "numba" in line.lower():
        return f"{name}: unexpected error in the engine (see the server log)"
    return f"{name}: {line}"[:500] if line else name


# --------------------------------------------------------------------------- worker process
def _run_guard(guard: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
    """Evaluate a guard proposal: its evidence and gates (``assess``), recorded in the store."""
    from sparkbt.platform.proposals import Conflict, GuardStore
    from sparkbt.research.assess import assess
    from sparkbt.research.paramsets import ParamSetVersion
    from sparkbt.research.policy import policy_from_dict

    gates, source = cfg["policy"]
    policy = policy_from_dict(gates, source)
    proposed = ParamSetVersion.from_dict(guard["proposed"])
    base = ParamSetVersion.from_dict(guard["base"]) if guard.get("base") else None
    t0 = time.perf_counter()
    found = assess(
        proposed,
        base,
        policy=policy,
        data_dir=cfg["data_dir"],
        evidence_dir=cfg["evidence_dir"],
        sweep_id=guard.get("sweep_id"),
    )
    seconds = time.perf_counter() - t0
    evidence = found.to_dict()
    evidence.pop("timing", None)  # the same change evaluated again has the same content
    note = None
    with GuardStore(cfg["db_file"]) as store:
        try:
            state = store.record_evaluation(
                guard["proposal_id"], found.results, found.policy_sha256, evidence
            ).state
        except Conflict as exc:  # rejected or stale while it was being evaluated
            state, note = store.get(guard["proposal_id"]).state, f"not recorded: {exc}"
    run_id = found.runs["proposed"]
    path = Path(cfg["evidence_dir"]) / "backtest" / run_id
    return {
        "run_id": run_id,
        "evidence": str(path.resolve()) if path.is_dir() else None,
        "stats": {
            "guard": {
                "proposal_id": guard["proposal_id"],
                "paramset": proposed.name,
                "decision": found.decision,
                "state": state,
                "recorded": note is None,
                "note": note,
                "policy_sha256": found.policy_sha256,
                "gates": {r.gate: r.result for r in found.results},
                "runs": found.runs,
                "headline": found.headline,
                "seconds": round(seconds, 6),
            }
        },
    }


def run_job(impl: str, request: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
    """Run one job's request; its reply (run id, evidence, stats). Raises what the run raises."""
    if request.get("guard"):  # a guard evaluation always runs the real engine
        return _run_guard(request["guard"], cfg)
    if request.get("sweep_cell"):  # so does a combination of a stored sweep
        from sparkbt.platform.sweep_cells import run_cell

        return run_cell(request["sweep_cell"], cfg["evidence_dir"], cfg["data_dir"])
    if request.get("verify"):  # a stored run re-run and compared: the real engine too
        from sparkbt.platform.verify_jobs import run_verify

        return run_verify(request["verify"], cfg["evidence_dir"], cfg["data_dir"])
    if impl == "mock":
        time.sleep(cfg["mock_seconds"])
        return {"run_id": None, "evidence": None, "stats": None}
    from sparkbt.platform.backtests import run_engine

    return run_engine(request, cfg["evidence_dir"], cfg["data_dir"])


def worker_main(conn: Connection, cfg: dict[str, Any]) -> None:
    """Entry point of a worker process: announce readiness, then run jobs until EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which stops us
    with contextlib.suppress(OSError):
        os.nice(cfg["nice"])
    if cfg["impl"] == "engine":
        from sparkbt.platform.backtests import warm_up

        warm_up()
    try:
        conn.send(("ready", os.getpid()))
        while True:
            msg = conn.recv()
            if msg is None:
                return
            job_id, impl, request = msg
            reply: tuple[str, str, Any]
            try:
                reply = ("done", job_id, run_job(impl, request, cfg))
            except Exception as exc:  # any failure of the run is the job's outcome
                if not isinstance(exc, SparkbtError):
                    traceback.print_exc()  # the full story goes to the server log only
                reply = ("failed", job_id, job_error(exc))
            conn.send(reply)
    except (EOFError, OSError):
        return  # the server went away: nothing left to report to


# --------------------------------------------------------------------------- dispatcher
@dataclass
class _Slot:
    """One worker process and the job it is running, if any."""

    process: Any  # multiprocessing SpawnProcess
    conn: Connection
    ready: bool = False
    job: Job | None = None
    started: float = 0.0

    @property
    def pid(self) -> int:
        return int(self.process.pid or 0)


class Dispatcher:
    """What every pool shares: the job store, ``on_finish``, the workers' config and the
    dispatcher thread, which runs :meth:`_step` until stopped. A pool sets up its own
    state in :meth:`_open`."""

    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        on_finish: OnFinish,
        policy: Policy | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.on_finish = on_finish
        self._cfg = worker_config(settings, policy)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sparkbt-dispatcher", daemon=True)
        self._open()

    def _open(self) -> None:
        """The pool's own state, set up when it is made."""

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._step()
            except Exception:  # keep dispatching whatever one step hit
                log.exception("dispatcher step failed")
                time.sleep(0.5)

    def _step(self) -> None:
        raise NotImplementedError

    def _finish(self, job_id: str, started: float, status: str, **fields: Any) -> None:
        """Record a job's outcome in the store and report it with its duration."""
        duration_ms = (time.monotonic() - started) * 1000.0
        job = self.store.finish(job_id, status, **fields)
        if job is not None:
            self.on_finish(job, duration_ms)


class WorkerPool(Dispatcher):
    """``settings.workers`` worker processes and the dispatcher thread that feeds them."""

    def _open(self) -> None:
        self._ctx = mp.get_context("spawn")
        self._slots: list[_Slot] = []
        self._wake_r, self._wake_w = -1, -1

    # ---- public
    def start(self) -> None:
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        os.set_blocking(self._wake_r, False)
        self._slots = [self._spawn() for _ in range(self.settings.workers)]
        self._thread.start()

    def notify(self) -> None:
        """Wake the dispatcher (a job was queued) if a worker is idle. Never blocks.

        With every worker busy the dispatcher will look at the queue anyway when a
        worker answers, so a burst of starts does not wake it once per request.
        """
        if not any(s.ready and s.job is None for s in self._slots):
            return
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"\0")

    def alive(self) -> int:
        return sum(1 for s in self._slots if s.process.is_alive())

    def ready(self) -> int:
        """Workers that have started up and can take a job."""
        return sum(1 for s in self._slots if s.ready and s.process.is_alive())

    def busy(self) -> int:
        return sum(1 for s in self._slots if s.job is not None)

    def pids(self) -> list[int]:
        return [s.pid for s in self._slots]

    def stop(self, timeout: float = 5.0) -> None:
        """Stop dispatching, give running jobs back to the queue, end the workers.

        Idle workers are asked to exit; busy ones are terminated at once (their job
        is queued again and reruns at the next start; evidence writes are atomic).
        """
        self._stop.set()
        self.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)
        for slot in self._slots:
            if slot.job is not None:  # back to the queue; no point finishing it now
                self.store.requeue(slot.job.id)
                slot.job = None
                slot.process.terminate()
                continue
            with contextlib.suppress(OSError):
                slot.conn.send(None)
        deadline = time.monotonic() + timeout
        for slot in self._slots:
            slot.process.join(max(0.0, deadline - time.monotonic()))
            self._reap(slot)
        self._slots = []
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r, self._wake_w = -1, -1

    # ---- process management
    def _spawn(self) -> _Slot:
        parent, child = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(
            target=worker_main, args=(child, self._cfg), name="sparkbt-worker", daemon=True
        )
        proc.start()
        child.close()
        return _Slot(process=proc, conn=parent)

    @staticmethod
    def _reap(slot: _Slot) -> None:
        if slot.process.is_alive():
            slot.process.kill()
            slot.process.join(5.0)
        slot.conn.close()
        with contextlib.suppress(ValueError):
            slot.process.close()

    def _replace(self, index: int) -> None:
        self._reap(self._slots[index])
        if not self._stop.is_set():
            self._slots[index] = self._spawn()

    # ---- dispatch loop
    def _step(self) -> None:
        self._dispatch()
        now = time.monotonic()
        timeout = _IDLE_POLL_SECONDS
        for slot in self._slots:
            if slot.job is not None:
                timeout = min(timeout, slot.started + self.settings.job_timeout - now)
        waitables: list[Any] = [self._wake_r]
        for slot in self._slots:
            waitables += [slot.conn, slot.process.sentinel]
        ready = wait(waitables, max(0.0, timeout))
        if self._wake_r in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(self._wake_r, 4096)
        for i, slot in enumerate(self._slots):
            if slot.conn in ready:
                self._receive(i)
        limit = self.settings.job_timeout
        for i, slot in enumerate(self._slots):
            if not slot.process.is_alive():
                code = slot.process.exitcode
                self._fail(slot, f"worker process died (exit code {code}) while running the job")
                if not self._stop.is_set():
                    log.warning("worker %s exited with code %s; replacing it", slot.pid, code)
                    if not slot.ready:
                        time.sleep(1.0)  # died while starting: do not respawn in a hot loop
                self._replace(i)
            elif slot.job is not None and time.monotonic() - slot.started > limit:
                slot.process.kill()  # dead before the job is reported failed
                slot.process.join(5.0)
                self._fail(slot, f"timed out after {limit:g} s; worker killed")
                self._replace(i)

    def _dispatch(self) -> None:
        for slot in self._slots:
            if self._stop.is_set():
                return
            if not slot.ready or slot.job is not None or not slot.process.is_alive():
                continue
            job = self.store.claim_next(slot.pid)
            if job is None:
                return
            slot.job, slot.started = job, time.monotonic()
            try:
                slot.conn.send((job.id, job.impl, job.request))
            except OSError:  # died between our check and the send: the job never started
                self.store.requeue(job.id)
                slot.job = None

    def _receive(self, index: int) -> None:
        slot = self._slots[index]
        try:
            msg = slot.conn.recv()
        except (EOFError, OSError):
            return  # the process is gone; the liveness check handles it
        if msg[0] == "ready":
            slot.ready = True
            return
        status, job_id, payload = msg
        if slot.job is None or slot.job.id != job_id:
            log.warning("worker %s answered for unexpected job %s", slot.pid, job_id)
            return
        slot.job = None
        if status == "done":
            self._finish(job_id, slot.started, "done", **payload)
        else:
            self._finish(job_id, slot.started, "failed", error=str(payload))

    def _fail(self, slot: _Slot, reason: str) -> None:
        if slot.job is None:
            return
        job_id, slot.job = slot.job.id, None
        self._finish(job_id, slot.started, "failed", error=reason)
