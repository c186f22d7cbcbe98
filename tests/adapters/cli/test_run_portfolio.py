"""``sparkbt run`` of a portfolio: --symbols, --data SYMBOL=FILE, output, show, bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import sparkbt as sb
from sparkbt.adapters.cli.app import app

runner = CliRunner()

ASSET_KEYS = {"pnl", "contribution", "fees", "trades", "exposure", "mean_abs_weight"}

BAD_STRATEGIES = """\
import pandas as pd


def over_gross(panel):
    return pd.DataFrame(0.6, index=panel.index, columns=panel.symbols)


def stranger(panel):
    return pd.DataFrame(0.1, index=panel.index, columns=["XRPUSDT"])
"""


def invoke(*args: str):
    return runner.invoke(app, list(args))


def write_candles(path: Path, n: int = 400, **kw) -> Path:
    sb.synthetic_candles(n, **kw).reset_index().to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("candles")
    return {
        "BTCUSDT": write_candles(root / "btc.csv", seed=1, price=30000.0),
        "ETHUSDT": write_candles(root / "eth.csv", seed=2, price=2000.0),
        "SOLTRY": write_candles(root / "sol.csv", seed=3, price=900.0),
        "ETH1H": write_candles(root / "eth1h.csv", seed=4, timeframe="1h"),
    }


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> tuple[Path, dict]:
    """A momentum rotation over three packaged samples, saved, and its --json report."""
    ev = tmp_path_factory.mktemp("evidence")
    res = invoke(
        "run",
        "--symbols",
        "BTCUSDT,ETHUSDT,SOLUSDT",
        "--timeframe",
        "4h",
        "--strategy",
        "momentum_rotation",
        "--k",
        "2",
        "--fees",
        "0.001",
        "--json",
        "--evidence-dir",
        str(ev),
    )
    assert res.exit_code == 0, res.output
    return ev, json.loads(res.stdout)


def test_symbols_run_reads_the_samples_and_prints_the_report(stored):
    ev, report = stored
    assert report["kind"] == "portfolio" and report["engine_version"] == "3"
    assert report["params"]["k"] == 2
    meta = report["metadata"]
    assert meta["symbols"] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert set(meta["sources"].values()) == {"sample"} and meta["timeframe"] == "4h"
    assert {"turnover", "rejected_orders", "sharpe", "total_fees"} <= set(report["stats"])
    assert set(report["assets"]) == set(meta["symbols"])
    assert all(set(row) == ASSET_KEYS for row in report["assets"].values())
    pnl = sum(row["pnl"] for row in report["assets"].values())
    assert pnl == pytest.approx(report["stats"]["pnl"], abs=1e-6)
    folder = ev / "backtest" / report["id"]
    assert json.loads((folder / "report.json").read_text()) == report
    assert (folder / "assets.parquet").is_file() and (folder / "weights.parquet").is_file()


def test_symbols_run_summary_has_the_per_symbol_table(tmp_path):
    res = invoke(
        "run",
        "--symbols",
        "btcusdt,ETHUSDT",
        "--strategy",
        "equal_weight",
        "--every",
        "1W",
        "--evidence-dir",
        str(tmp_path),
    )
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "turnover" in out and "rejected_orders" in out
    assert "per symbol" in out and "mean |weight|" in out and "contribution" in out
    assert "portfolio of BTCUSDT, ETHUSDT 4h (synthetic samples)" in out
    assert out.strip().splitlines()[-1].startswith(f"evidence: {tmp_path}")


def test_data_files_run_a_portfolio_of_files(files, tmp_path):
    res = invoke(
        "run",
        "--data",
        f"BTCUSDT={files['BTCUSDT']}",
        "--data",
        f"ETHUSDT={files['ETHUSDT']}",
        "--strategy",
        "inverse_volatility",
        "--window",
        "20",
        "--json",
        "--evidence-dir",
        str(tmp_path),
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["metadata"]["symbols"] == ["BTCUSDT", "ETHUSDT"]
    assert report["metadata"]["sources"] == {"BTCUSDT": "file", "ETHUSDT": "file"}
    assert report["metadata"]["candle_count"] == 400 and report["params"]["window"] == 20
    assert (tmp_path / "backtest" / report["id"] / "report.json").is_file()


def test_targets_strategy_over_several_symbols_is_a_portfolio(files):
    res = invoke(
        "run",
        "--data",
        f"BTCUSDT={files['BTCUSDT']}",
        "--data",
        f"ETHUSDT={files['ETHUSDT']}",
        "--fast",
        "5",
        "--slow",
        "20",
        "--json",
        "--no-save",
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["kind"] == "portfolio" and report["strategy"] == "sma_cross"
    assert report["params"] == {"fast": 5, "slow": 20}


def test_weights_strategy_on_one_symbol_is_a_one_symbol_portfolio(files):
    res = invoke("run", "--strategy", "equal_weight", "--symbol", "BTCUSDT", "--json", "--no-save")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["kind"] == "portfolio" and report["metadata"]["symbols"] == ["BTCUSDT"]
    one = invoke("run", "--strategy", "equal_weight", "--data", str(files["ETHUSDT"]), "--no-save")
    assert one.exit_code == 0, one.output
    assert "per symbol" in one.stdout


def test_single_symbol_run_is_unchanged(files):
    res = invoke("run", "--data", str(files["ETHUSDT"]), "--json", "--no-save")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert "kind" not in report and report["engine_version"] == "2"
    assert report["metadata"]["source"] == "file" and "assets" not in report
    res = invoke("run", "--symbol", "BTCUSDT", "--no-save")
    assert res.exit_code == 0 and "per symbol" not in res.stdout


def test_show_prints_a_stored_portfolio(stored):
    ev, report = stored
    res = invoke("show", report["id"], "--evidence-dir", str(ev))
    assert res.exit_code == 0, res.output
    assert "stored run: momentum_rotation" in res.stdout.replace("\n", " ")
    assert "per symbol" in res.stdout and "SOLUSDT" in res.stdout
    assert f"run {report['id']}" in res.stdout
    res = invoke("show", report["id"][:8], "--evidence-dir", str(ev), "--json")
    assert res.exit_code == 0 and json.loads(res.stdout) == report


def test_show_trades_of_a_portfolio_name_their_symbol(stored):
    ev, report = stored
    res = invoke("show", report["id"], "--evidence-dir", str(ev), "--trades", "--json")
    assert res.exit_code == 0, res.output
    trades = json.loads(res.stdout)
    assert len(trades) == report["stats"]["total_trades"]
    assert {t["symbol"] for t in trades} == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    res = invoke("show", report["id"], "--evidence-dir", str(ev), "--trades")
    assert res.exit_code == 0, res.output
    for sym in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        assert f"momentum_rotation · {sym}" in res.stdout
    assert all(f"{p:,.2f}" in res.stdout for p in (t["pnl"] for t in trades))
    assert max(len(line) for line in res.stdout.splitlines()) <= 80 and "…" not in res.stdout


def test_strategies_list_their_kind():
    res = invoke("strategies", "--json")
    assert res.exit_code == 0
    kinds = {s["name"]: s["kind"] for s in json.loads(res.stdout)}
    assert kinds["sma_cross"] == "targets" and kinds["momentum_rotation"] == "weights"
    table = runner.invoke(app, ["strategies"], env={"COLUMNS": "200"})
    row = next(line for line in table.stdout.splitlines() if "│ momentum_rotation " in line)
    assert "weights" in row


@pytest.fixture
def bad_strategies(tmp_path) -> Path:
    path = tmp_path / "bad.py"
    path.write_text(BAD_STRATEGIES)
    return path


def _bad_cases(files: dict[str, Path], bad: Path) -> list[tuple[list[str], str]]:
    btc, eth = f"BTCUSDT={files['BTCUSDT']}", f"ETHUSDT={files['ETHUSDT']}"
    return [
        (["--symbols", "BTCUSDT,FOOUSDT"], "FOOUSDT"),
        (["--data", btc, "--data", f"SOLTRY={files['SOLTRY']}"], "TRY (SOLTRY)"),
        (["--data", btc, "--data", f"ETH={files['ETH1H']}"], "1h (ETH)"),
        (["--data", btc, "--data", "ETHUSDT=missing.csv"], "ETHUSDT: missing.csv"),
        (["--data", btc, "--data", eth, "--strategy", f"{bad}:over_gross"], "gross 1.2"),
        (["--data", btc, "--data", eth, "--strategy", f"{bad}:stranger"], "XRPUSDT"),
        (["--symbols", "BTCUSDT,ETHUSDT", "--sl-stop", "0.02"], "sl_stop"),
        (["--symbols", "BTCUSDT,ETHUSDT", "--tp-stop", "0.1"], "tp_stop"),
        (["--symbols", "BTCUSDT,ETHUSDT", "--gate", "loss_streak=3"], "loss_streak"),
        (["--symbols", "BTCUSDT,ETHUSDT", "--gate", "cooldown=5"], "cooldown"),
        (["--strategy", "equal_weight", "--sl-stop", "0.02"], "sl_stop"),
        (["--symbols", "BTCUSDT,ETHUSDT", "--symbol", "ETHUSDT"], "--symbols and --symbol"),
        (["--symbols", "BTCUSDT", "--data", btc], "--symbols and --data"),
        (["--symbols", "BTCUSDT,,ETHUSDT"], "position 2"),
        (["--data", btc, "--data", f"btcusdt={files['ETHUSDT']}"], "symbol btcusdt given twice"),
        (["--data", btc, "--symbol", "ETHUSDT", "--data", eth], "--symbol names the file"),
        (["--symbols", "BTCUSDT,ETHUSDT", "--strategy", "momentum_rotation", "--k", "0"], "'k'"),
    ]


def test_bad_input_is_one_line_and_exit_2(files, bad_strategies):
    for args, named in _bad_cases(files, bad_strategies):
        res = invoke("run", *args, "--no-save")
        assert res.exit_code == 2, (args, res.output)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, res.stderr)
        assert named in lines[0], (args, lines[0])
        assert "Traceback" not in res.output and res.stdout == ""


def test_report_html_of_a_portfolio(stored, tmp_path):
    ev, report = stored
    out = tmp_path / "p.html"
    res = invoke("report", report["id"], "--evidence-dir", str(ev), "--html", str(out))
    assert res.exit_code == 0, res.output
    text = out.read_text()
    # the service's portfolio page, every asset inlined: nothing loaded from elsewhere
    assert report["id"] in text and "<script src=" not in text
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I)
    for sym in report["assets"]:
        assert sym in text


def test_portfolio_source_tells_one_symbol_from_a_portfolio(tmp_path, monkeypatch):
    from sparkbt.adapters.cli.args import portfolio_source

    monkeypatch.chdir(tmp_path)
    (tmp_path / "a=b.csv").write_text("")  # a file whose name has an '=' is a file
    assert portfolio_source([], None) is None
    assert portfolio_source(["c.csv"], None) is None
    assert portfolio_source(["a=b.csv"], None) is None
    assert portfolio_source(["dir/x=1.csv"], None) is None
    assert portfolio_source(["BTC=btc.csv"], None) == {"BTC": Path("btc.csv")}
    assert portfolio_source([], "btcusdt,ethusdt") == ["BTCUSDT", "ETHUSDT"]
