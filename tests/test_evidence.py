"""Evidence: content ids, determinism, atomic writes, reading back."""

from __future__ import annotations

import json

import pytest

import sparkbt as sb


def test_same_inputs_same_id_and_identical_bytes(sample, tmp_path):
    a = sb.backtest(sample, "sma_cross", fast=10, slow=30, fees=0.001)
    b = sb.backtest(sample.copy(), "sma_cross", fast=10, slow=30, fees=0.001)
    assert a.run_id == b.run_id
    pa, pb = a.save(tmp_path / "one"), b.save(tmp_path / "two")
    for name in ("trades.parquet", "fills.parquet", "equity.parquet"):
        assert (pa / name).read_bytes() == (pb / name).read_bytes(), name
    ra, rb = (json.loads((p / "report.json").read_text()) for p in (pa, pb))
    ra.pop("timing"), rb.pop("timing")
    assert ra == rb


def test_any_input_change_changes_the_id(sample):
    base = sb.backtest(sample, "sma_cross", fast=10, slow=30).run_id
    assert sb.backtest(sample, "sma_cross", fast=11, slow=30).run_id != base
    assert sb.backtest(sample, "sma_cross", fast=10, slow=30, fees=0.001).run_id != base
    assert sb.backtest(sample, "sma_cross", fast=10, slow=30, direction="both").run_id != base
    changed = sample.copy()
    changed.iloc[-1, changed.columns.get_loc("volume")] += 1
    assert sb.backtest(changed, "sma_cross", fast=10, slow=30).run_id != base


def test_report_layout_and_read_back(sample, tmp_path):
    res = sb.backtest(sample, "sma_cross", fast=10, slow=30)
    path = res.save(tmp_path)
    assert path == tmp_path / "backtest" / res.run_id
    report = json.loads((path / "report.json").read_text())
    assert set(report) >= {
        "id",
        "engine_version",
        "strategy",
        "params",
        "config",
        "stats",
        "metadata",
        "timing",
    }
    assert set(report["metadata"]) >= {
        "symbol",
        "timeframe",
        "start",
        "end",
        "candle_count",
        "data_sha256",
    }
    assert set(report["timing"]) == {"created_at", "duration_ms"}
    ev = sb.read_evidence(res.run_id[:8], tmp_path)
    assert ev.report == report
    assert len(ev.trades) == len(res.trades) and len(ev.equity) == len(sample)
    assert sb.read_evidence(path).id == res.run_id
    assert sb.read_evidence(path / "report.json").id == res.run_id


def test_missing_evidence(tmp_path):
    with pytest.raises(sb.EvidenceNotFound, match="no evidence for 'abc'"):
        sb.read_evidence("abc", tmp_path)


def test_failed_write_leaves_nothing(sample, tmp_path, monkeypatch):
    res = sb.backtest(sample, "sma_cross")
    import sparkbt.engine.result as result_mod

    def boom(frame, path):
        raise OSError("disk full")

    monkeypatch.setattr(result_mod, "write_parquet", boom)
    with pytest.raises(OSError, match="disk full"):
        res.save(tmp_path)
    assert list((tmp_path / "backtest").iterdir()) == []


def test_rewrite_replaces_atomically(sample, tmp_path):
    res = sb.backtest(sample, "sma_cross")
    first = res.save(tmp_path)
    second = res.save(tmp_path)
    assert first == second and (second / "report.json").is_file()
    assert [p.name for p in (tmp_path / "backtest").iterdir()] == [res.run_id]


def test_concurrent_saves_of_the_same_run_leave_one_complete_copy(sample, tmp_path):
    import threading

    res = sb.backtest(sample, "sma_cross")
    errors = []

    def save():
        try:
            res.save(tmp_path)
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=save) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [p.name for p in (tmp_path / "backtest").iterdir()] == [res.run_id]
    assert sb.read_evidence(res.run_id, tmp_path).id == res.run_id


def test_save_without_a_folder_uses_the_environment(sample, tmp_path, monkeypatch):
    monkeypatch.setenv("SPARKBT_EVIDENCE_DIR", str(tmp_path / "env-evidence"))
    res = sb.backtest(sample.iloc[:300], "sma_cross")
    assert res.save() == tmp_path / "env-evidence" / "backtest" / res.run_id
    assert sb.read_evidence(res.run_id).id == res.run_id


def test_every_evidence_kind_is_known_without_importing_its_writer(sample, tmp_path):
    """The kinds table is evidence.py's own: reloading it alone still reads a sweep folder."""
    import subprocess
    import sys

    from sparkbt.research.sweep_evidence import save_sweep

    path = save_sweep(sb.sweep(sample, fast=[5, 10], slow=[30], workers=1), tmp_path)
    code = (
        "import importlib, sys\n"
        "import sparkbt.evidence as e\n"
        "e = importlib.reload(e)\n"
        f"print(type(e.read_evidence({str(path)!r})).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "SweepEvidence"


def test_evidence_kind_loaders_resolve():
    import importlib

    from sparkbt.evidence import EVIDENCE_KINDS

    for marker, (folder, ref) in EVIDENCE_KINDS.items():
        module, _, name = ref.partition(":")
        assert callable(getattr(importlib.import_module(module), name)), marker
        assert marker.endswith(".json") and folder
