"""Overfitting statistics: the deflated Sharpe ratio and the probability of backtest overfitting.

* :func:`probabilistic_sharpe_ratio`, :func:`expected_max_sharpe` and
  :func:`deflated_sharpe_ratio` follow Bailey & López de Prado, "The Deflated
  Sharpe Ratio: Correcting for Selection Bias, Backtest Overfitting and
  Non-Normality", Journal of Portfolio Management 40(5), 2014.
* :func:`pbo_cscv` follows Bailey, Borwein, López de Prado & Zhu, "The
  Probability of Backtest Overfitting", Journal of Computational Finance, 2015
  (combinatorially symmetric cross-validation, CSCV).

Sharpe ratios here are per bar (not annualised) unless a parameter says
otherwise. The normal distribution comes from :class:`statistics.NormalDist`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

from sparkbt.engine.stats import sharpe
from sparkbt.errors import ConfigError

__all__ = [
    "EULER_GAMMA",
    "DeflatedSharpe",
    "PBOResult",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "pbo_cscv",
    "probabilistic_sharpe_ratio",
    "return_moments",
]

EULER_GAMMA = 0.5772156649015329
"""The Euler–Mascheroni constant γ."""

_NORMAL = NormalDist()


def return_moments(returns: Any) -> tuple[float, float, float, int]:
    """Per-bar Sharpe (``mean / std`` with ``ddof=1``, as :func:`sparkbt.engine.stats.sharpe`),
    skewness, non-excess kurtosis and the number of returns; non-finite returns are dropped."""
    r = np.asarray(returns, dtype=np.float64).reshape(-1)
    r = r[np.isfinite(r)]
    n = len(r)
    if n < 2:
        return math.nan, math.nan, math.nan, n
    sr = float(sharpe(r[:, None], 1.0)[0])
    d = r - r.mean()
    m2 = float(np.mean(d**2))
    if m2 <= 0.0:
        return sr, math.nan, math.nan, n
    skew = float(np.mean(d**3)) / m2**1.5
    kurt = float(np.mean(d**4)) / m2**2
    return sr, skew, kurt, n


def probabilistic_sharpe_ratio(
    sharpe_ratio: float,
    benchmark: float,
    n_obs: int,
    skew: float = 0.0,
    kurtosis: float = 3.0,
) -> float:
    """PSR(SR*) = Φ((SR̂ − SR*)·√(T−1) / √(1 − γ̂3·SR̂ + (γ̂4 − 1)/4·SR̂²)).

    ``sharpe_ratio`` and ``benchmark`` are per bar; ``kurtosis`` is non-excess
    (3 for normal returns). NaN when undefined (fewer than 2 observations, NaN input).
    """
    sr, sr0 = float(sharpe_ratio), float(benchmark)
    if n_obs < 2 or not all(map(math.isfinite, (sr, sr0, skew, kurtosis))):
        return math.nan
    var = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr * sr
    if var <= 0.0:
        return math.nan
    return _NORMAL.cdf((sr - sr0) * math.sqrt(n_obs - 1) / math.sqrt(var))


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """SR* = √V·((1−γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e))): the expected largest of N
    Sharpe ratios whose true value is zero and whose estimates have variance V.

    One trial has nothing to select from: SR* = 0.
    """
    n = int(n_trials)
    if n < 1:
        raise ConfigError(f"n_trials: must be >= 1 (got {n_trials!r})")
    if not math.isfinite(sharpe_variance) or sharpe_variance < 0:
        raise ConfigError(f"sharpe_variance: must be a finite number >= 0 (got {sharpe_variance})")
    if n == 1:
        return 0.0
    z = (1.0 - EULER_GAMMA) * _NORMAL.inv_cdf(1.0 - 1.0 / n) + EULER_GAMMA * _NORMAL.inv_cdf(
        1.0 - 1.0 / (n * math.e)
    )
    return math.sqrt(sharpe_variance) * z


@dataclass(frozen=True)
class DeflatedSharpe:
    """The deflated Sharpe ratio and what it was computed from (Sharpe ratios per bar)."""

    dsr: float
    sharpe: float
    benchmark: float
    n_obs: int
    skew: float
    kurtosis: float
    n_trials: int
    sharpe_variance: float

    def __float__(self) -> float:
        return self.dsr

    def to_dict(self) -> dict[str, float | int | None]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        return {k: _finite_or_none(v) for k, v in out.items()}


def deflated_sharpe_ratio(
    returns: Any,
    n_trials: int,
    *,
    sharpe_variance: float | None = None,
    periods_per_year: float | None = None,
) -> DeflatedSharpe:
    """DSR = PSR(SR*) of per-bar ``returns`` with SR* = :func:`expected_max_sharpe`.

    ``sharpe_variance`` is the variance of the trials' Sharpe ratios (e.g. of a
    sweep's combinations). With ``periods_per_year`` it is taken as the variance
    of annualised Sharpe ratios (as sparkbt stats report them) and divided by it.
    Without it, the variance is estimated as the sampling variance of the Sharpe
    estimator, (1 − γ̂3·SR̂ + (γ̂4−1)/4·SR̂²)/(T−1): the spread the trials' Sharpe
    ratios would have if each were noise like these returns.
    """
    sr, skew, kurt, n = return_moments(returns)
    if sharpe_variance is None:
        if n >= 2 and all(map(math.isfinite, (sr, skew, kurt))):
            var = max(0.0, (1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr) / (n - 1))
        else:
            var = math.nan
    else:
        var = float(sharpe_variance) / (float(periods_per_year) if periods_per_year else 1.0)
    sr0 = expected_max_sharpe(n_trials, var) if math.isfinite(var) else math.nan
    dsr = probabilistic_sharpe_ratio(sr, sr0, n, skew, kurt)
    return DeflatedSharpe(dsr, sr, sr0, n, skew, kurt, int(n_trials), var)


@dataclass(frozen=True)
class PBOResult:
    """CSCV outcome: PBO and, per combination of in-sample blocks, the chosen variant,
    its relative out-of-sample rank ω̄ and the logit λ = ln(ω̄/(1−ω̄))."""

    pbo: float
    logits: np.ndarray = field(repr=False)
    oos_rank: np.ndarray = field(repr=False)
    best: np.ndarray = field(repr=False)
    n_splits: int = 16
    n_combinations: int = 0

    def __float__(self) -> float:
        return self.pbo


def _finite_or_none(v: float | int) -> float | int | None:
    return None if isinstance(v, float) and not math.isfinite(v) else v


Metric = Callable[[np.ndarray], np.ndarray]


def _block_sharpe(blocks: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Sharpe (ddof=1) of every variant on the union of the blocks each mask row selects.

    Moments are combined from per-block means and sums of squared deviations.
    """
    rows = blocks.shape[1]
    k = mask.sum(axis=1, keepdims=True).astype(np.float64)
    means = blocks.mean(axis=1)  # (S, N)
    m2 = ((blocks - means[:, None, :]) ** 2).sum(axis=1)
    w = mask.astype(np.float64)
    mean = w @ means / k
    ss = w @ m2 + rows * (w @ means**2 - k * mean**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = mean / np.sqrt(np.maximum(ss, 0.0) / (k * rows - 1))
    return np.where(np.isfinite(out), out, np.nan)


def pbo_cscv(
    performance: Any,
    n_splits: int = 16,
    metric: str | Metric = "sharpe",
) -> PBOResult:
    """Probability of backtest overfitting of N variants by CSCV.

    ``performance`` is a (T × N) matrix (array or DataFrame) of per-period returns,
    one column per variant. Its rows are cut into ``n_splits`` (S, even) equal
    blocks (the first ``T mod S`` rows are dropped). For each of the C(S, S/2)
    choices of S/2 blocks as in-sample, the rest out-of-sample, the variant with
    the best in-sample ``metric`` is taken; ω̄ is its out-of-sample rank among
    the N variants (1 = worst, ties averaged) divided by N + 1, λ = ln(ω̄/(1−ω̄)),
    and PBO is the share of combinations with λ ≤ 0. ``metric`` is ``"sharpe"``
    or a function of a (rows × N) matrix returning N values (NaN ranks last).
    """
    m = np.asarray(performance, dtype=np.float64)
    if m.ndim != 2 or m.shape[1] < 2:
        raise ConfigError(f"performance: expected a (T x N) matrix with N >= 2 (got {m.shape})")
    s = int(n_splits)
    if s < 2 or s % 2:
        raise ConfigError(f"n_splits: must be an even number >= 2 (got {n_splits!r})")
    rows = m.shape[0] // s
    if rows < 1 or (metric == "sharpe" and rows * s // 2 < 2):
        raise ConfigError(f"performance: {m.shape[0]} rows are too few for {s} splits")
    if not np.isfinite(m).all():
        raise ConfigError("performance: contains NaN or infinite values")
    n = m.shape[1]
    blocks = m[m.shape[0] - rows * s :].reshape(s, rows, n)
    combos = np.array(list(itertools.combinations(range(s), s // 2)))
    mask = np.zeros((len(combos), s), dtype=bool)
    mask[np.arange(len(combos))[:, None], combos] = True
    if metric == "sharpe":
        is_perf, oos_perf = _block_sharpe(blocks, mask), _block_sharpe(blocks, ~mask)
    elif callable(metric):
        is_perf = np.array([metric(blocks[row].reshape(-1, n)) for row in mask], dtype=float)
        oos_perf = np.array([metric(blocks[~row].reshape(-1, n)) for row in mask], dtype=float)
    else:
        raise ConfigError(f"metric: expected 'sharpe' or a function (got {metric!r})")
    is_perf = np.where(np.isnan(is_perf), -np.inf, is_perf)
    oos_perf = np.where(np.isnan(oos_perf), -np.inf, oos_perf)
    best = np.argmax(is_perf, axis=1)
    chosen = oos_perf[np.arange(len(best)), best][:, None]
    rank = (oos_perf < chosen).sum(axis=1) + ((oos_perf == chosen).sum(axis=1) + 1) / 2.0
    omega = rank / (n + 1.0)
    logits = np.log(omega / (1.0 - omega))
    return PBOResult(float(np.mean(logits <= 0.0)), logits, omega, best, s, len(combos))
