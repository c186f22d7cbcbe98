"""Parity of the portfolio kernel with vectorbt 1.2 ``Portfolio.from_orders`` on real daily panels.

vectorbt runs ``size_type="targetpercent"`` with one shared cash (``cash_sharing=True,
group_by=True``) and ``call_seq="auto"`` (sells first). The candles are real: daily S&P 500
and NASDAQ Composite 1999-2018 shipped inside ``arch``, and daily GOOG 2004-2013 shipped
inside backtesting.py, which share one calendar. GOOG listed later and its file ends
earlier, so on the union of the three calendars its prices are missing at both ends:
real gaps. Orders (bar, symbol, side, units, price, fee), cash and value must agree at
every bar to 1e-9 relative. The test extra installs all three libraries (CI checks that
they import), so these tests never skip there.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from sparkbt.engine.kernels import SimOptions
from sparkbt.engine.portfolio_kernels import PortfolioOutput, simulate_portfolio

vbt = pytest.importorskip("vectorbt")
bt_test = pytest.importorskip("backtesting.test")
arch_sp500 = pytest.importorskip("arch.data.sp500")
arch_nasdaq = pytest.importorskip("arch.data.nasdaq")

RTOL = 1e-9
CASH = 100_000.0
FIELDS = ("Open", "Close")


def _frames() -> dict[str, pd.DataFrame]:
    return {
        "SPX": arch_sp500.load(),
        "NDX": arch_nasdaq.load(),
        "GOOG": bt_test.GOOG,
    }


def panel(field: str, *, overlap: bool) -> pd.DataFrame:
    """One price field of the three instruments on the union of their calendars.

    ``overlap`` keeps only GOOG's span (no missing price); otherwise GOOG is NaN before
    its first and after its last candle.
    """
    wide = pd.DataFrame({s: f[field].astype(float) for s, f in _frames().items()})
    wide.index = pd.DatetimeIndex(wide.index).as_unit("ns")
    if overlap:
        wide = wide.loc[wide["GOOG"].first_valid_index() : wide["GOOG"].last_valid_index()]
    return wide


def month_starts(index: pd.DatetimeIndex) -> np.ndarray:
    """The first bar of each calendar month."""
    period = index.to_period("M")
    return np.flatnonzero(np.r_[True, period[1:] != period[:-1]])


def equal_weight(close: pd.DataFrame) -> pd.DataFrame:
    """Every symbol at 1/k on the first bar of each month (also where it has no candle)."""
    w = pd.DataFrame(np.nan, index=close.index, columns=close.columns)
    w.iloc[month_starts(close.index)] = 1.0 / close.shape[1]
    return w


def momentum(close: pd.DataFrame, lookback: int) -> pd.DataFrame:
    """Past return over ``lookback`` bars, NaN until a symbol has that much history."""
    return close / close.shift(lookback) - 1.0


def rotation(close: pd.DataFrame, lookback: int = 63) -> pd.DataFrame:
    """Each month all in the symbol with the best momentum, 0 in the others that have one.

    A symbol without a momentum (not listed, or no candle) gets no order: it is held.
    """
    mom = momentum(close, lookback)
    w = pd.DataFrame(np.nan, index=close.index, columns=close.columns)
    for bar in month_starts(close.index):
        row = mom.iloc[bar]
        if row.notna().any():
            w.iloc[bar] = np.where(row.notna(), (row == row.max()).astype(float), np.nan)
    return w


def long_short(close: pd.DataFrame, lookback: int = 21) -> pd.DataFrame:
    """Each month half long the best momentum, half short the worst, 0 in the rest."""
    mom = momentum(close, lookback)
    w = pd.DataFrame(np.nan, index=close.index, columns=close.columns)
    for bar in month_starts(close.index):
        row = mom.iloc[bar]
        if row.notna().all():
            w.iloc[bar] = 0.0
            w.iloc[bar, int(np.argmax(row.to_numpy()))] = 0.5
            w.iloc[bar, int(np.argmin(row.to_numpy()))] = -0.5
    return w


def run_sparkbt(open_: pd.DataFrame, close: pd.DataFrame, w: pd.DataFrame, **kw) -> PortfolioOutput:
    day = (close.index.asi8 // 86_400_000_000_000).astype(np.int64)
    o, c = open_.to_numpy(), close.to_numpy()
    return simulate_portfolio(o, o, c, c, day, w.to_numpy(), SimOptions(cash=CASH, **kw))


def run_vectorbt(open_, close, w, *, fees=0.0, slippage=0.0, next_open=False):
    """vectorbt's portfolio of the same weights; next-open: weights one bar later at the open.

    At the open a symbol without a candle is valued at its last close (``val_price``).
    """
    kw = {}
    if next_open:
        w = w.shift(1)
        kw = {"price": open_, "val_price": open_.fillna(close.ffill().shift(1))}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return vbt.Portfolio.from_orders(
            close,
            w,
            size_type="targetpercent",
            direction="both",
            cash_sharing=True,
            group_by=True,
            call_seq="auto",
            fees=fees,
            slippage=slippage,
            init_cash=CASH,
            freq="1D",
            log=True,
            **kw,
        )


def assert_parity(out: PortfolioOutput, pf) -> None:
    rec = pf.orders.values
    assert len(out.fills) == len(rec) > 0
    np.testing.assert_array_equal(out.fills["bar"], rec["idx"])
    np.testing.assert_array_equal(out.fills["col"], rec["col"])
    np.testing.assert_array_equal(out.fills["side"], np.where(rec["side"] == 0, 1, -1))
    for mine, theirs in (("units", "size"), ("price", "price"), ("fee", "fees")):
        np.testing.assert_allclose(out.fills[mine], rec[theirs], rtol=RTOL, atol=0)
    value = pf.value().to_numpy()
    np.testing.assert_allclose(out.equity, value, rtol=RTOL, atol=0)
    # cash may be exactly 0 on one side and 1e-12 on the other: compare it to the value
    np.testing.assert_allclose(out.cash, pf.cash().to_numpy(), rtol=0, atol=RTOL * value.max())
    assets = pf.assets().to_numpy()
    np.testing.assert_allclose(out.units, assets, rtol=RTOL, atol=1e-9)


CASES = {
    "monthly_equal_weight": (True, equal_weight, {"fees": 0.001}),
    "momentum_rotation": (True, rotation, {"fees": 0.002, "slippage": 0.001}),
    "long_short": (True, long_short, {"fees": 0.001, "slippage": 0.0005}),
    "missing_prices": (False, equal_weight, {"fees": 0.001}),
    "missing_prices_rotation": (False, rotation, {}),
}


@pytest.mark.parametrize("next_open", [False, True], ids=["close", "next_open"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_vectorbt_from_orders(case: str, next_open: bool) -> None:
    overlap, weights, kw = CASES[case]
    open_, close = (panel(f, overlap=overlap) for f in FIELDS)
    w = weights(close)
    out = run_sparkbt(open_, close, w, next_open=next_open, **kw)
    pf = run_vectorbt(open_, close, w, next_open=next_open, **kw)
    assert_parity(out, pf)
    assert out.rejected == rejected_for_cash(pf)


def rejected_for_cash(pf) -> int:
    """vectorbt's rejected orders, less those of at most 1e-12 units (no order for sparkbt).

    vectorbt rejects a buy with no cash before it looks at the size, so a held
    all-in weight (float dust of a unit to buy) counts there.
    """
    logs = pf.logs.values
    units = logs["req_size"] * logs["value"]
    units = units / logs["val_price"]
    units = units - logs["position"]
    rejected = logs["res_status"] == vbt.portfolio.enums.OrderStatus.Rejected
    return int(np.count_nonzero(rejected & (np.abs(units) > 1e-12)))


def test_missing_prices_are_not_traded_and_valued_at_last_close() -> None:
    """GOOG has no candle before 2004-08-19 and after 2013-03-01: no fill there, held at last."""
    open_, close = (panel(f, overlap=False) for f in FIELDS)
    out = run_sparkbt(open_, close, equal_weight(close), fees=0.001)
    goog = list(close.columns).index("GOOG")
    has = close["GOOG"].notna().to_numpy()
    assert has[out.fills["bar"][out.fills["col"] == goog]].all()
    assert (~has).sum() > 1000  # both ends of the union are real gaps
    last = np.flatnonzero(has)[-1]
    held = out.units[last:, goog]
    assert held[0] > 0 and (held == held[0]).all()
    assert out.trades[out.trades["col"] == goog]["is_open"].all()
