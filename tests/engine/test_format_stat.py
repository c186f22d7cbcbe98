"""format_stat: how reports, tables and reprs print one statistic."""

from __future__ import annotations

import sparkbt.engine.result as result
from sparkbt.engine.result import format_stat


def test_format_stat_is_public_and_the_only_name():
    assert "format_stat" in result.__all__ and not hasattr(result, "_fmt")
    assert format_stat("sharpe", None) == "—"
    assert format_stat("ruined", False) == "no"
    assert format_stat("total_return", 0.1234) == "12.34%"
    assert format_stat("total_trades", 1234) == "1,234"
    assert format_stat("pnl", 1234.5) == "1,234.50"
    assert format_stat("max_drawdown_duration", 90_000) == "1 days 01:00:00"
    assert format_stat("sharpe", 1.23456) == "1.235"
