"""Dask executor on a real cluster: same frame as the local run; a dead scheduler is a ConfigError.

The cluster is started the way a user starts one (``dask scheduler`` and
``dask worker --nworkers 2`` as separate processes on 127.0.0.1), and this
process holds no default Dask client while the sweeps run: sparkbt must work
with nothing but the scheduler address.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pandas as pd
import pytest

import sparkbt as sb
from sparkbt.errors import ConfigError
from sparkbt.research.sweep import sweep
from sparkbt.research.sweep_evidence import save_sweep
from tests.dask_cluster import ClusterError, dask_cluster

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def scheduler_address(tmp_path_factory) -> Iterator[str]:
    """``tcp://127.0.0.1:P`` of a scheduler with two registered worker processes."""
    try:
        with dask_cluster(tmp_path_factory.mktemp("dask-cluster"), nworkers=2) as address:
            assert address.startswith("tcp://127.0.0.1:"), address
            yield address
    except ClusterError as exc:
        pytest.fail(str(exc))


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
