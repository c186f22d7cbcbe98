"""Throughput of the service on a Dask cluster vs on local workers (a script, not collected).

Starts a real Dask cluster on loopback (``dask scheduler`` and ``dask worker
--nworkers 2 --nthreads 1``), then the real ``sparkbt serve`` twice: once with
``--executor dask`` on that cluster, once with ``--workers 2`` local worker
processes. Each runs N engine backtests (default 200, distinct parameters, so
distinct runs); the script prints jobs per second from the first start request
to the last job done, for each. About a minute on two cores.

    python tests/benchmarks/bench_service_dask.py [--jobs 200] [--impl engine]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.adapters.http.conftest import Server, make_server  # noqa: E402
from tests.dask_cluster import dask_cluster  # noqa: E402


def run_jobs(srv: Server, n: int) -> float:
    """Start ``n`` jobs, wait until all are done; jobs per second."""
    t0 = time.perf_counter()
    ids = [
        srv.start_job(params={"fast": 2 + i % 20, "slow": 30 + i // 20}, notes=f"bench {i}")
        for i in range(n)
    ]
    pending = set(ids)
    while pending:
        jobs = httpx.get(f"{srv.url}/api/backtest", params={"limit": n}, timeout=30).json()["jobs"]
        failed = [j for j in jobs if j["status"] == "failed"]
        if failed:
            raise SystemExit(f"a job failed: {failed[0]['error']}")
        pending -= {j["id"] for j in jobs if j["status"] == "done"}
        time.sleep(0.05)
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=200)
    ap.add_argument("--impl", choices=("engine", "mock"), default="engine")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp:
        root = Path(tmp)
        (root / "cluster").mkdir()
        rates: dict[str, float] = {}
        with dask_cluster(root / "cluster", nworkers=2) as address:
            for name, extra, workers in (
                ("dask (2 worker processes)", ("--executor", "dask", "--scheduler", address), 1),
                ("local (2 worker processes)", (), 2),
            ):
                srv = make_server(
                    root / name.split()[0],
                    impl=args.impl,
                    workers=workers,
                    mock_seconds=0.01,
                    extra=extra,
                ).start(timeout=60)
                try:
                    rates[name] = run_jobs(srv, args.jobs)
                finally:
                    srv.stop()
                print(f"{name:28s} {args.jobs} {args.impl} jobs: {rates[name]:7.1f} jobs/s")


if __name__ == "__main__":
    main()
