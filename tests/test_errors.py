"""The error tree and the one hint every unknown name gets."""

from __future__ import annotations

import pytest

import sparkbt as sb
from sparkbt.errors import did_you_mean


def test_the_hint_names_the_closest_choice_or_nothing() -> None:
    assert did_you_mean("slwo", ["fast", "slow"]) == "; did you mean 'slow'?"
    assert did_you_mean("zzz", ["fast", "slow"]) == ""
    assert did_you_mean("ETHTRY", ["ETHTRX", "BTCUSD", "ETHTR"], n=2, show=str) == (
        "; did you mean ETHTR, ETHTRX?"  # closest first
    )


@pytest.mark.parametrize(
    ("call", "hint"),
    [
        (lambda: sb.backtest(sb.sample_candles(), "sma_cross", fsat=10), "'fast'"),
        (lambda: sb.backtest(sb.sample_candles(), "sma_crss"), "'sma_cross'"),
        (lambda: sb.Config(fill="next_opne"), "'next_open'"),
        (lambda: sb.Config(gates={"cooldwn": 3}), "'cooldown'"),
    ],
)
def test_every_unknown_name_gets_the_same_hint(call, hint) -> None:
    with pytest.raises(sb.SparkbtError, match=f"; did you mean {hint}\\?$"):
        call()
