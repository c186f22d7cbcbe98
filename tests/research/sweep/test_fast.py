"""Fast many-parameter paths are bit-identical to the strategies' own functions."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import sparkbt as sb
from sparkbt.engine.registry import builtin_dir
from sparkbt.research.fast_rows import IndicatorCache, fast_path, generic_rows

# built-in strategies whose modules declare a fast path (@sweep_rows), found by asking them
DECLARED = sorted(s.name for s in sb.list_strategies() if fast_path(s) is not None)


def test_the_crossovers_declare_their_fast_paths() -> None:
    assert {"sma_cross", "ema_cross"} <= set(DECLARED)


@pytest.mark.parametrize("name", DECLARED)
def test_fast_rows_equal_signals(candles, name) -> None:
    strat = sb.get_strategy(name)
    rows = fast_path(strat)
    assert rows is not None
    combos = [{"fast": f, "slow": s} for f in (2, 5, 17) for s in (20, 64)]
    cache = IndicatorCache(candles["close"].to_numpy(), max_bytes=0)  # forces evictions
    got = rows(cache, {k: np.array([c[k] for c in combos]) for k in ("fast", "slow")})
    want, _, _ = generic_rows(strat, candles, combos)
    np.testing.assert_array_equal(got, want)


def test_user_override_with_a_builtin_name_uses_the_generic_path(tmp_path) -> None:
    src = tmp_path / "sma_cross.py"
    src.write_text(
        "import pandas as pd\n\ndef sma_cross(candles, fast: int = 1, slow: int = 2):\n"
        "    return pd.Series(1.0, index=candles.index)\n"
    )
    strat = sb.get_strategy(f"{src}:sma_cross")
    assert strat.name == "sma_cross"
    assert fast_path(strat) is None
    assert fast_path(sb.get_strategy("rsi_reversion")) is None


def test_a_copy_of_a_builtin_keeps_its_declaration_but_not_the_fast_path(tmp_path) -> None:
    """Only the built-in file is known to match its rows; an edited copy may not."""
    copy = tmp_path / "ema_cross.py"
    shutil.copy(builtin_dir() / "ema_cross.py", copy)
    strat = sb.get_strategy(f"{copy}:ema_cross")
    assert hasattr(strat.func, "__sparkbt_sweep_rows__")
    assert fast_path(strat) is None
