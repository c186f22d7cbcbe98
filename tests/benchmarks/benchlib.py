"""What the benchmarks share: a free port, timing a call, vectorbt's statistics, starting and
stopping the service.

The benchmarks run as scripts (``python tests/benchmarks/bench_load.py``), so they
import this module by its bare name.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np
import psutil

T = TypeVar("T")


def tree_rss(pid: int) -> int:
    """Summed RSS in bytes of process ``pid`` and all its children (0 once it has exited)."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def best_of(fn: Callable[[], T], repeat: int) -> tuple[float, float, float, T]:
    """Seconds of the fastest, median and slowest of ``repeat`` calls, and the last result."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), float(np.median(times)), max(times), out


def import_vectorbt() -> Any:
    """The vectorbt module, or None (saying so) when it is not installed."""
    try:
        import vectorbt
    except ImportError:
        print("vectorbt not installed: no ratio")
        return None
    return vectorbt


def vectorbt_stats(pf: Any) -> dict[str, float]:
    """The statistics compared with sparkbt's, read off a vectorbt portfolio."""
    closed = pf.trades.closed
    return {
        "total_return": pf.total_return(),
        "sharpe": pf.sharpe_ratio(),
        "sortino": pf.sortino_ratio(),
        "max_drawdown": pf.max_drawdown(),
        "trades": pf.trades.count(),
        "win_rate": closed.win_rate(),
        "profit_factor": closed.profit_factor(),
        "expectancy": closed.expectancy(),
        "fees": pf.orders.fees.sum(),
    }


def start_server(
    root: Path,
    env: dict[str, str],
    args: Sequence[str],
    ready: Callable[[dict[str, Any]], bool],
) -> tuple[subprocess.Popen[bytes], str]:
    """``sparkbt serve`` on a free port with ``args`` in ``root`` (log: ``server.log``), once
    its ``/healthz`` answer satisfies ``ready`` (at most 60 s); the process and its URL."""
    port = free_port()
    log = open(root / "server.log", "ab")  # noqa: SIM115 - the server owns it until it exits
    proc = subprocess.Popen(
        [sys.executable, "-m", "sparkbt.adapters.cli.app", "serve", "--port", str(port), *args],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited:\n{(root / 'server.log').read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            if ready(httpx.get(f"{url}/healthz", timeout=1.0).json()):
                return proc, url
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("server not ready in 60 s")


def stop_server(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGTERM the server and wait for it (killed after ``timeout`` seconds), then kill any
    worker process it left behind."""
    children = []
    with contextlib.suppress(psutil.NoSuchProcess):
        children = psutil.Process(proc.pid).children(recursive=True)
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
