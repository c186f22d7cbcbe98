"""Sweep evidence: content id, atomic folder, heatmap, read back through read_evidence."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest

from sparkbt.evidence import read_evidence
from sparkbt.research.sweep import sweep
from sparkbt.research.sweep_evidence import SweepEvidence, save_sweep


@pytest.fixture
def results(candles) -> pd.DataFrame:
    return sweep(candles, "sma_cross", fast="3:15:3", slow=[20, 40], fees=0.001, workers=1)


def test_saved_sweep_reads_back(results, tmp_path) -> None:
    path = save_sweep(results, tmp_path, metric="total_return", top=3)
    assert path.parent == tmp_path / "sweep"
    assert sorted(p.name for p in path.iterdir()) == [
        "heatmap.png",
        "results.parquet",
        "sweep.json",
    ]
    assert (path / "heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    meta = json.loads((path / "sweep.json").read_text())
    assert meta["id"] == path.name and meta["combinations"] == len(results)
    assert [r["total_return"] for r in meta["top"]] == sorted(results.total_return, reverse=True)[
        :3
    ]
    ev = read_evidence(path.name[:8], tmp_path)
    assert isinstance(ev, SweepEvidence) and ev.id == path.name
    pd.testing.assert_frame_equal(ev.results, results.reset_index(drop=True))


def test_id_depends_on_inputs_not_timing(candles, results, tmp_path) -> None:
    again = sweep(candles, "sma_cross", fast="3:15:3", slow=[20, 40], fees=0.001, workers=2)
    other = sweep(candles, "sma_cross", fast="3:15:3", slow=[20, 40], fees=0.002, workers=1)
    a, b = save_sweep(results, tmp_path), save_sweep(again, tmp_path)
    assert a == b
    assert save_sweep(other, tmp_path) != a
    assert (a / "results.parquet").read_bytes() == (b / "results.parquet").read_bytes()


@pytest.mark.usefixtures("disk_full")
def test_failed_write_leaves_nothing(results, tmp_path) -> None:
    with pytest.raises(OSError, match="disk full"):
        save_sweep(results, tmp_path)
    assert list((tmp_path / "sweep").iterdir()) == []


def test_saving_a_heatmap_leaves_the_matplotlib_backend_alone(results, tmp_path) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    before = matplotlib.get_backend()
    matplotlib.use("svg")  # a user's backend that is not Agg
    try:
        figures = plt.get_fignums()
        path = save_sweep(results, tmp_path)
        assert (path / "heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert matplotlib.get_backend() == "svg"
        assert plt.get_fignums() == figures  # no pyplot figure opened or left behind
    finally:
        matplotlib.use(before)


def test_without_matplotlib_the_heatmap_is_skipped_and_says_why(results, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    path = save_sweep(results, tmp_path)
    assert sorted(p.name for p in path.iterdir()) == ["results.parquet", "sweep.json"]
    meta = json.loads((path / "sweep.json").read_text())
    assert meta["heatmap"] is None
    assert 'pip install "sparkbt[plot]"' in meta["heatmap_skipped"]
    assert meta["files"] == ["sweep.json", "results.parquet"]


def test_a_drawn_heatmap_is_named_in_sweep_json(results, tmp_path) -> None:
    pytest.importorskip("matplotlib")
    meta = json.loads((save_sweep(results, tmp_path) / "sweep.json").read_text())
    assert meta["heatmap"] == "heatmap.png" and "heatmap_skipped" not in meta
