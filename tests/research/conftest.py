"""Fixtures the research tests share."""

import pytest


@pytest.fixture
def evidence_dir(tmp_path):
    return tmp_path / "ev"
