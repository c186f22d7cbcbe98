"""Evidence: content ids, determinism, atomic writes, reading back."""

from __future__ import annotations

import contextlib
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


def _tiny_writers(text: str) -> dict:
    return {
        "report.json": lambda p: p.write_text(text),
        "table.bin": lambda p: p.write_bytes(b"x" * 4096),
    }


def test_readers_never_see_a_run_missing_while_it_is_saved_again(tmp_path):
    import threading
    import time

    from sparkbt.evidence import write_atomic

    final = tmp_path / "backtest" / "0123456789abcdef0123"
    write_atomic(final, _tiny_writers('{"id": 1}'))
    stop = time.perf_counter() + 1.5
    errors: list[BaseException] = []

    def save() -> None:
        try:
            while time.perf_counter() < stop:
                write_atomic(final, _tiny_writers('{"id": 1}'))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    writers = [threading.Thread(target=save) for _ in range(2)]
    for t in writers:
        t.start()
    reads, missing = 0, 0
    while time.perf_counter() < stop:
        try:
            assert (final / "report.json").read_text() == '{"id": 1}'
        except FileNotFoundError:
            missing += 1
        reads += 1
    for t in writers:
        t.join()
    assert errors == []
    assert reads > 100 and missing == 0
    assert [p.name for p in final.parent.iterdir()] == [final.name]


@pytest.mark.parametrize("fail_at", [1, 2, 3, 4])
def test_a_save_that_fails_midway_keeps_the_complete_run(tmp_path, monkeypatch, fail_at):
    import os

    import sparkbt.evidence as evidence

    final = tmp_path / "backtest" / "0123456789abcdef0123"
    evidence.write_atomic(final, _tiny_writers("old"))
    calls = {"n": 0}

    def failing(real):
        def step(*args):
            calls["n"] += 1
            if calls["n"] == fail_at:
                raise OSError(5, "input/output error")
            return real(*args)

        return step

    # every rename-like step in turn fails (a full disk, or the process killed there)
    monkeypatch.setattr(os, "rename", failing(os.rename))
    exchange = getattr(evidence, "_exchange", lambda a, b: False)
    monkeypatch.setattr(evidence, "_exchange", failing(exchange), raising=False)
    with contextlib.suppress(OSError):
        evidence.write_atomic(final, _tiny_writers("new"))
    monkeypatch.undo()
    assert (final / "report.json").read_text() in ("old", "new")
    assert (final / "table.bin").stat().st_size == 4096
    assert [p.name for p in final.parent.iterdir()] == [final.name]


def test_saving_an_existing_id_installs_the_new_copy_or_keeps_the_old(tmp_path, monkeypatch):
    import sparkbt.evidence as evidence

    final = tmp_path / "sweep" / "0123456789abcdef0123"
    evidence.write_atomic(final, _tiny_writers("first"))
    evidence.write_atomic(final, _tiny_writers("second"))
    swapped = evidence._renameat2() is not None
    assert (final / "report.json").read_text() == ("second" if swapped else "first")
    # where the system cannot swap folders atomically, the complete copy stays
    monkeypatch.setattr(evidence, "_exchange", lambda a, b: False)
    evidence.write_atomic(final, _tiny_writers("third"))
    assert (final / "report.json").read_text() == ("second" if swapped else "first")
    assert [p.name for p in final.parent.iterdir()] == [final.name]


def test_temporary_folders_of_killed_writers_are_swept_on_the_next_save(sample, tmp_path):
    import os
    import time

    folder = tmp_path / "backtest"
    stale = [folder / ".0123456789abcdef0123.k1ll3d00", folder / ".aaaa.old-123-x"]
    fresh = folder / ".fedcba9876543210fedc.wr1t1ng0"
    for d in [*stale, fresh]:
        d.mkdir(parents=True)
        (d / "report.json").write_text("{")
    hour_ago = time.time() - 3600
    for d in stale:
        os.utime(d / "report.json", (hour_ago, hour_ago))
        os.utime(d, (hour_ago, hour_ago))
    os.utime(fresh, (hour_ago, hour_ago))  # a writer still filling it: its file is recent
    res = sb.backtest(sample.iloc[:300], "sma_cross")
    res.save(tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == sorted([res.run_id, fresh.name])


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
