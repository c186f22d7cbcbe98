"""Walk-forward evidence (walkforward/<id>/) and a fold table that fits 80 and 120 columns."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

import sparkbt as sb
from sparkbt.adapters.cli.app import app
from sparkbt.adapters.cli.sweeps import print_walk_forward
from sparkbt.evidence import content_id
from sparkbt.research.sweep_evidence import WalkForwardEvidence, save_walk_forward
from sparkbt.research.walkforward import walk_forward
from sparkbt.version import TARGETS_VERSION

GRID = {"fast": [3, 8], "slow": [20, 40]}


@pytest.fixture(scope="module")
def wf(candles):
    return walk_forward(candles, "sma_cross", train=500, test=250, fees=0.001, workers=1, **GRID)


def test_saved_walk_forward_reads_back(wf, tmp_path) -> None:
    path = wf.save(tmp_path)
    assert path.parent == tmp_path / "walkforward"
    assert sorted(p.name for p in path.iterdir()) == [
        "folds.parquet",
        "oos.parquet",
        "walkforward.json",
    ]
    meta = json.loads((path / "walkforward.json").read_text())
    ident = meta["identity"]
    assert meta["id"] == path.name == content_id(ident)
    assert ident["kind"] == "walkforward" and ident["engine_version"] == TARGETS_VERSION
    assert ident["grid"] == GRID and ident["metric"] == "sharpe"
    assert (ident["train"], ident["test"], ident["step"]) == (500, 250, 250)
    assert ident["config"]["fees"] == 0.001 and ident["strategy"] == "sma_cross"
    assert len(ident["data_sha256"]) == 64 and len(ident["strategy_sha256"]) == 64
    assert "timing" not in ident and meta["timing"]["folds"] == len(wf.folds)
    ev = sb.read_evidence(path.name[:8], tmp_path)
    assert isinstance(ev, WalkForwardEvidence) and ev.id == path.name
    pd.testing.assert_frame_equal(ev.folds, wf.folds)
    pd.testing.assert_frame_equal(ev.oos, wf.oos)
    assert ev.summary["folds"] == wf.summary["folds"] and ev.params == ["fast", "slow"]


def test_id_depends_on_inputs_not_timing(candles, wf, tmp_path) -> None:
    again = walk_forward(candles, "sma_cross", train=500, test=250, fees=0.001, workers=2, **GRID)
    other = walk_forward(candles, "sma_cross", train=500, test=200, fees=0.001, workers=1, **GRID)
    a, b = wf.save(tmp_path), save_walk_forward(again, tmp_path)
    assert a == b
    assert (a / "folds.parquet").read_bytes() == (b / "folds.parquet").read_bytes()
    assert other.save(tmp_path) != a


@pytest.mark.usefixtures("disk_full")
def test_failed_write_leaves_nothing(wf, tmp_path) -> None:
    with pytest.raises(OSError, match="disk full"):
        wf.save(tmp_path)
    assert list((tmp_path / "walkforward").iterdir()) == []


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize(
    ("strategy", "grid", "metric"),
    [
        ("sma_cross", GRID, "sharpe"),
        ("rsi_reversion", {"window": [5, 14], "lower": [20.0, 30.5]}, "max_drawdown_duration"),
        ("bollinger", {"window": [10, 30], "k": [1.0, 2.5]}, "total_return"),
    ],
)
def test_fold_table_fits_the_terminal(candles, width, strategy, grid, metric) -> None:
    res = walk_forward(candles, strategy, train=400, test=150, metric=metric, workers=1, **grid)
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None)
    print_walk_forward(console, f"walk-forward {strategy}", res.folds, res.summary, res.params)
    lines = out.getvalue().splitlines()
    assert len(lines) > len(res.folds)
    assert max(len(line) for line in lines) <= width
    assert "…" not in out.getvalue()  # nothing cut short
    for fold in res.folds.itertuples():
        assert str(fold.test_start)[:10] in out.getvalue()


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_walk_forward_command_saves_and_show_reads_it(candles, tmp_path) -> None:
    data = tmp_path / "candles.parquet"
    candles.to_parquet(data)
    ev = tmp_path / "ev"
    args = ["walk-forward", "--data", str(data), "--fast", "3,8", "--slow", "20,40"]
    args += ["--train", "500", "--test", "250", "-q", "--workers", "1", "--evidence-dir", str(ev)]
    res = run(*args)
    assert res.exit_code == 0, res.output
    (folder,) = (ev / "walkforward").iterdir()
    assert f"evidence: {folder}" in res.stdout
    res = run(*args, "--json")
    out = json.loads(res.stdout)
    assert out["id"] == folder.name and out["summary"]["folds"] == len(out["folds"]) == 4
    shown = run("show", folder.name[:10], "--evidence-dir", str(ev))
    assert shown.exit_code == 0, shown.output
    assert "walk-forward sma_cross" in shown.stdout and str(folder) in shown.stdout
    shown = run("show", folder.name, "--evidence-dir", str(ev), "--json")
    assert json.loads(shown.stdout)["id"] == folder.name
    res = run(*args[:-2], "--evidence-dir", str(tmp_path / "none"), "--no-save")
    assert res.exit_code == 0 and not (tmp_path / "none").exists()
    assert "evidence:" not in res.stdout
