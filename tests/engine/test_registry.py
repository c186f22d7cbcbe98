"""Strategy registry: schemas from signatures, validation, user strategies."""

from __future__ import annotations

import textwrap

import pandas as pd
import pytest

import sparkbt as sb
from sparkbt.engine.registry import get_strategy, list_strategies

BUILTINS = {
    "sma_cross",
    "ema_cross",
    "rsi_reversion",
    "bollinger",
    "donchian_breakout",
    "buy_and_hold",
}


def test_builtins_and_their_schemas():
    names = {s.name for s in list_strategies()}
    assert BUILTINS <= names
    schema = get_strategy("sma_cross").schema()
    assert schema["params"][0] == {
        "name": "fast",
        "type": "int",
        "default": 10,
        "min": 1,
        "max": 100_000,
        "help": "fast SMA window, bars",
    }
    assert schema["constraints"] == ["fast < slow"]


@pytest.mark.parametrize(
    "params,match",
    [
        ({"fats": 5}, "unknown parameter 'fats'.*did you mean 'fast'"),
        ({"fast": 0}, r"parameter 'fast' must be an int in \[1, 100000\] \(got 0\)"),
        ({"fast": "ten"}, r"parameter 'fast' must be an int .*\(got 'ten'\)"),
        ({"fast": 2.5}, r"parameter 'fast' must be an int"),
        ({"fast": True}, r"parameter 'fast' must be an int"),
        ({"fast": 30, "slow": 10}, r"fast < slow is required \(got fast=30, slow=10\)"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(sb.StrategyError, match=match):
        get_strategy("sma_cross").validate(params)


def test_coercion_from_text():
    assert get_strategy("sma_cross").validate({"fast": "5", "slow": "20"}) == {
        "fast": 5,
        "slow": 20,
    }
    assert get_strategy("bollinger").validate({"k": "1.5"}) == {"window": 20, "k": 1.5}


def test_unknown_strategy_suggests():
    with pytest.raises(sb.StrategyError, match="did you mean 'sma_cross'"):
        get_strategy("sma_crss")


USER = textwrap.dedent('''
    from typing import Annotated
    import numpy as np
    import pandas as pd
    from sparkbt import Param

    def momentum(candles, lookback: Annotated[int, Param(ge=1, help="bars")] = 3) -> pd.Series:
        """Long after a rise over `lookback` bars."""
        c = candles["close"]
        return (c > c.shift(lookback)).astype(float)
''')


def test_user_strategy_by_path_and_by_folder(tmp_path, monkeypatch, sample):
    path = tmp_path / "momentum.py"
    path.write_text(USER)
    strat = get_strategy(f"{path}:momentum")
    assert strat.param_names == ["lookback"]
    res = sb.backtest(sample, f"{path}:momentum", lookback=5)
    assert res.stats["total_trades"] > 0
    folder = tmp_path / "work" / "strategies"
    folder.mkdir(parents=True)
    (folder / "momentum.py").write_text(USER)
    monkeypatch.chdir(tmp_path / "work")
    assert "momentum" in {s.name for s in list_strategies()}
    with pytest.raises(sb.StrategyError, match="no function 'momentun'.*did you mean"):
        get_strategy(f"{path}:momentun")
    with pytest.raises(sb.StrategyError, match="strategy file not found"):
        get_strategy(f"{tmp_path}/nope.py:f")


def test_broken_user_module_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("import does_not_exist\n")
    with pytest.raises(sb.StrategyError, match="broken.py: failed to import"):
        get_strategy(f"{path}:x")


def test_bounds_on_a_text_parameter_are_refused_when_declared(tmp_path):
    path = tmp_path / "modal.py"
    path.write_text(
        textwrap.dedent(
            """
            from typing import Annotated
            import pandas as pd
            from sparkbt.registry import Param

            def modal(candles, mode: Annotated[str, Param(ge=1)] = "a") -> pd.Series:
                return pd.Series(0.0, index=candles.index)
            """
        )
    )
    with pytest.raises(sb.StrategyError, match="'mode' of modal is a str; only int and float"):
        get_strategy(f"{path}:modal")


def test_function_objects_work(sample):
    def flat(candles: pd.DataFrame) -> pd.Series:
        return pd.Series(0.0, index=candles.index)

    assert sb.backtest(sample, flat).stats["total_trades"] == 0


def test_edited_and_new_strategy_files_are_picked_up(tmp_path, monkeypatch):
    import os

    folder = tmp_path / "strategies"
    folder.mkdir()
    monkeypatch.chdir(tmp_path)
    path = folder / "momentum.py"
    path.write_text(USER)
    assert get_strategy("momentum").param_names == ["lookback"]
    path.write_text(USER.replace("lookback", "window"))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert get_strategy("momentum").param_names == ["window"]
    (folder / "other.py").write_text(USER.replace("def momentum", "def other"))
    assert "other" in {s.name for s in list_strategies()}


@pytest.mark.parametrize(
    "spelling", ["smaCross", "SMACross", "sma-cross", "SMA Cross", "sma_cross"]
)
def test_camel_and_kebab_spellings_resolve_to_the_canonical_name(spelling):
    assert sb.get_strategy(spelling).name == "sma_cross"


def test_reports_keep_the_canonical_strategy_name(sample):
    assert sb.backtest(sample, "smaCross", fast=5, slow=20).strategy == "sma_cross"
    with pytest.raises(sb.StrategyError, match="did you mean 'sma_cross'"):
        sb.get_strategy("smaCros")
