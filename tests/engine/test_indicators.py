"""The indicators against pandas' own rolling windows (the definitions they follow)."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparkbt.indicators import rolling_max, rolling_min

values = st.lists(
    st.one_of(
        st.floats(-1e6, 1e6, allow_nan=False),
        st.sampled_from([float("nan"), 0.0, -0.0, 1.0]),  # gaps, signed zeros, ties
    ),
    max_size=300,
)


@settings(max_examples=300, deadline=None)
@given(values, st.integers(1, 320))
def test_rolling_extremes_equal_pandas_bit_for_bit(xs, window):
    """Every value, NaN warm-up and NaN-in-window equals pandas' rolling(window).max()/min()."""
    x = np.array(xs, dtype=np.float64)
    s = pd.Series(x, dtype=np.float64).rolling(window)
    assert np.array_equal(rolling_max(x, window), s.max().to_numpy(), equal_nan=True)
    assert np.array_equal(rolling_min(x, window), s.min().to_numpy(), equal_nan=True)


@pytest.mark.parametrize("window", [1, 2, 7, 64, 999, 1000, 1001, 5000])
def test_rolling_extremes_on_a_long_series(window):
    """Windows from one bar to a quarter of 20,000 values with gaps."""
    rng = np.random.default_rng(window)
    x = rng.normal(size=20_000).cumsum()
    x[rng.integers(0, len(x), 5)] = np.nan
    s = pd.Series(x).rolling(window)
    assert np.array_equal(rolling_max(x, window), s.max().to_numpy(), equal_nan=True)
    assert np.array_equal(rolling_min(x, window), s.min().to_numpy(), equal_nan=True)


def test_rolling_max_by_hand():
    x = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0])
    assert np.array_equal(rolling_max(x, 3), [np.nan, np.nan, 4, 4, 5, 9, 9, 9], equal_nan=True)
    assert np.array_equal(rolling_min(x, 3), [np.nan, np.nan, 1, 1, 1, 1, 2, 2], equal_nan=True)


@pytest.mark.parametrize("window", [0, -1, 2.5])
def test_rolling_window_must_be_a_positive_int(window):
    with pytest.raises(ValueError, match="window must be an int >= 1"):
        rolling_max(np.ones(5), window)
