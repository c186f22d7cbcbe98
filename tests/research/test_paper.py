"""Paper sessions advanced candle by candle from memory: reconcile causes, halts, drift, CLI."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

import sparkbt as sb
from sparkbt.adapters.cli.app import app
from sparkbt.data.store import CandleStore
from sparkbt.research.paper import (
    SessionExists,
    journal_rows,
    reconcile,
    request_stop,
    resume_session,
    session_status,
    start_session,
)

SYM = "BTCTRY"
FRAME = sb.synthetic_candles(n=400, timeframe="1m", seed=5, symbol=SYM)
SPLIT = 300  # candles stored before the session starts
PEEK = """
import pandas as pd


def peek(candles: pd.DataFrame) -> pd.Series:
    return (candles["close"].shift(-1) > candles["close"]).astype(float)
"""


def run(tmp_path, strategy="sma_cross", params=None, n=40, sid="s1", **kw):
    """A session started at candle SPLIT, fed ``n`` candles one by one, then closed."""
    store = CandleStore(tmp_path / "data")
    store.merge(SYM, "1m", FRAME.iloc[:SPLIT])
    session = start_session(
        strategy,
        symbols=SYM,
        timeframe="1m",
        params=params if params is not None else {"fast": 3, "slow": 8},
        start=FRAME.index[SPLIT] + pd.Timedelta(seconds=5),
        session_id=sid,
        data_dir=store.root,
        evidence_dir=tmp_path / "ev",
        **kw,
    )
    for k in range(SPLIT, SPLIT + n):
        session.add_candles(SYM, FRAME.iloc[k : k + 1])
        session.advance()
    session.close()
    store.merge(SYM, "1m", FRAME.iloc[SPLIT : SPLIT + n])
    return store, session


def test_replay_is_idempotent_and_reconcile_passes(tmp_path):
    run(tmp_path)
    rows = journal_rows("s1", evidence_dir=tmp_path / "ev")
    assert len(rows) == 40 and rows[0]["time"] == FRAME.index[SPLIT].isoformat()
    again = resume_session("s1", evidence_dir=tmp_path / "ev")  # reads the store: same bars
    assert again.advance().written == []
    written, conflicts = again.journal.append(again._rows[-3:])  # a replay writes nothing
    assert (written, conflicts) == ([], [])
    again.close()
    assert journal_rows("s1", evidence_dir=tmp_path / "ev") == rows
    assert reconcile("s1", evidence_dir=tmp_path / "ev").identical


def test_reconcile_names_a_candle_changed_after_it_was_traded(tmp_path):
    store, _ = run(tmp_path)
    t = FRAME.index[SPLIT + 10]
    changed = FRAME.loc[[t]].copy()
    changed["close"] *= 1.01
    changed["high"] = changed[["high", "close"]].max(axis=1)
    store.merge(SYM, "1m", changed)
    found = reconcile("s1", evidence_dir=tmp_path / "ev")
    assert not found.identical and found.cause_kind == "candle_changed"
    assert t.isoformat() in found.cause and found.first_difference["time"] == t.isoformat()


def test_reconcile_names_a_gap_repaired_after_it_was_traded(tmp_path):
    store = CandleStore(tmp_path / "data")
    store.merge(SYM, "1m", FRAME.iloc[:SPLIT])
    session = start_session(
        "sma_cross",
        symbols=SYM,
        timeframe="1m",
        params={"fast": 3, "slow": 8},
        start=FRAME.index[SPLIT],
        data_dir=store.root,
        evidence_dir=tmp_path / "ev",
    )
    missing = SPLIT + 5
    for k in range(SPLIT, SPLIT + 20):
        if k != missing:
            session.add_candles(SYM, FRAME.iloc[k : k + 1])
            session.advance()
    session.close()
    store.merge(SYM, "1m", FRAME.iloc[SPLIT : SPLIT + 20])  # the gap is repaired from REST
    found = reconcile(session.spec.id, evidence_dir=tmp_path / "ev")
    assert found.cause_kind == "candle_added"
    assert FRAME.index[missing].isoformat() in found.cause


def test_a_peeking_strategy_diverges_live_and_reconcile_names_it(tmp_path):
    path = tmp_path / "peek.py"
    path.write_text(PEEK)
    run(tmp_path, strategy=f"{path}:peek", params={}, n=30)
    status = session_status("s1", evidence_dir=tmp_path / "ev")
    assert "reads later bars" in status["divergence"]["cause"]
    found = reconcile("s1", evidence_dir=tmp_path / "ev")
    assert found.cause_kind == "lookahead" and "reads the future" in found.cause
    assert found.lookahead["passed"] is False


def test_a_session_gate_halts_it_with_its_reason(tmp_path):
    run(tmp_path, options={"gates": {"max_drawdown": 0.0005}})
    status = session_status("s1", evidence_dir=tmp_path / "ev")
    assert status["state"] == "halted" and "gate max_drawdown locked" in status["halted"]
    halted_at = status["last_bar"]
    again = resume_session("s1", evidence_dir=tmp_path / "ev")
    again.add_candles(SYM, FRAME.iloc[SPLIT + 40 : SPLIT + 60])
    assert again.advance().halted and again.last_ts == pd.Timestamp(halted_at).value
    again.close()


def test_drift_from_the_approval_evidence_warns(tmp_path):
    approval = {
        "split": {
            "split_bar": 700,
            "out_of_sample": {
                "sharpe": 3.0,
                "max_drawdown": 0.0001,
                "total_trades": 1,
                "total_return": 0.2,
            },
        },
        "data": {"candles": 1000},
        "gates": [{"gate": "max_drawdown", "limit": 0.0002}],
    }
    run(tmp_path, params={"fast": 1, "slow": 2}, approval=approval)
    status = session_status("s1", evidence_dir=tmp_path / "ev")
    kinds = {w["kind"] for w in status["warnings"]}
    assert {"max_drawdown", "drawdown", "trade_rate"} <= kinds
    assert status["state"] == "stopped" and status["halted"] is None


def test_bad_inputs(tmp_path):
    run(tmp_path)
    with pytest.raises(SessionExists, match="exists already"):
        run(tmp_path)
    with pytest.raises(sb.ConfigError, match="param set, or a strategy"):
        start_session("sma_cross", timeframe="1m", evidence_dir=tmp_path / "ev")
    with pytest.raises(sb.InputError, match="not found"):
        resume_session("nope", evidence_dir=tmp_path / "ev")
    assert request_stop("s1", evidence_dir=tmp_path / "ev")["state"] == "stopped"


def test_cli_status_reconcile_and_bad_input(tmp_path, monkeypatch):
    store, _ = run(tmp_path)
    ev = str(tmp_path / "ev")
    runner = CliRunner()
    out = runner.invoke(app, ["paper", "status", "s1", "--evidence-dir", ev])
    assert out.exit_code == 0 and out.stdout.startswith("s1 stopped sma_cross BTCTRY 1m")
    out = runner.invoke(app, ["paper", "reconcile", "s1", "--evidence-dir", ev, "--json"])
    assert out.exit_code == 0 and '"identical": true' in out.stdout
    changed = FRAME.iloc[[SPLIT + 3]].copy()
    changed["volume"] += 1.0
    store.merge(SYM, "1m", changed)
    out = runner.invoke(app, ["paper", "reconcile", "s1", "--evidence-dir", ev])
    assert out.exit_code == 1 and "changed after it was traded" in out.stdout
    out = runner.invoke(app, ["paper", "reconcile", "nope", "--evidence-dir", ev])
    assert out.exit_code == 2 and out.stderr.count("\n") == 1
    out = runner.invoke(app, ["paper", "start", "--paramset", "eth", "--evidence-dir", ev])
    assert out.exit_code == 2 and "no guard store" in out.stderr


FAIL_LATE = """
import pandas as pd


def fail_late(candles: pd.DataFrame) -> pd.Series:
    if len(candles) > 305:
        raise RuntimeError("the indicator service is down")
    return pd.Series(0.0, index=candles.index)
"""


def _failing_session(tmp_path):
    path = tmp_path / "late.py"
    path.write_text(FAIL_LATE)
    store = CandleStore(tmp_path / "data")
    store.merge(SYM, "1m", FRAME.iloc[:SPLIT])
    session = start_session(
        f"{path}:fail_late",
        symbols=SYM,
        timeframe="1m",
        params={},
        start=FRAME.index[SPLIT] + pd.Timedelta(seconds=5),
        session_id="s1",
        data_dir=store.root,
        evidence_dir=tmp_path / "ev",
    )
    return store, session


def test_a_session_ended_by_its_strategys_error_says_why(tmp_path):
    """The error is journaled when the session closes: its status and CLI line show it."""
    _, session = _failing_session(tmp_path)

    def feed() -> None:
        with session:
            for k in range(SPLIT, SPLIT + 20):
                session.add_candles(SYM, FRAME.iloc[k : k + 1])
                session.advance()

    with pytest.raises(Exception, match="the indicator service is down"):
        feed()
    status = session_status("s1", evidence_dir=tmp_path / "ev")
    assert status["state"] == "interrupted"
    assert "the indicator service is down" in status["ended"]
    assert status["bars"] == 5  # the bars before the failure stay journaled
    out = CliRunner().invoke(app, ["paper", "status", "s1", "--evidence-dir", str(tmp_path / "ev")])
    assert out.exit_code == 0 and "| ended: " in out.stdout
    assert "the indicator service is down" in out.stdout


def test_run_session_records_the_error_that_ended_it(tmp_path):
    import asyncio

    from sparkbt.research.paper import run_session

    store, session = _failing_session(tmp_path)
    store.merge(SYM, "1m", FRAME.iloc[SPLIT : SPLIT + 20])  # another process fed the store
    now = FRAME.index[SPLIT + 20].timestamp() + 60.0
    with pytest.raises(Exception, match="the indicator service is down"):
        asyncio.run(run_session(session, clock=lambda: now, poll=0.01, duration=10.0))
    status = session_status("s1", evidence_dir=tmp_path / "ev")
    assert status["state"] == "interrupted" and "indicator service" in status["ended"]
    again = resume_session("s1", evidence_dir=tmp_path / "ev")  # resumable, as any interruption
    again.close()
    assert session_status("s1", evidence_dir=tmp_path / "ev")["ended"] is None


def test_a_stopped_or_running_session_names_no_end(tmp_path):
    run(tmp_path)
    assert session_status("s1", evidence_dir=tmp_path / "ev")["ended"] is None
