"""``sb.verify``: stored evidence re-run from its recorded inputs and compared number by number."""

from __future__ import annotations

import pytest

import sparkbt as sb
from sparkbt.errors import EvidenceNotFound
from sparkbt.research.sweep_evidence import save_sweep
from tests.research.verify_fixtures import (
    candles,
    edit_json,
    edit_table,
    make_store,
    touch_later,
)


@pytest.fixture
def store(tmp_path, monkeypatch):
    return make_store(tmp_path, monkeypatch)


@pytest.fixture
def run(store, evidence_dir):
    res = sb.backtest(candles(store), "sma_cross", fast=10, slow=30, fees=0.001, sl_stop=0.05)
    return res.save(evidence_dir)


def test_a_run_verifies(run, store, evidence_dir):
    out = sb.verify(run.name[:8], evidence_dir, store)
    assert out.status == "verified" and out.exit_code == 0, out.message
    files = [c.file for c in out.checks]
    assert files == [
        "equity.parquet",
        "fills.parquet",
        "locks.parquet",
        "report.json",
        "trades.parquet",
    ]
    assert out.rerun_id == run.name and out.to_dict()["first_difference"] is None


def test_a_run_with_warm_up_bars_and_a_file_strategy_verifies(store, evidence_dir):
    frame = candles(store)
    res = sb.backtest(frame, "my_cross", fast=4, slow=15, trade_from=frame.index[50])
    folder = res.save(evidence_dir)
    assert res.report["metadata"]["warmup_bars"] == 50
    assert sb.verify(folder.name, evidence_dir, store).status == "verified"


def test_a_portfolio_run_verifies(store, evidence_dir):
    both = {"ETHUSDT": candles(store), "BTCUSDT": candles(store, "BTCUSDT")}
    folder = sb.backtest(both, "equal_weight", fees=0.001).save(evidence_dir)
    out = sb.verify(folder.name, evidence_dir, store)
    assert out.status == "verified", out.message
    assert {"assets.parquet", "positions.parquet", "weights.parquet"} <= {
        c.file for c in out.checks
    }


def test_an_order_run_verifies(store, evidence_dir):
    res = sb.backtest(candles(store), "my_orders", every=30, fees=0.001)
    assert res.report["kind"] == "orders"
    folder = res.save(evidence_dir)
    out = sb.verify(folder.name, evidence_dir, store)
    assert out.status == "verified", out.message
    assert "orders.parquet" in {c.file for c in out.checks}


def test_a_sweep_and_a_walk_forward_verify(store, evidence_dir):
    frame = candles(store)
    swept = sb.sweep(frame, "sma_cross", fast=[5, 10], slow=[20, 40], sl_stop=[0.03, 0.05])
    sweep_folder = save_sweep(swept, evidence_dir, plot=False)
    out = sb.verify(sweep_folder.name, evidence_dir, store)
    assert (out.kind, out.status) == ("sweep", "verified"), out.message
    assert [c.file for c in out.checks] == ["results.parquet", "sweep.json"]
    wf = sb.walk_forward(frame, "sma_cross", fast=[5, 10], slow=[20, 40], train=300, test=100)
    wf_folder = wf.save(evidence_dir)
    out = sb.verify(wf_folder.name, evidence_dir, store)
    assert (out.kind, out.status) == ("walkforward", "verified"), out.message


def test_one_changed_parquet_value_is_named(run, store, evidence_dir):
    old, new = edit_table(run / "equity.parquet", "equity", 123)
    out = sb.verify(run.name, evidence_dir, store)
    assert out.status == "differs" and out.exit_code == 1
    diff = out.first_difference
    assert (diff.file, diff.where, diff.row) == ("equity.parquet", "equity", 123)
    assert (diff.stored, diff.rerun) == (repr(new), repr(old))
    assert [c.file for c in out.checks if not c.same] == ["equity.parquet"]
    assert "equity.parquet: equity row 123" in out.message


def test_one_changed_stat_is_named(run, store, evidence_dir):
    sharpe = sb.read_evidence(run).stats["sharpe"]
    edit_json(run / "report.json", "stats", "sharpe", value=sharpe + 0.5)
    out = sb.verify(run.name, evidence_dir, store)
    assert out.status == "differs"
    diff = out.first_difference
    assert (diff.file, diff.where) == ("report.json", "stats.sharpe")
    assert diff.rerun == repr(sharpe)


def test_changed_sweep_results_are_named(store, evidence_dir):
    swept = sb.sweep(candles(store), "sma_cross", fast=[5, 10], slow=[20, 40])
    folder = save_sweep(swept, evidence_dir, plot=False)
    edit_table(folder / "results.parquet", "total_return", 2)
    diff = sb.verify(folder.name, evidence_dir, store).first_difference
    assert (diff.file, diff.where, diff.row) == ("results.parquet", "total_return", 2)


def test_changed_candles_cannot_be_re_run(run, store, evidence_dir):
    frame = candles(store)
    frame.iloc[200, frame.columns.get_loc("close")] *= 1.001
    sb.CandleStore(store).merge("ETHUSDT", "4h", frame)
    out = sb.verify(run.name, evidence_dir, store)
    assert out.status == "cannot_rerun" and out.exit_code == 2
    expected = sb.read_evidence(run).report["metadata"]["data_sha256"]
    assert "candles changed: ETHUSDT 4h" in out.reason
    assert f"expected fingerprint {expected[:12]}" in out.reason
    assert "ETHUSDT/4h.parquet has fingerprint" in out.reason


def test_missing_candles_cannot_be_re_run(run, tmp_path, evidence_dir):
    out = sb.verify(run.name, evidence_dir, tmp_path / "empty-store")
    # ETHUSDT 4h is also a packaged sample, of other bars: a different fingerprint
    assert out.status == "cannot_rerun" and "packaged sample has fingerprint" in out.reason


def test_an_edited_strategy_file_cannot_be_re_run(store, evidence_dir, tmp_path):
    folder = sb.backtest(candles(store), "my_cross").save(evidence_dir)
    path = tmp_path / "strategies" / "my_cross.py"
    path.write_text(path.read_text() + "\n# tuned\n")
    touch_later(path)
    out = sb.verify(folder.name, evidence_dir, store)
    assert out.status == "cannot_rerun"
    assert out.reason.startswith("strategy source changed: my_cross in ")
    assert str(path) in out.reason


def test_another_engine_version_cannot_be_re_run(run, store, evidence_dir):
    edit_json(run / "report.json", "engine_version", value="1")
    out = sb.verify(run.name, evidence_dir, store)
    assert out.status == "cannot_rerun" and out.reason.startswith("other engine version")
    assert "engine v1" in out.reason


def test_an_unknown_id_is_an_error(evidence_dir):
    with pytest.raises(EvidenceNotFound):
        sb.verify("0123456789", evidence_dir)
