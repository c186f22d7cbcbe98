"""Which engine contract made a run: v2 for plain target runs, v3 with any v3 option or orders."""

from __future__ import annotations

import pandas as pd
import pytest

import sparkbt as sb
from sparkbt.engine.options import V3_OPTIONS, Config, contract_version
from sparkbt.platform.sweep_cells import predicted_run_id
from sparkbt.research.sweep import sweep
from sparkbt.version import ENGINE_VERSION, TARGETS_VERSION


def test_the_contract_of_a_config() -> None:
    assert contract_version(Config().to_dict()) == TARGETS_VERSION
    assert contract_version(Config(fees=0.01, sl_stop=0.1).to_dict()) == TARGETS_VERSION
    for name, value in zip(V3_OPTIONS, (0.001, 0.5, 0.01, 10.0, "btcturk"), strict=True):
        assert contract_version(Config(**{name: value}).to_dict()) == ENGINE_VERSION, name
    assert contract_version({}, v3=True) == ENGINE_VERSION


def test_a_target_run_with_a_v3_option_says_v3() -> None:
    frame = sb.sample_candles().iloc[:800]
    plain = sb.backtest(frame, "sma_cross")
    maker = sb.backtest(frame, "sma_cross", maker_fees=0.0005)
    assert plain.report["engine_version"] == "2" and maker.report["engine_version"] == "3"
    assert "engine v3" in maker._repr_html_() and "engine v2" in plain._repr_html_()
    # same numbers (no order pays a maker fee), other contract, other id
    assert maker.stats == plain.stats and maker.run_id != plain.run_id


@pytest.mark.parametrize(
    ("strategy", "grid", "options"),
    [
        ("sma_cross", {"fast": [5, 10], "slow": 30}, {"maker_fees": 0.001}),
        ("sma_cross", {"fast": 5, "slow": 30}, {"maker_fees": [0.0, 0.001]}),
        ("sma_cross", {"fast": [5, 10], "slow": 30}, {}),
        ("breakout_stop", {"lookback": [10, 20]}, {}),
    ],
)
def test_a_sweep_predicts_its_runs_ids(strategy: str, grid: dict, options: dict) -> None:
    frame = sb.sample_candles().iloc[:800]
    rows = sweep(frame, strategy, workers=1, **grid, **options)
    ident = rows.attrs["sweep"]
    params = list(rows.attrs["sweep"]["params"])
    v3 = bool(options) or strategy == "breakout_stop"
    assert ident["engine_version"] == ("3" if v3 else "2")
    assert (ident.get("run_kind") == "orders") == (strategy == "breakout_stop")
    for _, row in rows.iterrows():
        keywords = {**ident["config"], **{p: _py(row[p]) for p in params}}
        run = sb.backtest(frame, strategy, **keywords)
        assert predicted_run_id(ident, row, params) == run.run_id


def _py(value: object) -> object:
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and pd.isna(value) else value
