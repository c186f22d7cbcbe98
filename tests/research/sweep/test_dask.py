"""Dask executor on a real cluster: same frame as the local run; a dead scheduler is a ConfigError.

The cluster is started the way a user starts one (``dask scheduler`` and
``dask worker --nworkers 2`` as separate processes on 127.0.0.1), and this
process holds no default Dask client while the sweeps run: sparkbt must work
with nothing but the scheduler address.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import sparkbt as sb
from sparkbt.errors import ConfigError
from sparkbt.research.sweep import sweep
from sparkbt.research.sweep_evidence import save_sweep

distributed = pytest.importorskip("distributed")

STARTUP_SECONDS = 30.0


def _spawn(args: list[str], log: Path, cwd: Path) -> subprocess.Popen:
    """A dask CLI process in its own process group (so its worker processes go with it)."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
        )


def _stop(proc: subprocess.Popen) -> None:
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


def _logs(*paths: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in paths)


@pytest.fixture(scope="module")
def scheduler_address(tmp_path_factory) -> Iterator[str]:
    """``tcp://127.0.0.1:P`` of a scheduler with two registered worker processes."""
    root = tmp_path_factory.mktemp("dask-cluster")
    info = root / "scheduler.json"
    sched_log, worker_log = root / "scheduler.log", root / "worker.log"
    procs: list[subprocess.Popen] = []
    try:
        procs.append(
            _spawn(
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
                pytest.fail(f"dask scheduler did not start\n{_logs(sched_log)}")
            time.sleep(0.1)
        address = json.loads(info.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:"), address
        procs.append(
            _spawn(
                [
                    "distributed.cli.dask_worker",
                    address,
                    "--nworkers",
                    "2",
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
        # Wait for both workers through a client that is never the default one,
        # and close it before any sweep runs.
        with distributed.Client(address, timeout="10s", set_as_default=False) as probe:
            remaining = max(1.0, deadline - time.monotonic())
            try:
                probe.wait_for_workers(2, timeout=remaining)
            except TimeoutError:
                pytest.fail(f"dask workers did not register\n{_logs(sched_log, worker_log)}")
        yield address
    finally:
        for proc in reversed(procs):
            _stop(proc)


def _no_default_client() -> None:
    with pytest.raises(ValueError, match="No clients found"):
        distributed.default_client()


@pytest.mark.slow
def test_cli_sweep_on_a_real_cluster_equals_the_local_sweep(scheduler_address, tmp_path) -> None:
    _no_default_client()
    grid = ["--strategy", "sma_cross", "--fast", "5:20:5", "--slow", "20:60:20"]
    ev = tmp_path / "evidence"
    cmd = [sys.executable, "-m", "sparkbt", "sweep", *grid, "--json", "-q"]
    cmd += ["--executor", "dask", "--scheduler", scheduler_address, "--evidence-dir", str(ev)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["combinations"] == 11
    remote = pd.read_parquet(ev / "sweep" / out["id"] / "results.parquet")

    candles = sb.resolve_candles("ETHUSDT", "4h")
    local = sweep(candles, "sma_cross", fast="5:20:5", slow="20:60:20", workers=1)
    local_path = save_sweep(local, tmp_path / "local-evidence")
    assert local_path.name == out["id"]  # the executor is not part of the sweep's identity
    pd.testing.assert_frame_equal(
        pd.read_parquet(local_path / "results.parquet"), remote, check_exact=True
    )


@pytest.mark.slow
def test_sweep_by_scheduler_address_equals_the_local_sweep(scheduler_address, candles) -> None:
    _no_default_client()
    grid = {"fast": "2:20:3", "slow": [25, 50], "direction": "both", "fees": 0.001}
    local = sweep(candles, "sma_cross", workers=1, **grid)
    remote = sweep(
        candles, "sma_cross", executor="dask", scheduler=scheduler_address, chunk_size=2, **grid
    )
    pd.testing.assert_frame_equal(local, remote, check_exact=True)

    generic = {"window": [7, 14], "lower": [30.0], "upper": [70.0]}
    local = sweep(candles, "rsi_reversion", workers=1, **generic)
    remote = sweep(
        candles,
        "rsi_reversion",
        executor="dask",
        scheduler=scheduler_address,
        chunk_size=1,
        **generic,
    )
    pd.testing.assert_frame_equal(local, remote, check_exact=True)


@pytest.mark.slow
def test_sweep_with_a_client_object(scheduler_address, candles) -> None:
    grid = {"fast": [5, 10], "slow": [30, 60]}
    local = sweep(candles, "ema_cross", workers=1, **grid)
    with distributed.Client(scheduler_address, set_as_default=False) as client:
        remote = sweep(
            candles, "ema_cross", executor="dask", scheduler=client, chunk_size=1, **grid
        )
    pd.testing.assert_frame_equal(local, remote, check_exact=True)
    _no_default_client()


def test_unreachable_scheduler_is_a_config_error(candles) -> None:
    with pytest.raises(ConfigError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        sweep(candles, "sma_cross", executor="dask", scheduler="tcp://127.0.0.1:9", fast=[5])
    with pytest.raises(ConfigError, match="needs a scheduler"):
        sweep(candles, "sma_cross", executor="dask", fast=[5])
