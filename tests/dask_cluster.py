"""A real Dask cluster on loopback for tests: ``dask scheduler`` and ``dask worker`` processes.

Started the way a user starts one (separate processes, the scheduler on a free
port written to its scheduler file), each in its own process group so its
worker processes stop with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

STARTUP_SECONDS = 30.0


class ClusterError(RuntimeError):
    """The cluster did not come up (its logs are in the message)."""


def spawn(args: list[str], log: Path, cwd: Path) -> subprocess.Popen:
    """A dask CLI process in its own process group (so its worker processes go with it)."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
        )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


def logs(*paths: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in paths)


@contextlib.contextmanager
def dask_cluster(root: Path, nworkers: int = 2) -> Iterator[str]:
    """``tcp://127.0.0.1:P`` of a scheduler with ``nworkers`` one-thread worker processes."""
    import distributed

    info = root / "scheduler.json"
    sched_log, worker_log = root / "scheduler.log", root / "worker.log"
    procs: list[subprocess.Popen] = []
    try:
        procs.append(
            spawn(
                [
                    "distributed.cli.dask_scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",  # a free port chosen by the OS, written to the scheduler file
                    "--no-dashboard",
                    "--scheduler-file",
                    str(info),
                ],
                sched_log,
                root,
            )
        )
        deadline = time.monotonic() + STARTUP_SECONDS
        while not info.is_file() or not info.read_text().strip():
            if procs[0].poll() is not None or time.monotonic() > deadline:
                raise ClusterError(f"dask scheduler did not start\n{logs(sched_log)}")
            time.sleep(0.1)
        address = json.loads(info.read_text())["address"]
        procs.append(
            spawn(
                [
                    "distributed.cli.dask_worker",
                    address,
                    "--nworkers",
                    str(nworkers),
                    "--nthreads",
                    "1",
                    "--host",
                    "127.0.0.1",
                    "--no-dashboard",
                    "--local-directory",
                    str(root),
                ],
                worker_log,
                root,
            )
        )
        # Wait for the workers through a client that is never the default one.
        with distributed.Client(address, timeout="10s", set_as_default=False) as probe:
            remaining = max(1.0, deadline - time.monotonic())
            try:
                probe.wait_for_workers(nworkers, timeout=remaining)
            except TimeoutError:
                raise ClusterError(
                    f"dask workers did not register\n{logs(sched_log, worker_log)}"
                ) from None
        yield address
    finally:
        for proc in reversed(procs):
            stop(proc)
