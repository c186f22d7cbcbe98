"""assess(): the evidence of a param change on the packaged sample, and its gates."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

import sparkbt as sb
from sparkbt.engine.registry import get_strategy
from sparkbt.errors import ConfigError
from sparkbt.research.assess import HEADLINE, assess, neighbours
from sparkbt.research.overfit import deflated_sharpe_ratio
from sparkbt.research.paramsets import version_of
from sparkbt.research.policy import default_policy, loads_policy
from sparkbt.research.stored_evidence import run_returns
from sparkbt.research.sweep_evidence import save_sweep
from tests.research.policies import sma_version

LENIENT = """
[gates.max_drawdown]
limit = 0.99
[gates.min_trades]
limit = 5
[gates.min_oos_sharpe]
limit = -100.0
[gates.min_dsr]
limit = 0.0
"""

PEEK = '''
from typing import Annotated

import numpy as np
import pandas as pd

from sparkbt import Param


def peek(candles: pd.DataFrame, lag: Annotated[int, Param(ge=1, le=10)] = 1) -> pd.Series:
    """Long when tomorrow's close is higher: reads the future."""
    close = candles["close"]
    return np.sign(close.shift(-lag) - close).fillna(0.0)
'''


def _expected(gate, value):
    """The gate's outcome computed by hand from a value."""
    spec = gate.spec
    ok = value <= gate.limit if spec.compare == "max" else value >= gate.limit
    return "pass" if ok else gate.action


def test_reasonable_proposal_gates_match_its_own_stats(evidence_dir, sample):
    policy = loads_policy(LENIENT)
    proposed, base = sma_version(12, 40), sma_version(10, 30)
    a = assess(proposed, base, policy=policy, evidence_dir=evidence_dir)
    by = {r.gate: r for r in a.results}
    stats = sb.read_evidence(a.runs["proposed"], evidence_dir).stats
    # full-window figures are the stored run's, which is what a plain backtest gives
    direct = sb.backtest(sample, "sma_cross", fast=12, slow=40, fees=0.001)
    assert direct.run_id == a.runs["proposed"]
    assert a.headline["proposed"] == {k: stats[k] for k in HEADLINE}
    assert set(a.headline["approved"]) == set(HEADLINE)
    for name, key in (("max_drawdown", "max_drawdown"), ("min_trades", "total_trades")):
        gate = policy.gate(name)
        assert by[name].value == pytest.approx(stats[key])
        assert by[name].result == _expected(gate, stats[key])
    oos = a.split["out_of_sample"]["sharpe"]
    ins = a.split["in_sample"]["sharpe"]
    assert by["min_oos_sharpe"].value == pytest.approx(oos)
    assert by["min_oos_sharpe"].result == _expected(policy.gate("min_oos_sharpe"), oos)
    if ins > 0:
        assert by["max_oos_degradation"].value == pytest.approx(1 - oos / ins)
    else:
        assert by["max_oos_degradation"].result == "skip"
    # DSR recomputed from the stored run's returns and the neighbourhood's Sharpe ratios
    sharpes = np.array([stats["sharpe"]] + [row["sharpe"] for row in a.neighbourhood])
    ann = 365 * 6  # 4h bars, every day of the year
    expected = deflated_sharpe_ratio(
        run_returns(sb.read_evidence(a.runs["proposed"], evidence_dir)),
        len(sharpes),
        sharpe_variance=float(np.var(sharpes, ddof=1)),
        periods_per_year=ann,
    )
    assert a.dsr["n_trials"] == len(a.neighbourhood) + 1
    assert by["min_dsr"].value == pytest.approx(expected.dsr)
    assert by["min_dsr"].result == _expected(policy.gate("min_dsr"), expected.dsr)
    assert by["max_pbo"].result == "skip"
    assert by["lookahead"].result == "pass"
    assert by["max_param_change"].value == pytest.approx(max(2 / 10, 10 / 30))
    assert a.decision == ("blocked" if any(r.result == "block" for r in a.results) else "pending")
    assert a.decision == "pending"
    assert all(r.result in ("pass", "warn", "skip") for r in a.results)
    assert a.policy_sha256 == policy.sha256
    json.dumps(a.to_dict(), allow_nan=False)


def test_split_and_neighbours_are_what_the_engine_gives(evidence_dir, sample):
    a = assess(sma_version(12, 40), None, policy=default_policy(), evidence_dir=evidence_dir)
    split = a.split["split_bar"]
    assert split == len(sample) - round(len(sample) * 0.3)
    ins = sb.backtest(sample.iloc[:split], "sma_cross", fast=12, slow=40, fees=0.001)
    assert ins.run_id == a.runs["proposed_in_sample"]
    assert a.split["in_sample"]["sharpe"] == pytest.approx(ins.stats["sharpe"])
    # out of sample: fresh cash at the split, indicators warmed on the bars before
    wf = sb.walk_forward(
        sample, "sma_cross", train=split, test=len(sample) - split, fast=12, slow=40, fees=0.001
    )
    assert a.split["out_of_sample"]["sharpe"] == pytest.approx(wf.folds["oos_sharpe"][0])
    assert a.split["out_of_sample"]["total_trades"] == wf.folds["oos_total_trades"][0]
    got = {(r["param"], r["value"]) for r in a.neighbourhood}
    assert got == {("fast", 11), ("fast", 13), ("slow", 39), ("slow", 41)}
    for row in a.neighbourhood:
        res = sb.backtest(sample, "sma_cross", fees=0.001, **row["params"])
        assert row["sharpe"] == pytest.approx(res.stats["sharpe"], rel=1e-9)
        assert row["total_trades"] == res.stats["total_trades"]
    assert a.walk_forward["summary"]["folds"] == 4
    assert a.headline["approved"] is None and "approved" not in a.runs
    assert next(r for r in a.results if r.gate == "max_param_change").result == "skip"


def test_neighbours_respect_ranges_and_constraints():
    strat = get_strategy("sma_cross")
    near = neighbours(strat, {"fast": 1, "slow": 2})
    # fast 0 is out of range, fast 2 and slow 1 break fast < slow
    assert [(n, v) for n, v, _ in near] == [("slow", 3)]


def test_strict_drawdown_policy_blocks(evidence_dir):
    policy = loads_policy("[gates.max_drawdown]\nlimit = 0.01\n")
    a = assess(sma_version(12, 40), None, policy=policy, evidence_dir=evidence_dir)
    gate = next(r for r in a.results if r.gate == "max_drawdown")
    assert gate.result == "block" and gate.value > 0.01
    assert a.decision == "blocked"
    assert a.to_dict()["decision"] == "blocked"


def test_lookahead_strategy_is_blocked(tmp_path, monkeypatch, evidence_dir):
    folder = tmp_path / "strats"
    folder.mkdir()
    (folder / "peek.py").write_text(PEEK)
    monkeypatch.setenv("SPARKBT_STRATEGIES_DIR", str(folder))
    version = version_of("eth-peek-4h", "peek", "ETHUSDT", "4h", {"lag": 1})
    a = assess(version, None, policy=loads_policy(LENIENT), evidence_dir=evidence_dir)
    gate = next(r for r in a.results if r.gate == "lookahead")
    assert gate.result == "block" and gate.value is False
    assert "look-ahead" in gate.message
    assert a.lookahead.passed is False and a.lookahead.first_mismatch is not None
    assert a.decision == "blocked"
    # it looks wonderful otherwise, which is the point of the gate
    assert a.headline["proposed"]["sharpe"] > 3


def test_runs_are_stored_evidence(evidence_dir):
    a = assess(
        sma_version(12, 40), sma_version(10, 30), policy=default_policy(), evidence_dir=evidence_dir
    )
    assert set(a.runs) == {
        "proposed",
        "approved",
        "proposed_in_sample",
        "proposed_out_of_sample",
        "approved_out_of_sample",
        "neighbour_fast_11",
        "neighbour_fast_13",
        "neighbour_slow_39",
        "neighbour_slow_41",
    }
    for run_id in a.runs.values():
        run = sb.read_evidence(run_id, evidence_dir)
        assert run.id == run_id
        assert run.report["strategy"] == "sma_cross"
    assert sb.read_evidence(a.runs["approved"], evidence_dir).report["params"] == {
        "fast": 10,
        "slow": 30,
    }


def test_deterministic(evidence_dir, tmp_path):
    args = (sma_version(12, 40), sma_version(10, 30))
    one = assess(*args, policy=default_policy(), evidence_dir=evidence_dir)
    two = assess(*args, policy=default_policy(), evidence_dir=tmp_path / "other")
    assert one.runs == two.runs
    d1, d2 = one.to_dict(), two.to_dict()
    assert set(d1["timing"]) == set(d2["timing"])
    d1.pop("timing"), d2.pop("timing")
    assert json.dumps(d1, sort_keys=True) == json.dumps(d2, sort_keys=True)


def test_attached_sweep_gives_trials_and_pbo(evidence_dir, sample):
    results = sb.sweep(
        sample, "sma_cross", fast=range(5, 30, 3), slow=range(20, 80, 10), fees=0.001, workers=1
    )
    sid = save_sweep(results, evidence_dir, plot=False).name

    def attached():
        return assess(
            sma_version(11, 40),
            None,
            policy=default_policy(),
            evidence_dir=evidence_dir,
            sweep_id=sid,
            pbo_combos=20,
        )

    a = attached()
    assert a.dsr["n_trials"] == len(results)
    assert a.dsr["annualised_sharpe_variance"] == pytest.approx(
        float(np.var(results["sharpe"], ddof=1))
    )
    assert 0.0 <= a.pbo["pbo"] <= 1.0 and a.pbo["combinations"] == 20
    assert a.notes == []
    gate = next(r for r in a.results if r.gate == "max_pbo")
    assert gate.value == pytest.approx(a.pbo["pbo"])
    assert attached().pbo == a.pbo


def test_sweep_of_another_strategy_is_refused(evidence_dir, sample):
    results = sb.sweep(sample, "ema_cross", fast=[5, 8], slow=[20, 30], workers=1)
    sid = save_sweep(results, evidence_dir, plot=False).name
    with pytest.raises(ConfigError, match="not this version's trials"):
        assess(
            sma_version(), None, policy=default_policy(), evidence_dir=evidence_dir, sweep_id=sid
        )


def test_bad_oos_fraction(evidence_dir):
    with pytest.raises(ConfigError, match="oos_fraction"):
        assess(
            sma_version(), None, policy=default_policy(), evidence_dir=evidence_dir, oos_fraction=1
        )


def test_to_dict_is_json_safe(evidence_dir):
    a = assess(sma_version(12, 40), None, policy=default_policy(), evidence_dir=evidence_dir)
    d = a.to_dict()
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text)["runs"] == a.runs
    assert d["dsr"]["n_trials"] == len(d["neighbourhood"]) + 1
    assert math.isfinite(d["timing"]["total"])


def test_sweep_with_other_options_is_noted(evidence_dir, sample):
    results = sb.sweep(sample, "sma_cross", fast=[5, 8, 11], slow=[20, 40], workers=1)
    sid = save_sweep(results, evidence_dir, plot=False).name
    a = assess(
        sma_version(11, 40), None, policy=default_policy(), evidence_dir=evidence_dir, sweep_id=sid
    )
    assert any("other engine options" in n for n in a.notes)
    assert a.dsr["n_trials"] == 6


def test_approved_version_whose_code_changed_is_not_run(tmp_path, monkeypatch, evidence_dir):
    folder = tmp_path / "strats"
    folder.mkdir()
    path = folder / "peek.py"
    path.write_text(PEEK)
    monkeypatch.setenv("SPARKBT_STRATEGIES_DIR", str(folder))
    base = version_of("eth-peek-4h", "peek", "ETHUSDT", "4h", {"lag": 1})
    path.write_text(PEEK + "\n# edited\n")
    stamp = path.stat().st_mtime_ns + 10**9  # a new mtime even within the clock's resolution
    os.utime(path, ns=(stamp, stamp))
    os.utime(folder, ns=(stamp, stamp))
    a = assess(sma_version(), base, policy=default_policy(), evidence_dir=evidence_dir)
    assert "approved" not in a.runs and a.headline["approved"] is None
    assert any("approved version not backtested" in n for n in a.notes)
    with pytest.raises(ConfigError, match="changed since the version was made"):
        assess(base, None, policy=default_policy(), evidence_dir=evidence_dir)


def test_a_strategy_without_parameters_is_assessed(tmp_path):
    # no neighbours, one combination of no parameters for the out-of-sample run
    from sparkbt.research.assess import assess
    from sparkbt.research.paramsets import version_of
    from sparkbt.research.policy import default_policy

    version = version_of("hold", "buy_and_hold", "ETHUSDT", "4h")
    result = assess(version, None, policy=default_policy(), evidence_dir=tmp_path)
    assert result.decision in {"pending", "blocked"}
    assert result.to_dict()["neighbourhood"] == []
