"""The engine adapter: request checks and runs, without a server."""

from __future__ import annotations

import os
import time

import pytest

from sparkbt.engine.registry import get_strategy
from sparkbt.errors import CandleError, ConfigError, StrategyError
from sparkbt.platform import backtests as engine

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


def _write_strategy(path, params: str, stamp_ns: int) -> None:
    path.write_text(
        "import pandas as pd\n\n\n"
        f"def edited_cross(candles: pd.DataFrame, {params}) -> pd.Series:\n"
        "    return pd.Series(1.0, index=candles.index)\n",
        encoding="utf-8",
    )
    os.utime(path, ns=(stamp_ns, stamp_ns))  # distinct mtimes even on coarse clocks


def test_request_validation_follows_an_edited_strategy_file(tmp_path, monkeypatch) -> None:
    folder = tmp_path / "strategies"
    folder.mkdir()
    monkeypatch.setenv("SPARKBT_STRATEGIES_DIR", str(folder))
    path = folder / "edited_cross.py"
    now = time.time_ns()
    _write_strategy(path, "fast: int = 5", now - 10**9)
    assert engine.check_request("ETHUSDT", "4h", "edited_cross", {"fast": 3}, tmp_path)[3] == {
        "fast": 3
    }
    with pytest.raises(StrategyError, match="unknown parameter 'slow'"):
        engine.check_request("ETHUSDT", "4h", "edited_cross", {"slow": 40}, tmp_path)

    _write_strategy(path, "fast: int = 5, slow: int = 30", now)  # a parameter is added
    assert get_strategy("edited_cross").validate({"slow": 40}) == {"fast": 5, "slow": 40}
    assert engine.check_request("ETHUSDT", "4h", "edited_cross", {"slow": 40}, tmp_path)[3] == {
        "fast": 5,
        "slow": 40,
    }

    _write_strategy(path, "slow: int = 30", now + 10**9)  # and another one removed
    with pytest.raises(StrategyError, match="unknown parameter 'fast'"):
        engine.check_request("ETHUSDT", "4h", "edited_cross", {"fast": 3}, tmp_path)


def test_start_request_checks_shape_only_and_takes_its_types_from_the_engine() -> None:
    from typing import get_type_hints

    from pydantic import ValidationError

    from sparkbt.adapters.http.app import StartRequest
    from sparkbt.engine.options import Config

    hints = get_type_hints(Config)
    for name in ("fees", "slippage", "direction"):
        assert StartRequest.model_fields[name].annotation == hints[name] | None
    # values are the engine's to judge, types and shape the model's
    req = StartRequest.model_validate({"fees": 1.5, "slippage": -1, "direction": "sideways"})
    assert req.engine_options() == {"fees": 1.5, "slippage": -1.0, "direction": "sideways"}
    with pytest.raises(ConfigError, match=r"fees: must be a fraction in \[0, 1\)"):
        engine.check_options(req.engine_options())
    assert StartRequest.model_validate(
        {"options": {"fees": 0.1}, "fees": 0.2}
    ).engine_options() == {"fees": 0.1}
    assert StartRequest.model_validate({}).engine_options() == {}
    for bad in ({"fees": "0.1"}, {"direction": 3}, {"fees": True}, {"fee": 0.1}):
        with pytest.raises(ValidationError):
            StartRequest.model_validate(bad)
