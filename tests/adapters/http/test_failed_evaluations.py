"""An evaluation that fails ends its proposal as ``failed`` with a readable reason; job
errors never show install paths, frames or engine internals."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sparkbt.adapters.cli.app import app
from sparkbt.errors import CandleError
from sparkbt.platform.proposals import GuardStore
from sparkbt.platform.workers import job_error
from sparkbt.research.paramsets import version_of
from tests.adapters.http.test_guard_api import Guard, add_strategy

CLEAN_ENV = {"SPARKBT_URL": None, "SPARKBT_API_KEY": None, "SPARKBT_ADMIN_TOKEN": None}

BROKEN = '''\
import pandas as pd


def broken(candles: pd.DataFrame, fast: int = 10) -> pd.Series:
    """Fails the way an engine internal does, naming an install path."""
    raise OverflowError(
        "/opt/venv/lib/python3.12/site-packages/numba/core/typing.py: int64 overflow"
    )
'''


def test_job_errors_keep_one_readable_line() -> None:
    err = CandleError("/srv/data/ETHUSDT_4h.csv: row 3: close is negative\nFile x, line 2")
    assert job_error(err) == "CandleError: ETHUSDT_4h.csv: row 3: close is negative"
    internal = OverflowError("/opt/venv/lib/site-packages/numba/np/arrayobj.py: overflow")
    line = job_error(internal)
    assert line.startswith("OverflowError:")
    assert "/" not in line and "site-packages" not in line and "numba" not in line


def test_only_an_evaluating_proposal_fails(tmp_path: Path) -> None:
    with GuardStore(tmp_path / "g.sqlite") as store:
        version = version_of("p", "sma_cross", "ETHUSDT", "4h", {"fast": 5, "slow": 20}, {})
        pid = store.propose(version, None, "alice").id
        failed = store.fail(pid, "evaluation failed:\n  OverflowError")
        assert failed.state == "failed"
        assert failed.history[-1].event == "failed"
        assert failed.history[-1].detail == {"reason": "evaluation failed: OverflowError"}
        assert store.fail(pid, "again").history == failed.history  # already ended
        assert [p.id for p in store.list("failed")] == [pid]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_failed_evaluation_ends_the_proposal(launch: Any) -> None:
    srv = launch("broken", impl="engine")
    g = Guard(srv)
    add_strategy(srv, "broken", BROKEN)
    body = {"paramset": "eth-broken", "strategy": "broken", "pair": "ETHUSDT", "timeframe": "4h"}
    pid = g.submit("alice", body)["id"]
    deadline = time.monotonic() + 60
    while (prop := g.get(f"/proposals/{pid}").json())["state"] == "evaluating":
        assert time.monotonic() < deadline, "the proposal is still evaluating"
        time.sleep(0.1)
    assert prop["state"] == "failed", prop
    error = prop["evaluation"]["error"]
    assert prop["evaluation"]["status"] == "failed"
    assert error.startswith("OverflowError") or "overflow" in error
    for leak in ("/opt", "site-packages", "numba", "Traceback"):
        assert leak not in error, error
    assert prop["history"][-1]["event"] == "failed"
    listed = g.get("/proposals", params={"status": "failed"}).json()["proposals"]
    assert [p["id"] for p in listed] == [pid]
    assert g.approve(pid, "bob").status_code == 409  # nothing left to decide

    res = CliRunner().invoke(app, ["guard", "show", pid, "--url", srv.url], env=CLEAN_ENV)
    assert res.exit_code == 0, res.output
    assert "failed" in res.stdout and "site-packages" not in res.stdout
