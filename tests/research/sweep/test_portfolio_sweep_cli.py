"""``sparkbt sweep`` / ``walk-forward`` of a portfolio: --symbols, --data SYM=FILE, refusals."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import sparkbt as sb
from sparkbt.adapters.cli.app import app

SAMPLES = "ETHUSDT,BTCUSDT,SOLUSDT,AVAXUSDT"


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def run_json(*args: str) -> dict:
    res = run(*args, "--json", "-q", "--workers", "1")
    assert res.exit_code == 0, res.output
    return dict(json.loads(res.stdout))


def test_sweep_symbols_over_the_samples(tmp_path) -> None:
    ev = tmp_path / "ev"
    out = run_json(
        "sweep",
        "--symbols",
        SAMPLES,
        "--timeframe",
        "4h",
        "--strategy",
        "momentum_rotation",
        "--lookback",
        "10:120:10",
        "--k",
        "1,2,3",
        "--fees",
        "0.001",
        "--evidence-dir",
        str(ev),
    )
    assert out["combinations"] == 36 and out["timing"]["symbols"] == 4
    best = out["top"][0]
    panel = sb.load_panel(SAMPLES.split(","), timeframe="4h")
    res = sb.backtest(
        panel, "momentum_rotation", lookback=best["lookback"], k=best["k"], fees=0.001
    )
    assert best["sharpe"] == res.stats["sharpe"] and best["turnover"] == res.stats["turnover"]
    stored = sb.read_evidence(ev / "sweep" / out["id"])
    assert stored.meta["identity"]["symbols"] == SAMPLES.split(",")
    shown = run("show", out["id"], "--evidence-dir", str(ev))
    assert shown.exit_code == 0 and f"36 combinations · {SAMPLES} 4h" in shown.output


def test_sweep_data_files_equal_the_store_symbols(tmp_path) -> None:
    panel = sb.load_panel(["ETHUSDT", "BTCUSDT"], timeframe="4h")
    args = []
    for sym, frame in panel.frames.items():
        path = tmp_path / f"{sym}.parquet"
        frame.to_parquet(path)
        args += ["--data", f"{sym}={path}"]
    grid = ["--strategy", "momentum_rotation", "--lookback", "20,40", "--no-save"]
    files = run_json("sweep", *args, "--timeframe", "4h", *grid)
    store = run_json("sweep", "--symbols", "ETHUSDT,BTCUSDT", *grid)
    assert files["top"] == store["top"]


def test_walk_forward_symbols(tmp_path) -> None:
    out = run_json(
        "walk-forward",
        "--symbols",
        SAMPLES,
        "--strategy",
        "momentum_rotation",
        "--lookback",
        "10:60:10",
        "--train",
        "360d",
        "--test",
        "90d",
        "--evidence-dir",
        str(tmp_path),
    )
    assert out["summary"]["folds"] == len(out["folds"]) == 7
    assert out["folds"][0]["symbols"] == "ETHUSDT,BTCUSDT,SOLUSDT"
    stored = sb.read_evidence(tmp_path / "walkforward" / out["id"])
    assert stored.meta["identity"]["run_kind"] == "portfolio"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--symbols", "ETHUSDT,,BTCUSDT"], "--symbols: empty symbol at position 2"),
        (["--symbols", "ETHUSDT", "--data", "x.csv"], "give the symbols one way, not both"),
        (["--data", "ETHUSDT=/no/such.csv", "--data", "BTC.csv"], "expected SYMBOL=FILE"),
        (["--data", "ETHUSDT=/no/such.csv", "--data", "BTCUSDT=/x.csv"], "file not found"),
        (["--symbols", "ETHUSDT,BTCUSDT", "--sl-stop", "0.05"], "per-trade rules"),
        (["--symbols", "ETHUSDT,BTCUSDT", "--tp-stop", "0.1"], "tp_stop: stops"),
    ],
)
@pytest.mark.parametrize("command", ["sweep", "walk-forward"])
def test_bad_input_is_one_line_and_exit_2(command, args, message) -> None:
    extra = ["--train", "300", "--test", "100"] if command == "walk-forward" else []
    res = run(
        command, "-q", "--strategy", "momentum_rotation", "--lookback", "10,20", *extra, *args
    )
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], res.output
