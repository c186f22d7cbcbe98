"""Dask executor: same frame as the local run; a dead scheduler is a clear ConfigError."""

from __future__ import annotations

import pandas as pd
import pytest

from sparkbt.errors import ConfigError
from sparkbt.sweep import sweep

distributed = pytest.importorskip("distributed")


def test_dask_local_cluster_gives_identical_results(candles) -> None:
    grid = {"fast": "2:20:3", "slow": [25, 50], "direction": "both", "fees": 0.001}
    local = sweep(candles, "sma_cross", workers=1, **grid)
    cluster_opts = {
        "n_workers": 2,
        "threads_per_worker": 1,
        "processes": False,
        "protocol": "tcp",
        "host": "127.0.0.1",
        "dashboard_address": None,
    }
    with distributed.LocalCluster(**cluster_opts) as cluster, distributed.Client(cluster) as client:
        via_client = sweep(
            candles, "sma_cross", executor="dask", scheduler=client, chunk_size=2, **grid
        )
        via_address = sweep(
            candles,
            "rsi_reversion",
            executor="dask",
            scheduler=cluster.scheduler_address,
            chunk_size=1,
            window=[7, 14],
            lower=[30.0],
            upper=[70.0],
        )
    pd.testing.assert_frame_equal(local, via_client, check_exact=True)
    generic_local = sweep(candles, "rsi_reversion", window=[7, 14], lower=[30.0], upper=[70.0])
    pd.testing.assert_frame_equal(generic_local, via_address, check_exact=True)


def test_unreachable_scheduler_is_a_config_error(candles) -> None:
    with pytest.raises(ConfigError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        sweep(candles, "sma_cross", executor="dask", scheduler="tcp://127.0.0.1:9", fast=[5])
    with pytest.raises(ConfigError, match="needs a scheduler"):
        sweep(candles, "sma_cross", executor="dask", fast=[5])
