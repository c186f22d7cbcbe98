"""``sparkbt sweep`` / ``walk-forward``: output, evidence, and exit 2 on bad input."""

from __future__ import annotations

import json
import sys

import pytest
from typer.testing import CliRunner

from sparkbt.adapters.cli.app import app


@pytest.fixture
def data(candles, tmp_path):
    path = tmp_path / "candles.parquet"
    candles.to_parquet(path)
    return str(path)


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def run_json(*args: str) -> dict:
    """The parsed ``--json`` report of a quiet one-worker run that must succeed."""
    res = run(*args, "--json", "-q", "--workers", "1")
    assert res.exit_code == 0, res.output
    return dict(json.loads(res.stdout))


def test_sweep_prints_top_and_writes_evidence(data, tmp_path) -> None:
    ev = tmp_path / "ev"
    out = run_json(
        "sweep",
        "--data",
        data,
        "--fast",
        "3:12:3",
        "--slow",
        "20,40",
        "--where",
        "fast*3 < slow",
        "--metric",
        "total_return",
        "--top",
        "3",
        "--fees",
        "0.001",
        "--evidence-dir",
        str(ev),
    )
    assert out["combinations"] == 6 and len(out["top"]) == 3
    assert (ev / "sweep" / out["id"] / "sweep.json").is_file()
    res = run(
        "sweep",
        "--data",
        data,
        "--fast",
        "3:6",
        "--slow",
        "30",
        "--evidence-dir",
        str(ev),
        "--max-memory",
        "500MB",
        "--workers",
        "1",
    )
    assert res.exit_code == 0, res.output
    assert "top 10 of 4 by sharpe" in res.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fsat", "5:10"], "did you mean '--fast'"),
        (["--fast", "5:"], "invalid range"),
        (["--fast", "10:5"], "is empty"),
        (["--fast", "5,6", "--where", "fast > slow"], "filters out every combination"),
        (
            ["--fast", "5", "--executor", "dask", "--scheduler", "tcp://127.0.0.1:9"],
            "cannot reach the Dask scheduler",
        ),
        (["--fast", "5", "--max-memory", "lots"], "max_memory"),
        (["--fast", "5", "--metric", "sharpie"], "did you mean 'sharpe'"),
        (["--fast", "5", "--sl-stop", "0.01,2"], "sl_stop: must be a fraction in (0, 1)"),
        (["--fast", "5", "--sl-stop", "0.05:0.01"], "is empty"),
        (["--fast", "5", "--gate", "cooldwn=3"], "did you mean 'cooldown'"),
        (["--fast", "5", "--fill", "close,later"], "fill: expected close or next_open"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(data, tmp_path, args, message) -> None:
    ev = tmp_path / "ev"
    res = run("sweep", "--data", data, "--evidence-dir", str(ev), "-q", *args)
    assert res.exit_code == 2, res.output
    assert message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not (ev / "sweep").exists() or not any((ev / "sweep").iterdir())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fast", "1:1000000000", "--slow", "50"], "'fast' has 1,000,000,000 values"),
        (["--fast", "5", "--fees", "0:0.01:1e-12"], "--fees: range '0:0.01:1e-12' has"),
    ],
)
def test_oversized_grids_exit_2_at_once(data, tmp_path, args, message) -> None:
    import time

    started = time.perf_counter()
    res = run("sweep", "--data", data, "--evidence-dir", str(tmp_path / "ev"), "-q", *args)
    assert time.perf_counter() - started < 5  # generous: listing the grid takes minutes or all RAM
    assert res.exit_code == 2, res.output
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_walk_forward_json(data) -> None:
    out = run_json(
        "walk-forward",
        "--data",
        data,
        "--fast",
        "3,8",
        "--slow",
        "20,40",
        "--train",
        "500",
        "--test",
        "250",
    )
    assert out["summary"]["folds"] == len(out["folds"]) == 4


def test_sweep_without_matplotlib_says_once_how_to_get_the_heatmap(data, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    ev = tmp_path / "ev"
    args = ["sweep", "--data", data, "--fast", "3,6", "--slow", "20,40", "-q", "--workers", "1"]
    res = run(*args, "--evidence-dir", str(ev), "--json")
    assert res.exit_code == 0, res.output
    assert res.stderr.count('pip install "sparkbt[plot]"') == 1
    assert res.stderr.startswith("note: heatmap skipped")
    meta = json.loads((ev / "sweep" / json.loads(res.stdout)["id"] / "sweep.json").read_text())
    assert meta["heatmap"] is None and "sparkbt[plot]" in meta["heatmap_skipped"]
    res = run(*args, "--no-save")  # nothing saved, nothing skipped
    assert res.exit_code == 0 and "sparkbt[plot]" not in res.stderr


def test_sweep_and_run_show_statistics_the_same_way(tmp_path) -> None:
    from sparkbt.engine.result import format_stat

    swept = CliRunner().invoke(
        app, ["sweep", "--fast", "5", "--slow", "30", "--no-save", "-q", "--workers", "1"]
    )
    ran = CliRunner().invoke(app, ["run", "--fast", "5", "--slow", "30", "--json", "--no-save"])
    assert swept.exit_code == 0 and ran.exit_code == 0, swept.output + ran.output
    stats = json.loads(ran.stdout)["stats"]
    for key in ("total_return", "max_drawdown", "win_rate", "sharpe"):
        assert format_stat(key, stats[key]) in swept.stdout, key
