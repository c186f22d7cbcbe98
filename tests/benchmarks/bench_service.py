"""Load benchmark of the backtest service (a script, not collected by pytest).

Starts the real server (``python -m sparkbt.adapters.cli.app serve``) on a free loopback
port with engine workers, makes every worker busy with engine jobs, then
sends N start requests (default 1,000) at concurrency C (default 20) with
async httpx clients. Prints the p50/p95/p99 enqueue latency measured by the
client and from the server's ``bt_enqueue_latency_ms`` histogram, and the rate
at which the workers completed engine jobs. Exits 1 if the client-side p95
is not under the SLO (100 ms).

The C connections are split over ``--client-procs`` processes (default 2, each
an asyncio loop with one ``httpx.AsyncClient``): one Python process driving 20
connections saturates its own core at a few hundred requests per second and
then mostly measures its own queueing (responses waiting in its socket buffers
for its event loop). ``--client-procs 1`` shows that figure.

    /work/venv/bin/python tests/benchmarks/bench_service.py [--requests 1000]
        [--concurrency 20] [--workers N] [--impl engine]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import benchlib
import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

TOKEN = "bench-service-token-0123456789abcdef"
SLO_P95_MS = 100.0


def start_server(root: Path, workers: int, impl: str) -> tuple[subprocess.Popen[bytes], str]:
    env = dict(os.environ, SPARKBT_ADMIN_TOKEN=TOKEN, BACKTEST_IMPL=impl)
    args = [
        *("--workers", str(workers)),
        *("--evidence-dir", str(root / "evidence"), "--data-dir", str(root / "data")),
        # the burst measures enqueueing, not the queue's limits
        *("--max-queue", "1000000", "--max-queued-per-user", "1000000"),
    ]
    return benchlib.start_server(root, env, args, lambda h: h["ready"] == h["workers"] == workers)


def histogram(url: str, name: str) -> list[tuple[float, float]]:
    """Cumulative (upper bound, count) buckets of one unlabelled histogram."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    for fam in text_string_to_metric_families(text):
        if fam.name == name:
            return [
                (float(s.labels["le"]), s.value) for s in fam.samples if s.name.endswith("_bucket")
            ]
    raise SystemExit(f"{name} not exported")


def bucket_quantile(q: float, before: list, after: list) -> float:
    """histogram_quantile() over the buckets added between two scrapes."""
    buckets = [(le, a - b) for (le, a), (_, b) in zip(after, before, strict=True)]
    total = buckets[-1][1]
    rank, prev_le, prev_n = q * total, 0.0, 0.0
    for le, n in buckets:
        if n >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * ((rank - prev_n) / max(n - prev_n, 1e-12))
        prev_le, prev_n = le, n
    return prev_le


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]


async def _burst(url: str, indices: range, concurrency: int) -> tuple[list[float], int]:
    """POST one start request per index, ``concurrency`` in flight; latencies (ms), failures."""
    latencies: list[float] = []
    failures = 0
    todo = iter(indices)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"x-admin-token": TOKEN, "content-type": "application/json"}
    async with httpx.AsyncClient(
        base_url=url, limits=limits, timeout=30, trust_env=False
    ) as client:

        async def one_worker() -> None:
            nonlocal failures
            for i in todo:
                body = json.dumps(
                    {"params": {"fast": 2 + i % 20, "slow": 30 + i // 20}, "notes": f"bench {i}"}
                )
                t0 = time.perf_counter()
                resp = await client.post("/api/backtest/start", content=body, headers=headers)
                latencies.append((time.perf_counter() - t0) * 1000.0)
                failures += resp.status_code != 201

        await asyncio.gather(*(one_worker() for _ in range(concurrency)))
    return latencies, failures


def _client_proc(args: tuple[str, range, int]) -> tuple[list[float], int, float]:
    t0 = time.process_time()
    lat, failures = asyncio.run(_burst(*args))
    return lat, failures, time.process_time() - t0


def burst(
    url: str, n: int, concurrency: int, procs: int, offset: int = 0
) -> tuple[list[float], int, float]:
    """n requests at total concurrency ``concurrency`` from ``procs`` client processes.

    Returns latencies (ms), failures and the CPU seconds the clients used.
    """
    if procs <= 1:
        return _client_proc((url, range(offset, offset + n), concurrency))
    shares = [
        (url, range(offset + k, offset + n, procs), concurrency // procs) for k in range(procs)
    ]
    with mp.get_context("spawn").Pool(procs) as pool:
        parts = pool.map(_client_proc, shares)
    return ([x for p in parts for x in p[0]], sum(p[1] for p in parts), sum(p[2] for p in parts))


def ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--impl", choices=("engine", "mock"), default="engine")
    ap.add_argument("--drain-timeout", type=float, default=600.0)
    ap.add_argument(
        "--client-procs",
        type=int,
        default=2,
        help="split the 20 connections over this many client processes (see above)",
    )
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="sparkbt-bench-") as tmp:
        root = Path(tmp)
        proc, url = start_server(root, args.workers, args.impl)
        try:
            # Make every worker busy before measuring: a backlog of engine jobs
            # (different ids from the measured ones), sent as fast as possible.
            warm = 100 * args.workers
            _, warm_failures, _ = burst(url, warm, args.concurrency, 1, offset=10_000)
            assert warm_failures == 0, "warm-up start requests failed"
            settle = time.monotonic() + 15
            while (
                httpx.get(f"{url}/healthz").json()["busy"] < args.workers
                and time.monotonic() < settle
            ):
                time.sleep(0.01)
            busy_before = httpx.get(f"{url}/healthz").json()["busy"]
            before = histogram(url, "bt_enqueue_latency_ms")
            server = psutil.Process(proc.pid)
            cpu0 = sum(server.cpu_times()[:2])
            t0 = time.perf_counter()
            lat, failures, client_cpu = burst(
                url, args.requests, args.concurrency, args.client_procs
            )
            wall = time.perf_counter() - t0
            cpu = {"server": sum(server.cpu_times()[:2]) - cpu0, "client": client_cpu}
            health = httpx.get(f"{url}/healthz").json()
            after = histogram(url, "bt_enqueue_latency_ms")

            total = args.requests + warm
            deadline = time.monotonic() + args.drain_timeout
            while time.monotonic() < deadline:
                counts = httpx.get(f"{url}/healthz").json()
                if counts["queued"] == 0 and counts["running"] == 0:
                    break
                time.sleep(0.5)
            jobs = httpx.get(f"{url}/api/backtest", params={"limit": 10_000}).json()["jobs"]
            finished = [j for j in jobs if j["status"] in ("done", "failed")]
            done = sum(j["status"] == "done" for j in finished)
            span = (
                (
                    max(ts(j["finished_at"]) for j in finished)
                    - min(ts(j["started_at"]) for j in finished)
                )
                if finished
                else float("nan")
            )
        finally:
            benchlib.stop_server(proc)

    p95 = pct(lat, 0.95)
    print(
        f"service bench: impl={args.impl} workers={args.workers} "
        f"requests={args.requests} concurrency={args.concurrency} "
        f"client processes={args.client_procs}"
    )
    print(
        f"  workers busy when the burst started: {busy_before}/{args.workers}; "
        f"after it: {health['busy']}/{args.workers}, {health['queued']} queued"
    )
    print(
        f"  burst: {wall:.2f} s, {args.requests / wall:.0f} req/s, non-201: {failures}; "
        f"CPU s used by the server {cpu['server']:.2f}, by the client {cpu['client']:.2f}; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print("  enqueue latency ms    p50      p95      p99      max")
    print(
        f"    client side     {pct(lat, 0.5):7.2f}  {p95:7.2f}  {pct(lat, 0.99):7.2f}  "
        f"{max(lat):7.2f}"
    )
    print(
        f"    bt_enqueue_latency_ms (bucket-interpolated) "
        f"{bucket_quantile(0.5, before, after):7.2f}  {bucket_quantile(0.95, before, after):7.2f}"
        f"  {bucket_quantile(0.99, before, after):7.2f}"
    )
    print(
        f"  jobs: {len(finished)}/{total} finished ({done} done) in {span:.1f} s of worker "
        f"time -> {len(finished) / span:.1f} jobs/s completed"
    )
    verdict = "PASS" if p95 < SLO_P95_MS else "FAIL"
    print(f"  SLO p95 enqueue < {SLO_P95_MS:g} ms: {verdict} ({p95:.2f} ms)")
    return 0 if verdict == "PASS" and failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
