"""Shared fixtures of the sweep tests: small seeded candles."""

from __future__ import annotations

import pandas as pd
import pytest

import sparkbt as sb


@pytest.fixture(scope="session")
def candles() -> pd.DataFrame:
    """1,500 hourly synthetic candles (rally, chop and drops: every stat is exercised)."""
    return sb.synthetic_candles(1500, timeframe="1h", seed=11)
