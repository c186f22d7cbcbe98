"""Golden numbers on the packaged sample (always run, no vectorbt needed).

The pinned values in ``tests/golden/sma_cross_sample.json`` are vectorbt 1.2's
``Portfolio.from_signals`` figures on sparkbt's own signals (plain, with a
trailing stop and take-profit, and with next-open fills); they agree with
sparkbt to ~1e-14. ``tests/golden/regenerate.py`` rewrites the file from vectorbt;
``test_golden_file_is_what_vectorbt_says`` re-derives it whenever vectorbt is installed.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sparkbt as sb

GOLDEN = json.loads(
    (Path(__file__).resolve().parents[1] / "golden" / "sma_cross_sample.json").read_text()
)


@pytest.mark.parametrize("case", sorted(GOLDEN))
def test_golden_stats_of_every_case(sample, case):
    opts = GOLDEN[case]["options"]
    res = sb.backtest(sample, "sma_cross", fast=10, slow=30, fees=0.001, **opts)
    for key, want in GOLDEN[case]["vectorbt"].items():
        assert res.stats[key] == pytest.approx(want, rel=1e-9), key


@pytest.mark.skipif(importlib.util.find_spec("vectorbt") is None, reason="needs vectorbt")
def test_golden_file_is_what_vectorbt_says(sample):
    import importlib

    regen = importlib.import_module("tests.golden.regenerate")
    for case, stored in GOLDEN.items():
        res = sb.backtest(sample, "sma_cross", fast=10, slow=30, fees=0.001, **stored["options"])
        fresh = regen.vectorbt_figures(sample, res.targets, stored["options"])
        assert fresh == pytest.approx(stored["vectorbt"], rel=1e-12), case


@pytest.mark.parametrize("direction", ["long", "both"])
def test_the_other_stats_follow_from_their_definitions(sample, direction):
    res = sb.backtest(
        sample, "sma_cross", fast=10, slow=30, fees=0.001, slippage=0.0005, direction=direction
    )
    s = res.stats
    # the rest follow from the definitions, recomputed here independently
    assert s["final_equity"] == pytest.approx(10_000 * (1 + s["total_return"]), rel=1e-12)
    days = (sample.index[-1] - sample.index[0]) / pd.Timedelta(days=1)
    assert s["cagr"] == pytest.approx((1 + s["total_return"]) ** (365.25 / days) - 1, rel=1e-12)
    assert s["calmar"] == pytest.approx(s["cagr"] / s["max_drawdown"], rel=1e-12)
    assert s["exposure"] == pytest.approx(np.mean(res.targets.to_numpy() != 0), rel=1e-12)
    assert s["benchmark_return"] == pytest.approx(
        sample["close"].iloc[-1] / sample["close"].iloc[0] - 1, rel=1e-12
    )
    assert s["closed_trades"] == s["total_trades"] - 1  # the last trade is still open
