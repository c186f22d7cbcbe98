"""``sparkbt report RUN_ID --html FILE``: one self-contained file, one-line refusals."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import sparkbt as sb
from sparkbt.research.sweep_evidence import save_sweep


def report(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sparkbt.adapters.cli.app", "report", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """An evidence root with one run and one sweep: (root, run id, sweep id)."""
    root = tmp_path_factory.mktemp("report-cli") / "evidence"
    candles = sb.sample_candles()
    run_id = sb.backtest(candles, "sma_cross", fast=10, slow=30).save(root).name
    sweep_id = save_sweep(sb.sweep(candles, fast=[5, 10], slow=[30], workers=1), root).name
    return root, run_id, sweep_id


def test_report_file_is_self_contained(evidence: tuple[Path, str, str], tmp_path: Path) -> None:
    root, run_id, _ = evidence
    out = tmp_path / "nested" / "report.html"
    done = report(run_id, "--html", str(out), "--evidence-dir", str(root))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {out}")
    text = out.read_text(encoding="utf-8")
    assert run_id in text
    # nothing is fetched from elsewhere: no remote scripts, styles, images or links
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I)
    assert not re.search(r"""<link[^>]+rel=["']?stylesheet""", text, re.I)
    assert "<script src=" not in text
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]  # no temporary file left


@pytest.mark.parametrize("kind", ["unknown", "sweep"])
def test_report_refuses_what_is_not_a_run(
    evidence: tuple[Path, str, str], tmp_path: Path, kind: str
) -> None:
    root, _, sweep_id = evidence
    ref = sweep_id if kind == "sweep" else "0123456789abcdef0123"
    out = tmp_path / "report.html"
    done = report(ref, "--html", str(out), "--evidence-dir", str(root))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert ref in lines[0]
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert not out.exists() and list(tmp_path.iterdir()) == []
