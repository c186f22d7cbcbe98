"""Deflated Sharpe ratio and PBO (CSCV), checked against independent computations.

No published figures are quoted here. The DSR is checked three ways: the
closed forms of Bailey & López de Prado, "The Deflated Sharpe Ratio" (JPM 2014),
re-derived in this file with scipy's normal distribution; the expected maximum
Sharpe of N trials against a Monte Carlo of the largest of N normal draws; and
vectorbt's own ``deflated_sharpe_ratio`` (a separate implementation). PBO
(Bailey, Borwein, López de Prado & Zhu, "The Probability of Backtest
Overfitting", 2015) is checked on a 4-block case worked out by hand below and
against a brute-force loop written here.
"""

from __future__ import annotations

import itertools
import math
import statistics

import numpy as np
import pandas as pd
import pytest

from sparkbt.errors import ConfigError
from sparkbt.research.overfit import (
    EULER_GAMMA,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    pbo_cscv,
    probabilistic_sharpe_ratio,
    return_moments,
)

# An example in the shape of the paper's (annualised Sharpe 2.5 over five years of
# daily returns, 100 trials whose annualised Sharpe ratios have variance 0.5,
# skewness -3, kurtosis 10). The expected values are computed independently below.
YEAR = 250
SR = 2.5 / math.sqrt(YEAR)
T, N, V_ANNUAL, SKEW, KURT = 1250, 100, 0.5, -3.0, 10.0


def _reference_dsr(sr, n_obs, n_trials, var, skew, kurt) -> tuple[float, float]:
    """SR* and DSR straight from the paper's formulas, with scipy's normal distribution."""
    norm = pytest.importorskip("scipy.stats").norm
    sr0 = math.sqrt(var) * (
        (1 - np.euler_gamma) * norm.ppf(1 - 1 / n_trials)
        + np.euler_gamma * norm.ppf(1 - 1 / (n_trials * np.e))
    )
    z = (sr - sr0) * math.sqrt(n_obs - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
    return float(sr0), float(norm.cdf(z))


def test_example_matches_reference_formulas_and_vectorbt() -> None:
    var = V_ANNUAL / YEAR
    ref_sr0, ref_dsr = _reference_dsr(SR, T, N, var, SKEW, KURT)
    sr0 = expected_max_sharpe(N, var)
    dsr = probabilistic_sharpe_ratio(SR, sr0, T, SKEW, KURT)
    assert sr0 == pytest.approx(ref_sr0, rel=1e-12)
    assert dsr == pytest.approx(ref_dsr, rel=1e-12)
    metrics = pytest.importorskip("vectorbt.returns.metrics")
    vbt = metrics.deflated_sharpe_ratio(
        est_sharpe=SR, var_sharpe=var, nb_trials=N, backtest_horizon=T, skew=SKEW, kurtosis=KURT
    )
    assert dsr == pytest.approx(float(vbt), rel=1e-12)
    assert EULER_GAMMA == pytest.approx(np.euler_gamma, rel=0, abs=1e-16)


@pytest.mark.parametrize(
    ("n", "draws", "rel"), [(10, 20_000, 0.04), (100, 20_000, 0.02), (1000, 4000, 0.01)]
)
def test_expected_max_sharpe_is_close_to_monte_carlo_maximum(
    n: int, draws: int, rel: float
) -> None:
    # The closed form approximates E[max of N iid N(0, V)]: about 2% high at N = 10,
    # closer as N grows.
    rng = np.random.default_rng(7)
    sd = 0.2
    mc = rng.normal(0.0, sd, size=(draws, n)).max(axis=1).mean()
    assert expected_max_sharpe(n, sd**2) == pytest.approx(mc, rel=rel)


def test_expected_max_sharpe_edges() -> None:
    assert expected_max_sharpe(1, 0.3) == 0.0  # one trial: nothing selected
    assert expected_max_sharpe(50, 0.0) == 0.0
    assert expected_max_sharpe(20, 0.01) < expected_max_sharpe(200, 0.01)
    with pytest.raises(ConfigError, match="n_trials"):
        expected_max_sharpe(0, 0.1)
    with pytest.raises(ConfigError, match="sharpe_variance"):
        expected_max_sharpe(5, -1.0)


def test_psr_against_direct_formula() -> None:
    nd = statistics.NormalDist()
    for sr, sr0, n, g3, g4 in [(0.1, 0.0, 500, 0.0, 3.0), (0.05, 0.02, 2000, -1.2, 7.5)]:
        z = (sr - sr0) * math.sqrt(n - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr * sr)
        assert probabilistic_sharpe_ratio(sr, sr0, n, g3, g4) == pytest.approx(nd.cdf(z))
    assert probabilistic_sharpe_ratio(0.0, 0.0, 100) == pytest.approx(0.5)
    assert math.isnan(probabilistic_sharpe_ratio(0.1, 0.0, 1))
    assert math.isnan(probabilistic_sharpe_ratio(math.nan, 0.0, 100))


@pytest.fixture
def skewed_returns() -> np.ndarray:
    rng = np.random.default_rng(3)
    return 0.0004 + 0.01 * (rng.standard_t(5, 3000) - 0.3 * rng.exponential(1.0, 3000) + 0.3)


def test_moments_match_scipy_and_engine_sharpe(skewed_returns) -> None:
    stats = pytest.importorskip("scipy.stats")
    r = skewed_returns
    sr, skew, kurt, n = return_moments(np.append(r, np.nan))  # non-finite returns dropped
    assert n == len(r)
    assert sr == pytest.approx(r.mean() / r.std(ddof=1), rel=1e-12)
    assert skew == pytest.approx(stats.skew(r), rel=1e-10)
    assert kurt == pytest.approx(stats.kurtosis(r, fisher=False), rel=1e-10)


def test_dsr_from_returns_uses_given_or_estimated_variance(skewed_returns) -> None:
    r = skewed_returns
    sr, skew, kurt, n = return_moments(r)
    res = deflated_sharpe_ratio(r, 40, sharpe_variance=0.8, periods_per_year=365)
    assert res.sharpe_variance == pytest.approx(0.8 / 365)
    assert res.benchmark == pytest.approx(expected_max_sharpe(40, 0.8 / 365))
    assert float(res) == pytest.approx(probabilistic_sharpe_ratio(sr, res.benchmark, n, skew, kurt))
    est = deflated_sharpe_ratio(r, 40)
    assert est.sharpe_variance == pytest.approx((1 - skew * sr + (kurt - 1) / 4 * sr**2) / (n - 1))
    one = deflated_sharpe_ratio(r, 1)
    assert one.benchmark == 0.0
    assert one.dsr == pytest.approx(probabilistic_sharpe_ratio(sr, 0.0, n, skew, kurt))
    assert one.dsr > est.dsr > deflated_sharpe_ratio(r, 1000).dsr  # more trials, less credit
    assert one.to_dict()["n_trials"] == 1


def test_dsr_undefined_for_flat_returns() -> None:
    res = deflated_sharpe_ratio(np.zeros(100), 10)
    assert math.isnan(res.dsr)
    assert res.to_dict()["dsr"] is None


# ----------------------------------------------------------------------------- PBO
def test_pbo_hand_worked_four_blocks() -> None:
    # One row per block, 3 variants, metric = mean (equal block sizes: compare sums).
    m = np.array([[2, 3, 1], [0, 2, 3], [2, 4, 2], [3, 4, 5]], dtype=float)
    # IS blocks | IS sums  | best | OOS sums | OOS rank of best | w = rank/4 | lambda
    # {0,1}     | 2  5  4  | 1    | 5  8  7  | 3                | 3/4        | ln 3
    # {0,2}     | 4  7  3  | 1    | 3  6  8  | 2                | 2/4        | 0
    # {0,3}     | 5  7  6  | 1    | 2  6  5  | 3                | 3/4        | ln 3
    # {1,2}     | 2  6  5  | 1    | 5  7  6  | 3                | 3/4        | ln 3
    # {1,3}     | 3  6  8  | 2    | 4  7  3  | 1                | 1/4        | -ln 3
    # {2,3}     | 5  8  7  | 1    | 2  5  4  | 3                | 3/4        | ln 3
    # lambda <= 0 in 2 of 6 combinations: PBO = 1/3.
    res = pbo_cscv(m, n_splits=4, metric=lambda x: x.mean(axis=0))
    ln3 = math.log(3)
    assert res.n_combinations == 6
    assert res.best.tolist() == [1, 1, 1, 1, 2, 1]
    np.testing.assert_allclose(res.oos_rank, [0.75, 0.5, 0.75, 0.75, 0.25, 0.75])
    np.testing.assert_allclose(res.logits, [ln3, 0.0, ln3, ln3, -ln3, ln3], atol=1e-15)
    assert res.pbo == pytest.approx(1 / 3)


def _brute_force(m: np.ndarray, s: int) -> list[float]:
    """CSCV with plain loops: statistics.stdev Sharpe, rank by counting."""
    rows = len(m) // s
    m = m[len(m) - rows * s :]
    blocks = [m[i * rows : (i + 1) * rows] for i in range(s)]
    out = []
    for chosen in itertools.combinations(range(s), s // 2):
        ins = np.vstack([blocks[i] for i in chosen])
        oos = np.vstack([blocks[i] for i in range(s) if i not in chosen])

        def sharpe(x: np.ndarray) -> list[float]:
            return [statistics.mean(c) / statistics.stdev(c) for c in x.T.tolist()]

        r_is, r_oos = sharpe(ins), sharpe(oos)
        best = r_is.index(max(r_is))
        rank = 1 + sum(v < r_oos[best] for v in r_oos)
        w = rank / (m.shape[1] + 1)
        out.append(math.log(w / (1 - w)))
    return out


def test_pbo_matches_brute_force_on_sharpe() -> None:
    rng = np.random.default_rng(5)
    m = rng.normal(0.0003, 0.01, size=(123, 7))  # 123 rows: 3 dropped for 6 blocks
    res = pbo_cscv(pd.DataFrame(m), n_splits=6)
    expected = _brute_force(m, 6)
    np.testing.assert_allclose(res.logits, expected, rtol=1e-12)
    assert res.pbo == pytest.approx(np.mean(np.array(expected) <= 0))
    assert pbo_cscv(m[3:], n_splits=6).pbo == res.pbo


def test_pbo_of_noise_is_near_one_half() -> None:
    rng = np.random.default_rng(11)
    values = [pbo_cscv(rng.normal(0, 0.01, size=(400, 20)), n_splits=8).pbo for _ in range(40)]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert np.mean(values) == pytest.approx(0.5, abs=0.1)


def test_pbo_of_a_dominant_drift_is_near_zero() -> None:
    rng = np.random.default_rng(12)
    m = rng.normal(0, 0.01, size=(1600, 30))
    m[:, 17] += 0.004  # one variant with a real edge
    res = pbo_cscv(m)  # 16 splits: 12,870 combinations
    assert res.n_combinations == math.comb(16, 8)
    assert res.pbo < 0.01
    assert (res.best == 17).mean() > 0.99


def test_pbo_rejects_bad_input() -> None:
    m = np.zeros((40, 3))
    with pytest.raises(ConfigError, match="even"):
        pbo_cscv(m, n_splits=5)
    with pytest.raises(ConfigError, match="too few"):
        pbo_cscv(m[:10], n_splits=16)
    with pytest.raises(ConfigError, match="N >= 2"):
        pbo_cscv(m[:, :1], n_splits=4)
    with pytest.raises(ConfigError, match="NaN"):
        pbo_cscv(np.full((40, 3), np.nan), n_splits=4)
    with pytest.raises(ConfigError, match="metric"):
        pbo_cscv(m + 1, n_splits=4, metric="sortino")
