"""The core CLI through typer's runner: output, exit codes, one-line errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from sparkbt.adapters.cli.app import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args))


def test_run_json_is_exactly_the_report(tmp_path):
    res = invoke(
        "run",
        "--strategy",
        "sma_cross",
        "--fast",
        "10",
        "--slow",
        "30",
        "--fees",
        "0.001",
        "--json",
        "--evidence-dir",
        str(tmp_path),
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["params"] == {"fast": 10, "slow": 30}
    assert report["metadata"]["symbol"] == "ETHUSDT"
    assert report["metadata"]["timeframe"] == "4h"
    stored = tmp_path / "backtest" / report["id"] / "report.json"
    assert json.loads(stored.read_text()) == report


def test_run_table_ends_with_the_evidence_path(tmp_path):
    res = invoke("run", "--fast=5", "--slow", "20", "--evidence-dir", str(tmp_path))
    assert res.exit_code == 0, res.output
    assert "sharpe" in res.stdout and "max_drawdown" in res.stdout
    last = res.stdout.strip().splitlines()[-1]
    assert last.startswith("evidence: ") and str(tmp_path) in last
    shown = invoke("show", last.split("/")[-1], "--evidence-dir", str(tmp_path), "--json")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["params"]["fast"] == 5


def test_run_reads_a_file_and_the_store(tmp_path, sample):
    path = tmp_path / "c.parquet"
    sample.iloc[:500].to_parquet(path)
    res = invoke("run", "--data", str(path), "--json", "--no-save")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["metadata"]["candle_count"] == 500
    import sparkbt as sb

    sb.CandleStore(tmp_path / "store").merge(
        "BTCTRY", "1h", sb.synthetic_candles(300, timeframe="1h")
    )
    res = invoke(
        "run",
        "--symbol",
        "BTCTRY",
        "--timeframe",
        "1h",
        "--data-dir",
        str(tmp_path / "store"),
        "--json",
        "--no-save",
    )
    assert res.exit_code == 0, res.output
    meta = json.loads(res.stdout)["metadata"]
    assert (meta["symbol"], meta["timeframe"], meta["candle_count"]) == ("BTCTRY", "1h", 300)


@pytest.mark.parametrize(
    "args,message",
    [
        (["--strategy", "sma_crss"], "did you mean 'sma_cross'"),
        (["--fast", "10", "--slw", "30"], "unknown option '--slw'"),
        (["--fast", "40", "--slow", "30"], "fast < slow is required"),
        (["--fast", "x"], "parameter 'fast' must be an int"),
        (["--fast"], "option '--fast' needs a value"),
        (["--fees", "2"], "fees: must be a fraction"),
        (["--direction", "up"], "direction: expected long, short or both"),
        (["--cash", "-5"], "cash: must be > 0"),
        (["--data", "/nonexistent/c.csv"], "file not found"),
        (["--symbol", "NOPE", "--timeframe", "1h"], "no candles for NOPE 1h"),
        (["--timeframe", "fortnight"], "timeframe: expected"),
        (["--sl-stop", "-0.1"], "sl_stop: must be a fraction in (0, 1)"),
        (["--tp-stop", "1"], "tp_stop: must be a fraction in (0, 1)"),
        (["--fill", "open"], "fill: expected close or next_open"),
        (["--gate", "max_dd=0.2"], "did you mean 'max_drawdown'"),
        (["--gate", "max_drawdown=lots"], "gate max_drawdown: expected a number"),
        (["--gate", "max_drawdown"], "gate: expected NAME=LIMIT"),
        (["--gate", "loss_streak=0"], "gate loss_streak: expected a whole number in [1, "),
        (["--year-days", "0"], "year_days: must be in [1, 366]"),
        (["--fee", "0.001"], "did you mean '--fees'"),
    ],
)
def test_run_user_mistakes_exit_2_with_one_line(tmp_path, args, message):
    res = invoke("run", *args, "--evidence-dir", str(tmp_path))
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in res.output
    assert not (tmp_path / "backtest").exists()


def test_strategies_and_data_validate(tmp_path, sample):
    res = invoke("strategies", "--json")
    assert res.exit_code == 0
    names = {s["name"] for s in json.loads(res.stdout)}
    assert {"sma_cross", "buy_and_hold"} <= names
    assert "sma_cross" in invoke("strategies").stdout
    good = tmp_path / "good.csv"
    sample.iloc[:10].reset_index().to_csv(good, index=False)
    res = invoke("data", "validate", str(good), "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["rows"] == 10
    bad = tmp_path / "bad.csv"
    frame = sample.iloc[:10].reset_index()
    frame.loc[4, "high"] = 1.0
    frame.to_csv(bad, index=False)
    res = invoke("data", "validate", str(bad))
    assert res.exit_code == 2 and "line 6" in res.stderr and "'high'" in res.stderr


def test_show_unknown_id_exits_2(tmp_path):
    res = invoke("show", "deadbeef", "--evidence-dir", str(tmp_path))
    assert res.exit_code == 2 and "no evidence for 'deadbeef'" in res.stderr


def test_help_explains_options():
    res = invoke("run", "--help")
    assert res.exit_code == 0
    for opt in (
        "--strategy",
        "--data",
        "--symbol",
        "--timeframe",
        "--fees",
        "--slippage",
        "--cash",
        "--direction",
        "--evidence-dir",
        "--json",
        "sma_cross: --fast",
    ):
        assert opt in res.stdout, opt


def test_run_with_stops_and_gates_shows_exits_and_stores_options(tmp_path):
    args = ["run", "--fast", "10", "--slow", "30", "--fees", "0.001", "--sl-stop", "0.03"]
    args += ["--tp-stop", "0.06", "--sl-trail", "--fill", "next_open"]
    args += ["--gate", "max_drawdown=0.3", "--gate", "cooldown=3", "--evidence-dir", str(tmp_path)]
    res = invoke(*args)
    assert res.exit_code == 0, res.output
    assert "exits by reason" in res.stdout and "trailing_stop" in res.stdout
    folder = tmp_path / "backtest" / res.stdout.strip().splitlines()[-1].split("/")[-1]
    report = json.loads((folder / "report.json").read_text())
    cfg = report["config"]
    assert (cfg["fill"], cfg["sl_stop"], cfg["tp_stop"], cfg["sl_trail"]) == (
        "next_open",
        0.03,
        0.06,
        True,
    )
    assert cfg["gates"] == {"cooldown": 3, "max_drawdown": 0.3} and cfg["year_days"] == 365
    assert (folder / "locks.parquet").exists()


def test_version_prints_package_and_engine_versions():
    from sparkbt.version import ENGINE_VERSION, __version__

    res = invoke("--version")
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == f"sparkbt {__version__} (engine {ENGINE_VERSION})"


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["run"],
        ["data"],
        ["data", "list"],
        ["data", "validate"],
        ["strategies"],
        ["show"],
        ["sweep"],
    ],
)
def test_short_h_is_help_everywhere(args):
    short, long = invoke(*args, "-h"), invoke(*args, "--help")
    assert short.exit_code == 0 == long.exit_code, short.output
    assert "Usage:" in short.stdout and short.stdout == long.stdout


def test_evidence_dir_comes_from_the_environment_unless_given(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARKBT_EVIDENCE_DIR", str(tmp_path / "from-env"))
    res = invoke("run", "--fast", "5", "--slow", "20", "--json")
    assert res.exit_code == 0, res.output
    run_id = json.loads(res.stdout)["id"]
    assert (tmp_path / "from-env" / "backtest" / run_id / "report.json").is_file()
    shown = invoke("show", run_id[:8], "--json")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["id"] == run_id
    res = invoke("run", "--fast", "6", "--slow", "20", "--evidence-dir", str(tmp_path / "flag"))
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "flag" / "backtest").iterdir())) == 1
    assert len(list((tmp_path / "from-env" / "backtest").iterdir())) == 1


def test_no_help_text_has_brackets_that_rich_would_swallow():
    # rich reads "[env X, default Y]" as markup and prints nothing of it
    import typer.main

    def walk(cmd, path):
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                yield from walk(sub, [*path, name])
        else:
            for p in cmd.params:
                yield " ".join(path), p.name, getattr(p, "help", None) or ""

    bad = [(c, n, h) for c, n, h in walk(typer.main.get_command(app), []) if "[" in h and "]" in h]
    assert not bad
    assert len(list(walk(typer.main.get_command(app), []))) > 100  # every command was walked
