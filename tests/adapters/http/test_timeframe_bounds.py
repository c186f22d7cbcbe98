"""A huge timeframe is a one-line refusal everywhere it is typed, never a 500 or a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sparkbt.data.timeframes import MAX_TIMEFRAME, parse_timeframe
from sparkbt.errors import CandleError

HUGE = "99999999999d"


@pytest.mark.parametrize("text", [HUGE, "3651d", "522w", f"{10**30}s"])
def test_parse_timeframe_bounds_the_period(text: str) -> None:
    with pytest.raises(CandleError, match=r"^timeframe: at most 3650d") as err:
        parse_timeframe(text)
    assert "\n" not in str(err.value)
    assert parse_timeframe("3650d") == MAX_TIMEFRAME
    with pytest.raises(CandleError, match="at most"):
        parse_timeframe(MAX_TIMEFRAME + MAX_TIMEFRAME)


@pytest.fixture
def client(proposer_client: TestClient) -> TestClient:
    return proposer_client


def test_api_start_and_proposal_refuse_a_huge_timeframe(client: TestClient) -> None:
    auth: dict[str, str] = {}  # the proposer's key, set on the client
    start = client.post(
        "/api/backtest/start", json={"strategy": "sma_cross", "timeframe": HUGE}, headers=auth
    )
    assert start.status_code == 422, start.text
    assert "at most 3650d" in str(start.json()["detail"])
    body = {
        "paramset": "eth-huge",
        "strategy": "sma_cross",
        "pair": "ETHUSDT",
        "timeframe": HUGE,
        "params": {"fast": 10, "slow": 30},
    }
    proposal = client.post("/api/guard/proposals", json=body, headers=auth)
    assert proposal.status_code == 422, proposal.text
    assert "at most 3650d" in str(proposal.json()["detail"])


def test_cli_run_refuses_a_huge_timeframe_in_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sparkbt", "run", "--timeframe", HUGE],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.strip() == f"error: timeframe: at most 3650d (about ten years) (got '{HUGE}')"
    )
