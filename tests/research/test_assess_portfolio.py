"""assess() of a param set naming several symbols: every check runs on the portfolio."""

from __future__ import annotations

import math

import numpy as np
import pytest

import sparkbt as sb
from sparkbt.engine.registry import get_strategy
from sparkbt.errors import ConfigError
from sparkbt.research.assess import HEADLINE, assess
from sparkbt.research.assess_data import load_market
from sparkbt.research.paramsets import version_of
from sparkbt.research.policy import default_policy, loads_policy
from sparkbt.research.portfolio_walkforward import panel_window
from sparkbt.research.stored_evidence import run_returns
from sparkbt.research.sweep_evidence import save_sweep
from sparkbt.research.trials import sweep_returns, trials_from_sweep
from tests.research.policies import LENIENT

SYMBOLS = ["ETHUSDT", "BTCUSDT", "SOLUSDT", "AVAXUSDT"]
PARAMS = {"lookback": 30, "k": 2}
OPTIONS = {"fees": 0.001}


def rotation(**params):
    return version_of("rot-4h", "momentum_rotation", SYMBOLS, "4h", {**PARAMS, **params}, OPTIONS)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The samples' panel, a small stored sweep of the rotation, and the assessment."""
    ev = tmp_path_factory.mktemp("ev")
    panel = sb.load_panel(SYMBOLS, timeframe="4h")
    sweep = sb.sweep(panel, "momentum_rotation", lookback=[20, 30], k=[1, 2], **OPTIONS, workers=1)
    sid = save_sweep(sweep, ev, plot=False).name
    base = version_of("rot-4h", "equal_weight", SYMBOLS, "4h", {}, OPTIONS)
    found = assess(
        rotation(),
        base,
        policy=loads_policy(LENIENT),
        evidence_dir=ev,
        sweep_id=sid,
        folds=3,
        lookahead_samples=4,
        pbo_combos=4,
        pbo_splits=4,
    )
    return {"ev": ev, "panel": panel, "sid": sid, "a": found}


def test_every_check_has_a_result(world):
    a = world["a"]
    by = {r.gate: r for r in a.results}
    assert set(by) == {
        "max_drawdown",
        "min_trades",
        "min_oos_sharpe",
        "max_oos_degradation",
        "min_dsr",
        "max_pbo",
        "lookahead",
        "max_param_change",
    }
    skipped = {g for g, r in by.items() if r.result == "skip"}
    assert skipped <= {"max_oos_degradation"}  # skips only for a negative in-sample Sharpe
    assert a.evidence.reasons == {}
    assert a.lookahead.passed and len(a.lookahead.bars_checked) == 4
    assert 0.0 <= a.pbo["pbo"] <= 1.0 and a.pbo["combinations"] == 4
    assert math.isfinite(a.dsr["dsr"]) and a.dsr["n_trials"] == 4
    assert a.dsr["trials_from"] == f"sweep {world['sid']}"
    assert a.walk_forward_id is not None and len(a.walk_forward["folds"]) == 3
    assert [row["param"] for row in a.neighbourhood] == ["lookback", "lookback", "k", "k"]
    assert a.notes == []
    a.to_dict()  # JSON-safe


def test_full_window_runs_are_stored_portfolio_backtests(world):
    a, ev, panel = world["a"], world["ev"], world["panel"]
    direct = sb.backtest(panel, "momentum_rotation", **PARAMS, **OPTIONS)
    assert a.runs["proposed"] == direct.run_id
    stored = sb.read_evidence(a.runs["proposed"], ev)
    assert stored.is_portfolio and stored.report["metadata"]["symbols"] == SYMBOLS
    assert a.headline["proposed"] == {k: stored.stats[k] for k in HEADLINE}
    approved = sb.backtest(panel, "equal_weight", **OPTIONS)
    assert a.runs["approved"] == approved.run_id
    # the policy's gates judge the portfolio's own stats
    by = {r.gate: r for r in a.results}
    assert by["max_drawdown"].value == pytest.approx(stored.stats["max_drawdown"])
    assert by["min_trades"].value == stored.stats["total_trades"]
    # the data summary names the symbols and the combined fingerprint the run names
    assert a.data["symbols"] == SYMBOLS and a.data["pair"] == ",".join(SYMBOLS)
    assert a.data["data_sha256"] == stored.report["metadata"]["data_sha256"]
    assert a.data["data_sha256_by_symbol"] == stored.report["metadata"]["data_sha256_by_symbol"]
    assert a.data["candles"] == len(panel)


def test_split_runs_are_those_of_the_union_bars(world):
    a, ev, panel = world["a"], world["ev"], world["panel"]
    split = a.split["split_bar"]
    assert split == len(panel) - round(len(panel) * 0.3)
    at = panel.index[split]
    assert a.split["split_time"] == at
    ins = sb.backtest(panel_window(panel, 0, split), "momentum_rotation", **PARAMS, **OPTIONS)
    assert a.runs["proposed_in_sample"] == ins.run_id
    assert ins.equity.index[-1] < at
    oos = sb.backtest(panel, "momentum_rotation", **PARAMS, **OPTIONS, trade_from=at)
    assert a.runs["proposed_out_of_sample"] == oos.run_id
    assert a.split["out_of_sample"]["sharpe"] == pytest.approx(oos.stats["sharpe"])
    base_oos = sb.read_evidence(a.runs["approved_out_of_sample"], ev)
    assert base_oos.report["metadata"]["start"] == at.isoformat()


def test_walk_forward_and_neighbours_are_stored(world):
    a, ev = world["a"], world["ev"]
    wf = sb.read_evidence(a.walk_forward_id, ev)
    assert wf.kind == "walkforward"
    for row in a.neighbourhood:
        run = sb.read_evidence(a.runs[row["run"]], ev)
        assert run.is_portfolio and run.report["params"] == row["params"]


def test_pbo_reruns_the_portfolio_sweep_as_its_rows_were_made(world):
    a, ev, panel = world["a"], world["ev"], world["panel"]
    strat = get_strategy("momentum_rotation")
    market = load_market(rotation(), strat, None)
    sweep = trials_from_sweep(world["sid"], ev, market, strat)
    returns, used = sweep_returns(sweep, panel, strat, cap=4, seed=0)
    assert used == 4 and returns.shape == (len(panel), 4)
    row = sweep.results.reset_index(drop=True)
    pick = int(np.flatnonzero((row["lookback"] == 30) & (row["k"] == 2))[0])
    stored = sb.read_evidence(a.runs["proposed"], ev)
    np.testing.assert_allclose(returns[:, pick], run_returns(stored), rtol=0, atol=1e-12)


def test_a_sweep_of_other_symbols_is_refused(world, tmp_path):
    three = sb.load_panel(SYMBOLS[:3], timeframe="4h")
    other = sb.sweep(three, "momentum_rotation", lookback=[20, 30], **OPTIONS, workers=1)
    sid = save_sweep(other, world["ev"], plot=False).name
    with pytest.raises(ConfigError, match="not this version's trials"):
        assess(rotation(), None, policy=default_policy(), evidence_dir=world["ev"], sweep_id=sid)


def test_portfolio_options_and_mixed_approved_versions(tmp_path):
    # an approved single-pair targets version runs on the portfolio's panel, noted
    base = version_of("rot-4h", "sma_cross", "ETHUSDT", "4h", {"fast": 10, "slow": 30}, OPTIONS)
    a = assess(
        rotation(),
        base,
        policy=default_policy(),
        evidence_dir=tmp_path,
        folds=1,
        lookahead_samples=1,
    )
    assert any("approved version is of ETHUSDT 4h" in n for n in a.notes)
    assert sb.read_evidence(a.runs["approved"], tmp_path).is_portfolio
    # an approved version with stops cannot trade the portfolio: noted, not run
    stops = version_of("rot-4h", "sma_cross", "ETHUSDT", "4h", {}, {"sl_stop": 0.05})
    b = assess(
        rotation(), stops, policy=default_policy(), evidence_dir=tmp_path, folds=1,
        lookahead_samples=1,
    )  # fmt: skip
    assert "approved" not in b.runs
    assert any("approved version not backtested: sl_stop" in n for n in b.notes)
    # a single-pair proposal with a weights approved version: noted, not run
    c = assess(
        version_of("rot-4h", "sma_cross", "ETHUSDT", "4h", {}, OPTIONS),
        rotation(),
        policy=default_policy(),
        evidence_dir=tmp_path,
        folds=1,
        lookahead_samples=1,
    )
    assert "approved" not in c.runs
    assert any("weights strategy" in n for n in c.notes)
