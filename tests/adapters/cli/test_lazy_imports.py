"""Building the command line runs no user code: strategies load only for commands that use them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

BOOM = """\
from pathlib import Path

Path(__file__).with_name("imported.marker").write_text("imported")
raise RuntimeError("boom: this strategy module must not be imported")
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "strategies").mkdir()
    (tmp_path / "strategies" / "boom.py").write_text(BOOM)
    return tmp_path


def sparkbt(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    env.pop("SPARKBT_STRATEGIES_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "sparkbt", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "args", [("data", "list"), ("--help",), ("data", "--help"), ("data", "validate", "x.csv")]
)
def test_commands_that_need_no_strategy_import_none(workdir, args):
    res = sparkbt(workdir, *args)
    assert "boom" not in res.stdout + res.stderr
    assert not (workdir / "strategies" / "imported.marker").exists(), args


def test_run_help_still_lists_strategy_parameters(workdir):
    (workdir / "strategies" / "boom.py").unlink()
    res = sparkbt(workdir, "run", "--help")
    assert res.returncode == 0, res.stderr
    assert "sma_cross: --fast" in res.stdout
