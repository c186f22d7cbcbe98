"""A portfolio paper session (several symbols) end to end on the store feed, and the
``sparkbt paper`` refusals: unknown and unapproved param sets, a pair the exchange does
not list, an id taken, a session missing or busy."""

from __future__ import annotations

import asyncio

import pandas as pd
import pytest
from typer.testing import CliRunner

import sparkbt as sb
from sparkbt.adapters.cli.app import app
from sparkbt.data.store import CandleStore
from sparkbt.research.paper import (
    journal_rows,
    reconcile,
    run_session,
    session_status,
    start_session,
)
from sparkbt.research.paper.bars import bar_rows
from tests.adapters.http.paper_env import approve, propose_only
from tests.data.feeds.fake_btcturk import FakeBtcturk, Tape

pytestmark = pytest.mark.timeout(120)
SYMS = ("BTCTRY", "ETHTRY")
T0 = pd.Timestamp("2024-03-01", tz="UTC")


def test_portfolio_session_on_the_store_equals_the_backtest(tmp_path):
    store = CandleStore(tmp_path / "data")
    frames = {
        s: sb.synthetic_candles(n=300, timeframe="1h", start=T0.isoformat(), seed=3 + k, symbol=s)
        for k, s in enumerate(SYMS)
    }
    for s, f in frames.items():
        store.merge(s, "1h", f.iloc[:200])
    start = T0 + pd.Timedelta(hours=200, minutes=5)
    session = start_session(
        "momentum_rotation",
        symbols=list(SYMS),
        timeframe="1h",
        start=start,
        session_id="basket",
        warmup_bars=150,
        data_dir=store.root,
        evidence_dir=tmp_path / "ev",
    )
    for s, f in frames.items():  # another process feeds the store
        store.merge(s, "1h", f.iloc[200:260])
    late = (T0 + pd.Timedelta(hours=400)).timestamp()
    why = asyncio.run(run_session(session, clock=lambda: late, poll=0.01, settle=0.0, duration=2.0))
    assert why == "duration"
    status = session_status("basket", evidence_dir=tmp_path / "ev")
    assert status["state"] == "stopped" and status["bars"] == 60
    assert set(status["positions"]) == set(SYMS) and status["cash"] is not None
    candles = {s: f.loc[pd.Timestamp(status["history_from"]) :].iloc[:] for s, f in frames.items()}
    candles = {s: f.loc[: pd.Timestamp(status["last_bar"])] for s, f in candles.items()}
    want = sb.backtest(
        candles, "momentum_rotation", timeframe="1h", trade_from=pd.Timestamp(status["start_bar"])
    )
    expected = [r.to_dict() for r in bar_rows(want, candles)]
    assert journal_rows("basket", evidence_dir=tmp_path / "ev") == expected
    assert status["fills"] == len(want.fills) > 0
    assert reconcile("basket", evidence_dir=tmp_path / "ev").identical


def one_line(out, code: int = 2) -> str:
    assert out.exit_code == code, out.output
    assert out.stderr.count("\n") == 1, out.stderr
    return str(out.stderr)


def test_cli_paramset_unknown_and_unapproved(tmp_path):
    db = tmp_path / "guard.sqlite"
    approve(db, "other")
    propose_only(db, "waiting")
    runner = CliRunner()
    base = ["paper", "start", "--db", str(db), "--evidence-dir", str(tmp_path / "ev")]
    assert "unknown param set 'nope'" in one_line(runner.invoke(app, [*base, "--paramset", "nope"]))
    out = runner.invoke(app, [*base, "--paramset", "waiting"])
    assert "no version is approved" in one_line(out)


def test_cli_start_and_resume_refusals_on_the_fake_exchange(tmp_path, monkeypatch):
    ev, data = str(tmp_path / "ev"), str(tmp_path / "data")
    CandleStore(data).merge("BTCTRY", "1m", sb.synthetic_candles(n=50, timeframe="1m"))
    held = start_session(
        "sma_cross",
        symbols="BTCTRY",
        timeframe="1m",
        session_id="dup",
        data_dir=data,
        evidence_dir=ev,
    )
    runner = CliRunner()
    start = ["paper", "start", "--strategy", "sma_cross", "--timeframe", "1m", "--warmup", "0"]
    where = ["--evidence-dir", ev, "--data-dir", data]
    try:
        with FakeBtcturk(Tape(), ["BTCTRY"]) as fake:
            monkeypatch.setenv("SPARKBT_BTCTURK_REST_URL", fake.url)
            monkeypatch.setenv("SPARKBT_BTCTURK_GRAPH_URL", fake.url)
            out = runner.invoke(app, [*start, "--symbol", "XYZTRY", *where])
            assert "lists no pair 'XYZTRY'" in one_line(out)
            out = runner.invoke(app, [*start, "--symbol", "BTCTRY", "--id", "dup", *where])
            assert "'dup' exists already" in one_line(out)
            out = runner.invoke(app, ["paper", "resume", "dup", "--evidence-dir", ev])
            assert "running in another process" in one_line(out)
            out = runner.invoke(app, ["paper", "resume", "nope", "--evidence-dir", ev])
            assert "not found" in one_line(out)
    finally:
        held.close()
