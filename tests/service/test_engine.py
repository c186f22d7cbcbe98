"""The engine adapter: request checks and runs, without a server."""

from __future__ import annotations

import pytest

from sparkbt.errors import CandleError, StrategyError
from sparkbt.service import engine

REQ = {
    "pair": "ETHUSDT",
    "timeframe": "4h",
    "strategy": "sma_cross",
    "params": {"fast": 8, "slow": 34},
    "fees": 0.0,
    "slippage": 0.0,
    "direction": "long",
}


def test_check_request_canonicalises_and_names_the_fault(tmp_path) -> None:
    assert engine.check_request("ethusdt", "240m", "sma_cross", {"fast": 5}, tmp_path) == (
        "ETHUSDT",
        "4h",
        "sma_cross",
        {"fast": 5, "slow": 30},
    )
    with pytest.raises(StrategyError, match="did you mean 'slow'"):
        engine.check_request("ETHUSDT", "4h", "sma_cross", {"slwo": 5}, tmp_path)
    with pytest.raises(CandleError, match="no candles for BTCUSDT 1h"):
        engine.check_request("BTCUSDT", "1h", "sma_cross", {}, tmp_path)


def test_run_engine_saves_evidence_like_sparkbt_run(tmp_path) -> None:
    out = engine.run_engine(REQ, tmp_path / "ev", tmp_path / "data")
    folder = tmp_path / "ev" / "backtest" / out["run_id"]
    assert out["evidence"] == str(folder.resolve())
    assert (folder / "report.json").is_file()
    # the same request again (or concurrently: see tests/test_evidence.py) is the same run
    assert engine.run_engine(REQ, tmp_path / "ev", tmp_path / "data") == out
