"""Where chunks run: in this process, in worker processes, or on a Dask cluster.

Every executor returns the chunk results in chunk order, so the assembled
frame is the same whichever ran it. Local workers are forked processes (the
job, candles included, is inherited, not copied through pickles); on
platforms without fork they are spawned and receive the job once. Dask is
imported only when asked for (the ``sparkbt[dask]`` extra).
"""

from __future__ import annotations

import multiprocessing as mp
import warnings
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol

import numpy as np

from sparkbt.errors import ConfigError, require

__all__ = ["ChunkJob", "dask_client", "run_chunks"]

Progress = Callable[[int, int], None]


class ChunkJob(Protocol):
    """A sweep job: stats of combinations ``lo..hi-1`` (a single-symbol or portfolio job)."""

    def run(self, lo: int, hi: int) -> dict[str, np.ndarray]: ...


_JOB: ChunkJob | None = None  # the job of this worker process


def run_chunk(job: ChunkJob, lo: int, hi: int) -> dict[str, np.ndarray]:
    """Stats of the job's combinations ``lo..hi-1`` (what every executor runs)."""
    return job.run(lo, hi)


def _init_worker(job: ChunkJob) -> None:
    global _JOB
    _JOB = job


def _run_in_worker(lo: int, hi: int) -> dict[str, np.ndarray]:
    assert _JOB is not None, "worker not initialised"
    return _JOB.run(lo, hi)


def run_chunks(
    job: ChunkJob,
    chunks: list[tuple[int, int]],
    *,
    executor: str = "local",
    workers: int = 1,
    scheduler: Any = None,
    progress: Progress | None = None,
) -> list[dict[str, np.ndarray]]:
    """Run every chunk; results in chunk order. ``progress(done, total)`` after each chunk."""
    if executor == "dask":
        return _run_dask(job, chunks, scheduler, progress)
    if workers <= 1 or len(chunks) <= 1:
        return _run_serial(job, chunks, progress)
    return _run_processes(job, chunks, workers, progress)


def _report(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)


def _run_serial(
    job: ChunkJob, chunks: list[tuple[int, int]], progress: Progress | None
) -> list[dict[str, np.ndarray]]:
    total = chunks[-1][1] if chunks else 0
    out = []
    for lo, hi in chunks:
        out.append(run_chunk(job, lo, hi))
        _report(progress, hi, total)
    return out


def _collect(
    futures: dict[Any, int],
    n: int,
    total: int,
    sizes: list[int],
    progress: Progress | None,
    wait_any: Callable[[set[Any]], set[Any]],
) -> list[dict[str, np.ndarray]]:
    results: list[dict[str, np.ndarray] | None] = [None] * n
    done_rows = 0
    pending = set(futures)
    while pending:
        finished = wait_any(pending)
        for fut in finished:
            i = futures[fut]
            results[i] = fut.result()
            done_rows += sizes[i]
            _report(progress, done_rows, total)
        pending -= finished
    return results  # type: ignore[return-value]


def _run_processes(
    job: ChunkJob, chunks: list[tuple[int, int]], workers: int, progress: Progress | None
) -> list[dict[str, np.ndarray]]:
    methods = mp.get_all_start_methods()
    ctx = mp.get_context("fork" if "fork" in methods else "spawn")
    sizes = [hi - lo for lo, hi in chunks]
    total = sum(sizes)
    with warnings.catch_warnings():
        # Python >= 3.12 warns about fork in a process with threads; the workers
        # only run numpy on inherited arrays and never touch those threads' locks.
        warnings.filterwarnings("ignore", message=r".*fork\(\).*", category=DeprecationWarning)
        pool = ProcessPoolExecutor(
            max_workers=min(workers, len(chunks)),
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(job,),
        )
        try:
            futures = {pool.submit(_run_in_worker, lo, hi): i for i, (lo, hi) in enumerate(chunks)}

            def wait_any(pending: set[Future]) -> set[Future]:
                return set(wait(pending, return_when=FIRST_COMPLETED).done)

            out = _collect(futures, len(chunks), total, sizes, progress, wait_any)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
    return out


def dask_client(scheduler: Any) -> tuple[Any, bool]:
    """A ``distributed.Client`` for ``scheduler`` (address or client) and whether we own it."""
    distributed = require("distributed", "dask")
    if isinstance(scheduler, distributed.Client):
        return scheduler, False
    if scheduler is None or not str(scheduler).strip():
        raise ConfigError(
            "executor 'dask' needs a scheduler address (e.g. tcp://host:8786) or a "
            "distributed.Client"
        )
    try:
        client = distributed.Client(str(scheduler), timeout="5s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ConfigError(
            f"cannot reach the Dask scheduler at {scheduler} ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'timed out'})"
        ) from None
    return client, True


def _run_dask(
    job: ChunkJob, chunks: list[tuple[int, int]], scheduler: Any, progress: Progress | None
) -> list[dict[str, np.ndarray]]:
    distributed = require("distributed", "dask")
    client, own = dask_client(scheduler)
    sizes = [hi - lo for lo, hi in chunks]
    try:
        remote_job = client.scatter(job, broadcast=True, hash=False)
        futures = {
            client.submit(run_chunk, remote_job, lo, hi, pure=False): i
            for i, (lo, hi) in enumerate(chunks)
        }
        # The client is never made the process default, so the completion
        # iterator is tied to its event loop explicitly.
        done_iter = distributed.as_completed(list(futures), loop=client.loop)

        def wait_any(pending: set[Any]) -> set[Any]:
            return {next(done_iter)}

        return _collect(futures, len(chunks), sum(sizes), sizes, progress, wait_any)
    finally:
        if own:
            client.close()
