"""Every numeric engine option is bounded by its spec: no value can overflow an evaluation."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from sparkbt.adapters.cli.app import app
from sparkbt.data.synthetic import synthetic_candles
from sparkbt.engine.option_spec import MAX_CASH, MAX_WHOLE
from sparkbt.engine.options import Config
from sparkbt.engine.simulate import backtest
from sparkbt.errors import ConfigError


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (
            {"gates": {"cooldown": 1e20}},
            "gate cooldown: expected a whole number in [0, 1000000000]",
        ),
        ({"gates": {"loss_streak": MAX_WHOLE + 1}}, "gate loss_streak"),
        ({"gates": ["cooldown=1e20"]}, "gate cooldown"),
        ({"cash": 1e16}, "cash: must be > 0 and <= 1e+15"),
        ({"cash": float("inf")}, "cash: expected a finite number"),
        ({"year_days": 367}, "year_days: must be in [1, 366]"),
        ({"year_days": 0.5}, "year_days: must be in [1, 366]"),
    ],
)
def test_out_of_bounds_options_are_refused_in_one_line(options: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError) as err:
        Config(**options)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_the_largest_values_still_run() -> None:
    candles = synthetic_candles(n=300, seed=3)
    res = backtest(
        candles,
        "sma_cross",
        cash=MAX_CASH,
        year_days=366,
        gates={"cooldown": MAX_WHOLE, "loss_streak": MAX_WHOLE},
        fast=5,
        slow=20,
    )
    assert res.stats["total_return"] == res.stats["total_return"]  # a number, not NaN


def test_the_cli_refuses_a_huge_cooldown_in_one_line() -> None:
    res = CliRunner().invoke(
        app, ["run", "--strategy", "sma_cross", "--synthetic", "--gate", "cooldown=1e20"]
    )
    assert res.exit_code == 2, res.output
    assert "gate cooldown" in res.output and len(res.output.strip().splitlines()) == 1
