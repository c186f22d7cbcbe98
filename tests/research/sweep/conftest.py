"""Shared fixtures of the sweep tests: small seeded candles."""

from __future__ import annotations

import pandas as pd
import pytest

import sparkbt as sb
from sparkbt.research import sweep_evidence


@pytest.fixture(scope="session")
def candles() -> pd.DataFrame:
    """1,500 hourly synthetic candles (rally, chop and drops: every stat is exercised)."""
    return sb.synthetic_candles(1500, timeframe="1h", seed=11)


@pytest.fixture
def disk_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """Evidence parquet writes leave a partial file, then fail as a full disk would."""

    def boom(frame, path):
        path.write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(sweep_evidence, "write_parquet", boom)
