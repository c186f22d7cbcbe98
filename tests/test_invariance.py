"""What users see stays put: run ids, evidence bytes and CLI output of fixed commands.

The commands and their pinned results are in ``golden/invariance.py`` and
``golden/invariance.json`` (regenerate with ``python tests/golden/invariance.py``
only for a deliberate change, e.g. a new engine version).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

STORED = json.loads((Path(__file__).parent / "golden" / "invariance.json").read_text())


@pytest.fixture(scope="module")
def fresh() -> dict:
    return importlib.import_module("tests.golden.invariance").run_all()


@pytest.mark.parametrize("name", sorted(STORED))
def test_command_output_and_evidence_bytes_unchanged(fresh, name):
    assert fresh[name]["exit_code"] == STORED[name]["exit_code"]
    assert fresh[name]["files"] == STORED[name]["files"]
    assert fresh[name]["stdout"] == STORED[name]["stdout"]
    assert fresh[name]["stderr"] == STORED[name]["stderr"]
