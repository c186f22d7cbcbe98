"""Every evidence run of an assessment is an ordinary stored run, linked from it."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from typer.testing import CliRunner

import sparkbt as sb
from sparkbt.adapters.cli.app import app
from sparkbt.engine.options import Config
from sparkbt.engine.registry import get_strategy
from sparkbt.engine.stats import stats_row
from sparkbt.research.assess import assess
from sparkbt.research.policy import default_policy
from sparkbt.research.sweep_jobs import SweepJob, run_chunk
from tests.research.policies import sma_version


@pytest.fixture
def assessed(evidence_dir):
    return assess(
        sma_version(), sma_version(10, 30), policy=default_policy(), evidence_dir=evidence_dir
    )


def _equal(stored: dict, computed: dict, tol: float = 0.0) -> None:
    """Stored stats (JSON: NaN as None) equal computed ones (NaN as NaN)."""
    assert stored.keys() == computed.keys()
    for k, want in computed.items():
        got = stored[k]
        if isinstance(want, float) and math.isnan(want):
            assert got is None, k
        elif tol and isinstance(want, float):
            assert got == pytest.approx(want, rel=tol, abs=tol), k
        else:
            assert got == want, k


@pytest.mark.parametrize("options", [{}, {"sl_stop": 0.03, "sl_trail": True}])
def test_out_of_sample_runs_are_stored(evidence_dir, sample, options):
    a = assess(
        sma_version(**options),
        sma_version(10, 30, **options),
        policy=default_policy(),
        evidence_dir=evidence_dir,
    )
    split = a.split["split_bar"]
    for who, params in (
        ("proposed", {"fast": 12, "slow": 40}),
        ("approved", {"fast": 10, "slow": 30}),
    ):
        run = sb.read_evidence(a.runs[f"{who}_out_of_sample"], evidence_dir)
        meta = run.report["metadata"]
        assert meta["warmup_bars"] == split
        assert meta["candle_count"] == len(sample) - split
        assert meta["start"] == a.split["split_time"].isoformat()
        assert meta["data_sha256"] == a.data["data_sha256"]
        assert run.report["params"] == params
        # the engine's out-of-sample computation: a sweep job simulated from the split
        config = Config(fees=0.001, **options).resolved(sample)
        job = SweepJob(
            sample, get_strategy("sma_cross"), config, pd.DataFrame([params]), start=split
        )
        _equal(run.stats, stats_row(run_chunk(job, 0, 1), 0))
        key = "out_of_sample" if who == "proposed" else "approved_out_of_sample"
        assert a.split[key] == {k: run.stats[k] for k in a.split[key]}
    proposed_oos = sb.read_evidence(a.runs["proposed_out_of_sample"], evidence_dir).stats
    assert a.evidence.oos_sharpe == proposed_oos["sharpe"]


def test_out_of_sample_run_is_reproduced_by_the_cli(assessed, tmp_path):
    args = ["run", "--fast", "12", "--slow", "40", "--fees", "0.001", "--json", "--no-save"]
    out = CliRunner().invoke(app, [*args, "--trade-from", assessed.split["split_time"].isoformat()])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["id"] == assessed.runs["proposed_out_of_sample"]


def test_neighbours_are_stored_runs(assessed, evidence_dir, sample):
    labels = {f"neighbour_{r['param']}_{r['value']}" for r in assessed.neighbourhood}
    assert labels == {
        "neighbour_fast_11",
        "neighbour_fast_13",
        "neighbour_slow_39",
        "neighbour_slow_41",
    }
    strat = get_strategy("sma_cross")
    config = Config(fees=0.001).resolved(sample)
    for row in assessed.neighbourhood:
        run = sb.read_evidence(assessed.runs[row["run"]], evidence_dir)
        assert run.report["params"] == row["params"]
        assert run.report["metadata"]["candle_count"] == len(sample)
        assert "warmup_bars" not in run.report["metadata"]
        assert {k: row[k] for k in ("total_return", "sharpe", "total_trades")} == {
            k: run.stats[k] for k in ("total_return", "sharpe", "total_trades")
        }
        # the same numbers as the sweep engine gives the combination
        job = SweepJob(sample, strat, config, pd.DataFrame([row["params"]]))
        _equal(run.stats, stats_row(run_chunk(job, 0, 1), 0), tol=1e-12)


def test_walk_forward_is_stored_evidence(assessed, evidence_dir):
    wid = assessed.walk_forward_id
    assert wid is not None
    wf = sb.read_evidence(wid, evidence_dir)
    assert wf.kind == "walkforward"
    assert (evidence_dir / "walkforward" / wid / "walkforward.json").is_file()
    stored = json.loads((evidence_dir / "walkforward" / wid / "walkforward.json").read_text())
    assert stored["summary"] == assessed.walk_forward["summary"]
    assert stored["identity"]["grid"] == assessed.walk_forward["grid"]
    d = assessed.to_dict()
    assert d["walk_forward_id"] == wid
    assert d["runs"] == assessed.runs


def test_every_linked_run_reads_back(assessed, evidence_dir):
    for label, run_id in assessed.runs.items():
        run = sb.read_evidence(run_id, evidence_dir)
        assert run.id == run_id, label
        assert run.report["strategy"] == "sma_cross"
    assert len(set(assessed.runs.values())) == len(assessed.runs)


def test_too_few_candles_store_no_split_or_walk_forward(tmp_path, monkeypatch):
    sb.CandleStore(tmp_path / "data").merge("ETHUSDT", "4h", sb.sample_candles().iloc[:6])
    a = assess(
        sma_version(),
        None,
        policy=default_policy(),
        data_dir=tmp_path / "data",
        evidence_dir=tmp_path / "ev",
        oos_fraction=0.1,
    )
    assert "proposed_out_of_sample" not in a.runs
    assert a.walk_forward_id is None and "skipped" in a.walk_forward


def test_neighbour_labels():
    from sparkbt.research.assess_runs import neighbour_label

    assert neighbour_label("fast", 9) == "neighbour_fast_9"
    assert neighbour_label("z", 0.03 * 0.9) == "neighbour_z_0.027"
    assert neighbour_label("z", 2.0 * 1.1) == "neighbour_z_2.2"
