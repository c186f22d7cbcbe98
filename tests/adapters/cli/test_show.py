"""``sparkbt show``: a run's trades (--trades, table or JSON) and where it looked for an id."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console
from typer.testing import CliRunner

import sparkbt as sb
from sparkbt.adapters.cli.app import app
from sparkbt.adapters.cli.show import print_trades


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def run(sample, tmp_path):
    """A stored run with stop-loss, take-profit and signal exits."""
    res = sb.backtest(sample, "sma_cross", fast=5, slow=30, fees=0.001, sl_stop=0.03, tp_stop=0.08)
    return res.save(tmp_path / "ev"), res


def test_trades_table(run) -> None:
    path, res = run
    shown = invoke("show", res.run_id[:8], "--trades", "--evidence-dir", str(path.parents[1]))
    assert shown.exit_code == 0, shown.output
    assert f"trades of run {res.run_id}" in shown.stdout
    for pnl in res.trades.pnl:
        assert f"{pnl:,.2f}" in shown.stdout
    assert "take profit" in shown.stdout and "stop loss" in shown.stdout


@pytest.mark.parametrize("width", [80, 120])
def test_trades_table_fits_the_terminal(run, width) -> None:
    _, res = run
    out = io.StringIO()
    print_trades(Console(file=out, width=width, color_system=None), "trades", res.trades)
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= width
    assert "…" not in text
    assert all(f"{r:+.2%}" in text for r in res.trades["return"])


def test_trades_as_json_records(run) -> None:
    path, res = run
    shown = invoke("show", res.run_id, "--trades", "--json", "--evidence-dir", str(path.parents[1]))
    assert shown.exit_code == 0, shown.output
    records = json.loads(shown.stdout)
    assert len(records) == len(res.trades)
    assert list(records[0]) == list(res.trades.columns)
    assert records[0]["entry_time"] == res.trades.entry_time[0].isoformat()
    assert [r["pnl"] for r in records] == pytest.approx(list(res.trades.pnl), rel=1e-15)


def test_trades_of_a_sweep_is_a_one_line_error(sample, tmp_path) -> None:
    from sparkbt.research.sweep_evidence import save_sweep

    path = save_sweep(sb.sweep(sample, fast=[5, 10], slow=[30], workers=1), tmp_path)
    res = invoke("show", path.name, "--trades", "--evidence-dir", str(tmp_path))
    assert res.exit_code == 2
    assert res.stderr.count("\n") == 1 and "backtest runs only" in res.stderr


def test_unknown_id_says_which_root_it_searched(tmp_path, monkeypatch) -> None:
    root = tmp_path / "somewhere"
    res = invoke("show", "deadbeef", "--evidence-dir", str(root))
    assert res.exit_code == 2 and res.stderr.count("\n") == 1
    assert "no evidence for 'deadbeef'" in res.stderr and str(root.absolute()) in res.stderr
    assert "--evidence-dir" in res.stderr and "SPARKBT_EVIDENCE_DIR" in res.stderr

    monkeypatch.setenv("SPARKBT_EVIDENCE_DIR", str(tmp_path / "from-env"))
    res = invoke("show", "deadbeef")
    assert res.exit_code == 2 and res.stderr.count("\n") == 1
    assert str(tmp_path / "from-env") in res.stderr and "$SPARKBT_EVIDENCE_DIR" in res.stderr

    monkeypatch.delenv("SPARKBT_EVIDENCE_DIR")
    monkeypatch.chdir(tmp_path)
    res = invoke("show", "deadbeef")
    assert res.exit_code == 2 and res.stderr.count("\n") == 1
    assert str(tmp_path / "evidence") in res.stderr and "default ./evidence" in res.stderr
