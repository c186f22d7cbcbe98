"""The decision function: every gate's pass/warn/block/skip on plain evidence."""

from __future__ import annotations

import json
import math

import pytest

import sparkbt as sb
from sparkbt.errors import ConfigError
from sparkbt.research.gates import (
    Evidence,
    decision,
    decision_record,
    evaluate,
    evidence_from_stats,
    param_changes,
)
from sparkbt.research.policy import default_policy, loads_policy
from tests.research.policies import PASSING

GOOD = PASSING | {"param_changes": {"fast": 0.2, "slow": 0.0}}


def by_gate(results):
    return {r.gate: r for r in results}


def test_all_pass_is_pending() -> None:
    results = evaluate(default_policy(), GOOD)
    assert [r.gate for r in results] == [g.name for g in default_policy().gates]
    assert {r.result for r in results} == {"pass"}
    assert decision(results) == "pending"
    r = by_gate(results)
    assert r["max_oos_degradation"].value == pytest.approx(0.2)
    assert r["max_param_change"].value == 0.2
    assert "fast" in r["max_param_change"].message
    assert r["min_trades"].message == "trades 120 >= 30"
    assert r["lookahead"].value is True and r["lookahead"].limit is None


def test_failures_take_the_gate_action() -> None:
    ev = GOOD | {
        "max_drawdown": 0.3,
        "oos_sharpe": 0.6,
        "param_changes": {"fast": -0.8},
        "lookahead_passed": False,
    }
    r = by_gate(evaluate(default_policy(), ev))
    assert r["max_drawdown"].result == "block"
    assert r["max_drawdown"].message == "max drawdown 0.3 > 0.25"
    assert r["max_oos_degradation"].result == "warn"  # 1 - 0.6/1.5 = 0.6 > 0.5
    assert r["max_oos_degradation"].value == pytest.approx(0.6)
    assert r["max_param_change"].result == "warn"
    assert r["max_param_change"].value == 0.8
    assert r["lookahead"].result == "block"
    assert r["lookahead"].message == "signals use later bars"
    assert decision(list(r.values())) == "blocked"
    detail = Evidence(lookahead_passed=False, reasons={"lookahead": "target at bar 7 changed"})
    looked = by_gate(evaluate(default_policy(), detail))["lookahead"]
    assert looked.message == "target at bar 7 changed"


def test_limits_are_inclusive() -> None:
    ev = GOOD | {"max_drawdown": 0.25, "total_trades": 30, "dsr": 0.9, "pbo": 0.5}
    r = by_gate(evaluate(default_policy(), ev))
    assert [r[g].result for g in ("max_drawdown", "min_trades", "min_dsr", "max_pbo")] == [
        "pass"
    ] * 4


def test_warn_only_failures_stay_pending() -> None:
    policy = loads_policy('[gates.min_dsr]\naction = "warn"\n')
    results = evaluate(policy, GOOD | {"dsr": 0.2})
    assert by_gate(results)["min_dsr"].result == "warn"
    assert decision(results) == "pending"


def test_missing_values_skip_with_a_reason() -> None:
    ev = Evidence(max_drawdown=0.1, total_trades=50, dsr=math.nan, reasons={"max_pbo": "no sweep"})
    r = by_gate(evaluate(default_policy(), ev))
    assert {g: x.result for g, x in r.items()} == {
        "max_drawdown": "pass",
        "min_trades": "pass",
        "min_oos_sharpe": "skip",
        "max_oos_degradation": "skip",
        "min_dsr": "skip",  # NaN: undefined
        "max_pbo": "skip",
        "lookahead": "skip",
        "max_param_change": "skip",
    }
    assert r["max_pbo"].message == "no sweep"
    assert r["max_param_change"].message == "no approved version to compare with"
    assert all(x.message for x in r.values())
    assert decision(list(r.values())) == "pending"


def test_degradation_needs_a_positive_in_sample_sharpe() -> None:
    r = by_gate(evaluate(default_policy(), GOOD | {"is_sharpe": -0.3, "oos_sharpe": -1.0}))
    assert r["max_oos_degradation"].result == "skip"
    assert "not positive" in r["max_oos_degradation"].message
    assert r["min_oos_sharpe"].result == "block"


def test_param_changes() -> None:
    new = {"fast": 12, "slow": 30, "mode": "x", "trail": True, "zero": 1.0, "gone": 3}
    old = {"fast": 10, "slow": 30, "mode": "y", "trail": False, "zero": 0.0, "new_only": 1}
    assert param_changes(new, old) == {"fast": 0.2, "slow": 0.0, "zero": math.inf}
    r = by_gate(evaluate(default_policy(), GOOD | {"param_changes": param_changes(new, old)}))
    assert r["max_param_change"].result == "warn"
    assert "inf" in r["max_param_change"].message
    assert r["max_param_change"].to_dict()["value"] is None  # JSON has no infinity
    empty = by_gate(evaluate(default_policy(), GOOD | {"param_changes": {}}))
    assert empty["max_param_change"].result == "pass"


def test_evidence_from_engine_stats() -> None:
    res = sb.backtest(sb.synthetic_candles(600, timeframe="1h", seed=2), "sma_cross", fast=5)
    ev = evidence_from_stats(res.stats, dsr=0.95)
    assert ev.max_drawdown == res.stats["max_drawdown"]
    assert ev.total_trades == res.stats["total_trades"]
    assert ev.dsr == 0.95


def test_unknown_evidence_field() -> None:
    with pytest.raises(ConfigError, match="unknown field"):
        evaluate(default_policy(), {"drawdown": 0.1})


def test_decision_record_is_json_with_policy_hash() -> None:
    policy = default_policy()
    record = decision_record(policy, evaluate(policy, GOOD | {"pbo": None}))
    assert record["decision"] == "pending"
    assert record["policy"] == {"source": "default", "sha256": policy.sha256}
    assert len(record["gates"]) == 8
    assert record["gates"][5] == {
        "gate": "max_pbo",
        "result": "skip",
        "value": None,
        "limit": 0.5,
        "action": "block",
        "message": "no sweep to estimate PBO",
    }
    json.dumps(record, allow_nan=False)
