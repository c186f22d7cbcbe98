"""Load benchmark of the bounded queue (a script, not collected by pytest).

Starts the real server (``python -m sparkbt.adapters.cli.app serve``) on a free
loopback port with the default limits (a queue of 1,000, 50 queued jobs per
user) and one mock worker that holds its job for the whole run, fills the queue
from 20 users, then sends N start requests (default 10,000) at concurrency C
(default 20, one asyncio loop with one ``httpx.AsyncClient``) against the full
queue. A separate process polls ``/healthz`` meanwhile. Prints p50/p95 of the
429 answers and of ``/healthz`` during the load, the server's RSS before and
after (psutil), and checks that every answer was a 429 with ``Retry-After`` and
that the queue never grew past its limit. Exits 1 if a check fails. The server
is stopped at the end, and after ``--deadline`` seconds whatever happens.

    python tests/benchmarks/bench_load.py [--requests 10000] [--concurrency 20]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import benchlib
import httpx
import psutil

TOKEN = "bench-load-token-0123456789abcdef"
USERS = 20
MAX_QUEUE = 1000


def start_server(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The service with the default limits and one mock worker that never finishes a job."""
    env = dict(
        os.environ, SPARKBT_ADMIN_TOKEN=TOKEN, BACKTEST_IMPL="mock", SPARKBT_MOCK_SECONDS="3600"
    )
    for name in ("SPARKBT_MAX_QUEUE", "SPARKBT_MAX_QUEUED_PER_USER", "SPARKBT_PRIVATE"):
        env.pop(name, None)
    dirs = ["--evidence-dir", str(root / "evidence"), "--data-dir", str(root / "data")]
    return benchlib.start_server(root, env, ["--workers", "1", *dirs], lambda h: h["ready"] == 1)


def add_users(root: Path) -> list[str]:
    """Keys of USERS proposers, written to the service's database."""
    from sparkbt.platform.users import UserStore

    with UserStore(root / "evidence" / "service" / "jobs.sqlite") as users:
        return [users.add(f"trader{i:02d}", "proposer")[1] for i in range(USERS)]


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


async def burst(
    url: str, keys: list[str], n: int, concurrency: int
) -> tuple[list[float], Counter[int], int]:
    """n starts at the given concurrency: (latencies in ms, status counts, 429s lacking
    a numeric Retry-After)."""
    latencies: list[float] = []
    codes: Counter[int] = Counter()
    missing = 0
    next_i = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def one_worker() -> None:
            nonlocal next_i, missing
            while next_i < n:
                i, next_i = next_i, next_i + 1
                headers = {"authorization": f"Bearer {keys[i % len(keys)]}"}
                body = {"params": {"fast": 5 + i % 20, "slow": 30}, "notes": f"load {i}"}
                t0 = time.perf_counter()
                resp = await client.post("/api/backtest/start", json=body, headers=headers)
                latencies.append((time.perf_counter() - t0) * 1000.0)
                codes[resp.status_code] += 1
                if resp.status_code == 429 and not resp.headers.get("retry-after", "").isdigit():
                    missing += 1

        await asyncio.gather(*(one_worker() for _ in range(concurrency)))
    return latencies, codes, missing


def probe_health(url: str, stop: Any, out: Any) -> None:
    """In its own process: GET /healthz every 20 ms until told to stop."""
    latencies, depths, errors = [], [], 0
    with httpx.Client(base_url=url, timeout=10) as client:
        while not stop.is_set():
            t0 = time.perf_counter()
            try:
                resp = client.get("/healthz")
                latencies.append((time.perf_counter() - t0) * 1000.0)
                depths.append(resp.json()["queued"])
            except httpx.HTTPError:
                errors += 1
            time.sleep(0.02)
    out.put((latencies, depths, errors))


def pct(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


def refused_total(url: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {
        s.labels["reason"]: s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name == "sparkbt_refused_total"
    }


def run(args: argparse.Namespace, root: Path) -> int:
    (root / "data").mkdir(parents=True)
    keys = add_users(root)
    proc, url = start_server(root)
    try:
        rss_before = rss_mb(proc.pid)
        t0 = time.perf_counter()
        _, fill_codes, _ = asyncio.run(burst(url, keys, MAX_QUEUE + 1 + 50, args.concurrency))
        fill_s = time.perf_counter() - t0
        health = httpx.get(f"{url}/healthz", timeout=10).json()

        ctx = mp.get_context("spawn")
        stop, out = ctx.Event(), ctx.Queue()
        prober = ctx.Process(target=probe_health, args=(url, stop, out), daemon=True)
        prober.start()
        time.sleep(1.0)  # the prober's imports, before the load starts
        t0 = time.perf_counter()
        latencies, codes, missing = asyncio.run(burst(url, keys, args.requests, args.concurrency))
        wall = time.perf_counter() - t0
        stop.set()
        h_lat, depths, h_errors = out.get(timeout=30)
        prober.join(10)
        rss_after = rss_mb(proc.pid)
        refused = refused_total(url)
    finally:
        benchlib.stop_server(proc, 15)

    print(f"load bench: {args.requests} starts at concurrency {args.concurrency} on a full queue")
    print(
        f"  fill: {sum(fill_codes.values())} starts in {fill_s:.2f} s -> {dict(fill_codes)}; "
        f"queued {health['queued']}, running {health['running']}"
    )
    print(
        f"  load: {wall:.2f} s, {args.requests / wall:.0f} req/s, answers {dict(codes)}, "
        f"429 without Retry-After: {missing}"
    )
    print(
        f"  429 latency: p50 {pct(latencies, 0.50):.1f} ms, p95 {pct(latencies, 0.95):.1f} ms, "
        f"max {max(latencies):.1f} ms"
    )
    print(
        f"  /healthz during the load ({len(h_lat)} probes, {h_errors} errors): "
        f"p50 {pct(h_lat, 0.50):.1f} ms, p95 {pct(h_lat, 0.95):.1f} ms; "
        f"queue depth seen {min(depths, default=0)}..{max(depths, default=0)}"
    )
    print(f"  server RSS: {rss_before:.0f} MB before, {rss_after:.0f} MB after")
    print(f"  sparkbt_refused_total: {refused}")
    ok = (
        codes == Counter({429: args.requests})
        and missing == 0
        and health["queued"] == MAX_QUEUE
        and max(depths, default=0) <= MAX_QUEUE
        and h_errors == 0
    )
    print("  checks:", "ok" if ok else "FAILED")
    return 0 if ok else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--deadline", type=float, default=300.0, help="Seconds before giving up.")
    args = ap.parse_args()
    # stop by itself: a watchdog ends the whole process group if the run hangs
    os.setpgrp()
    timer = threading.Timer(args.deadline, lambda: os.killpg(0, signal.SIGKILL))
    timer.daemon = True
    timer.start()
    with tempfile.TemporaryDirectory(prefix="sparkbt-load-") as tmp:
        return run(args, Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
