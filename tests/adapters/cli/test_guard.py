"""``sparkbt guard check`` / ``guard policy`` on stored runs and sweeps, through a typer app."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

import sparkbt as sb
from sparkbt.adapters.cli.app import _Group
from sparkbt.adapters.cli.guard import register
from sparkbt.research.overfit import deflated_sharpe_ratio
from sparkbt.research.policy import default_policy
from sparkbt.research.sweep_evidence import save_sweep


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    root = typer.Typer(cls=_Group)  # the root group's handling of InputError (exit 2)
    register(root, typer.Typer())
    return root


@pytest.fixture(scope="module")
def candles() -> pd.DataFrame:
    return sb.synthetic_candles(3000, timeframe="1h", seed=2)


@pytest.fixture
def ev(tmp_path):
    return tmp_path / "ev"


def invoke(app, *args: str):
    return CliRunner().invoke(app, ["guard", *args])


def check_json(app, *args: str) -> dict:
    res = invoke(app, "check", *args, "--json")
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def returns_of(res: sb.BacktestResult) -> np.ndarray:
    """Bar returns of the in-memory equity curve (first bar against the starting cash)."""
    equity = res.equity.to_numpy()
    return equity / np.concatenate([[res.config["cash"]], equity[:-1]]) - 1.0


def test_check_run_table(app, candles, ev) -> None:
    run = sb.backtest(candles, "sma_cross", fast=10, slow=40)
    run.save(ev)
    res = invoke(app, "check", run.run_id[:8], "--evidence-dir", str(ev))
    assert res.exit_code == 0, res.output
    for gate in default_policy().to_dict()["gates"]:
        assert gate in res.stdout
    assert "decision: pending" in res.stdout
    assert "1 trial" in res.stdout


def test_check_run_json_uses_stored_stats_and_returns(app, candles, ev) -> None:
    run = sb.backtest(candles, "sma_cross", fast=10, slow=40)
    run.save(ev)
    out = check_json(app, run.run_id, "--evidence-dir", str(ev))
    gates = {g["gate"]: g for g in out["gates"]}
    assert out["evidence"] == {
        "kind": "backtest",
        "id": run.run_id,
        "strategy": "sma_cross",
        "params": {"fast": 10, "slow": 40},
    }
    assert gates["max_drawdown"]["value"] == run.stats["max_drawdown"]
    assert gates["min_trades"]["value"] == run.stats["total_trades"]
    expected = deflated_sharpe_ratio(returns_of(run), 1)
    assert gates["min_dsr"]["value"] == pytest.approx(expected.dsr, rel=1e-12)
    assert out["dsr"]["n_trials"] == 1
    assert out["dsr"]["sharpe"] * math.sqrt(365 * 24) == pytest.approx(run.stats["sharpe"])
    for gate in ("min_oos_sharpe", "max_oos_degradation", "max_pbo", "lookahead"):
        assert gates[gate]["result"] == "skip" and gates[gate]["message"]
    assert out["policy"]["sha256"] == default_policy().sha256


def test_blocked_decision_still_exits_zero(app, candles, ev, tmp_path) -> None:
    run = sb.backtest(candles, "sma_cross", fast=10, slow=40)
    run.save(ev)
    policy = tmp_path / "strict.toml"
    policy.write_text('[gates.max_drawdown]\nlimit = 0.01\n[gates.min_trades]\naction = "warn"\n')
    out = check_json(app, run.run_id, "--evidence-dir", str(ev), "--policy", str(policy))
    assert out["decision"] == "blocked"
    assert out["policy"]["source"] == str(policy)
    res = invoke(app, "check", run.run_id, "--evidence-dir", str(ev), "-p", str(policy))
    assert res.exit_code == 0
    assert "decision: blocked" in res.stdout


def test_check_sweep_deflates_the_best_combination(app, candles, ev) -> None:
    results = sb.sweep(candles, "sma_cross", fast=[5, 10, 20], slow=[40, 80], workers=1)
    sid = save_sweep(results, ev, plot=False).name
    best = results.sort_values("sharpe", ascending=False).iloc[0]
    params = {"fast": int(best["fast"]), "slow": int(best["slow"])}
    out = check_json(app, sid, "--evidence-dir", str(ev))
    gates = {g["gate"]: g for g in out["gates"]}
    assert out["evidence"]["kind"] == "sweep" and out["evidence"]["params"] == params
    assert gates["max_drawdown"]["value"] == pytest.approx(best["max_drawdown"])
    assert out["dsr"]["n_trials"] == 6
    assert any("normal returns" in n for n in out["notes"])
    assert gates["max_pbo"]["result"] == "skip"
    # With a stored run of the best combination, its returns' moments are used.
    run = sb.backtest(candles, "sma_cross", **params)
    run.save(ev)
    out = check_json(app, sid, "--evidence-dir", str(ev))
    assert any(run.run_id in n for n in out["notes"])
    ann = 365 * 24
    var = float(np.var(results["sharpe"], ddof=1))
    expected = deflated_sharpe_ratio(returns_of(run), 6, sharpe_variance=var, periods_per_year=ann)
    assert out["dsr"]["dsr"] == pytest.approx(expected.dsr, rel=1e-9)
    # The same run deflated by the sweep it was picked from gives the same DSR.
    out_run = check_json(app, run.run_id, "--sweep", sid, "--evidence-dir", str(ev))
    assert out_run["dsr"]["dsr"] == pytest.approx(expected.dsr, rel=1e-9)
    assert out_run["dsr"]["n_trials"] == 6


def test_bad_input_is_one_line_and_exit_2(app, candles, ev, tmp_path) -> None:
    run = sb.backtest(candles, "sma_cross", fast=10, slow=40)
    run.save(ev)
    other = sb.sweep(candles.iloc[:2000], "sma_cross", fast=[5, 10], slow=[40], workers=1)
    other_id = save_sweep(other, ev, plot=False).name
    bad = tmp_path / "bad.toml"
    bad.write_text("[gates.max_drawdwn]\nlimit = 0.2\n")
    broken = tmp_path / "broken.toml"
    broken.write_text("[gates.max_pbo]\nlimit = = 0.2\n")
    cases = [
        (["check", "deadbeef"], "no evidence for 'deadbeef'"),
        (["check", run.run_id, "--policy", str(bad)], "did you mean 'max_drawdown'?"),
        (["check", run.run_id, "--policy", str(broken)], "line 2"),
        (["check", run.run_id, "--policy", str(tmp_path / "x.toml")], "policy file not found"),
        (["check", run.run_id, "--sweep", run.run_id], "not a sweep"),
        (["check", run.run_id, "--sweep", other_id], "other candles"),
        (["check", other_id, "--sweep", other_id], "applies to a backtest run"),
        (["policy", "--policy", str(bad)], "unknown gate 'max_drawdwn'"),
    ]
    for args, message in cases:
        where = ["--evidence-dir", str(ev)] if args[0] == "check" else []
        res = invoke(app, *args, *where)
        assert res.exit_code == 2, (args, res.output)
        err = res.stderr.strip()
        assert err.startswith("error: ") and "\n" not in err, err
        assert message in err, (args, err)


def test_policy_command(app, tmp_path) -> None:
    res = invoke(app, "policy")
    assert res.exit_code == 0, res.output
    assert "max_param_change" in res.stdout and default_policy().sha256 in res.stdout
    out = json.loads(invoke(app, "policy", "--json").stdout)
    assert out["gates"] == default_policy().to_dict()["gates"]
    assert out["source"] == "default"
    path = tmp_path / "p.toml"
    path.write_text("[gates.max_pbo]\nlimit = 0.3\n")
    out = json.loads(invoke(app, "policy", "--policy", str(path), "--json").stdout)
    assert out["gates"]["max_pbo"] == {"limit": 0.3, "action": "block"}
    assert out["sha256"] != default_policy().sha256
