"""Exchange rules (lot step, minimum value) in target and portfolio runs: by hand, by property."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparkbt.engine import kernels
from sparkbt.engine.codes import BOTH, LONG
from sparkbt.engine.kernels import Market, SimOptions, prepare_targets
from sparkbt.engine.options import Config
from sparkbt.engine.portfolio_kernels import simulate_portfolio

NAN = np.nan
CLOSE = np.array([100.0, 101.0, 102.0, 103.0, 104.0, 105.0])


def target_run(targets, close=CLOSE, direction=LONG, **kw) -> kernels.SimOutput:
    t = prepare_targets(np.asarray(targets, dtype=float), direction)
    return kernels.simulate(Market.from_close(np.asarray(close, float)), t, SimOptions(**kw))


def portfolio_run(close, weights, **kw):
    c = np.asarray(close, dtype=float)
    day = np.zeros(len(c), np.int64)
    return simulate_portfolio(c, c, c, c, day, np.asarray(weights, float), SimOptions(**kw))


def test_target_entries_and_reductions_truncate_to_the_lot_and_exits_close_in_full():
    out = target_run([1, 1, 0.5, 0.5, 0, 0], cash=1000.0, lot_size=0.3)
    f = out.fills
    # 1000 / 100 = 10 units -> 33 lots of 0.3 = 9.9; half of 9.9 = 4.95 -> 16 lots = 4.8;
    # the exit sells what is left (5.1), not a multiple of anything
    assert f["bar"].tolist() == [0, 2, 4]
    np.testing.assert_allclose(f["units"], [9.9, 4.8, 5.1], rtol=1e-12)
    assert out.rejected is not None and out.rejected.tolist() == [0]
    assert out.units[-1, 0] == 0.0
    np.testing.assert_allclose(out.equity[-1, 0], 1000 - 9.9 * 100 + 4.8 * 102 + 5.1 * 104)


def test_target_fills_under_the_minimum_are_rejected_and_counted():
    # the half sale is worth 5 * 102 = 510 < 600: refused (the position stays whole);
    # the exit closes all 10 units whatever their value
    out = target_run([1, 1, 0.5, 0.5, 0, 0], cash=1000.0, min_notional=600.0)
    assert out.fills["bar"].tolist() == [0, 4]
    np.testing.assert_allclose(out.fills["units"], [10.0, 10.0])
    assert out.rejected.tolist() == [1]
    # an entry worth less than the minimum never opens
    small = target_run([0, 1, 1, 0, 0, 0], cash=50.0, min_notional=60.0)
    assert len(small.fills) == 0 and len(small.trades) == 0
    assert small.rejected.tolist() == [1]


def test_a_reversal_closes_in_full_and_opens_a_lot_multiple():
    out = target_run([1, 1, -1, -1, 0, 0], direction=BOTH, cash=1000.0, lot_size=1.0)
    f = out.fills
    assert f["side"].tolist() == [1, -1, -1, 1]
    # 10 units; sold at 102 (1020 cash) -> short 1020 / 102 = 10 units exactly; covered at 104
    np.testing.assert_allclose(f["units"], [10.0, 10.0, 10.0, 10.0])
    assert out.trades["exit_reason"].tolist() == [0, 0]


def test_rules_off_keep_the_closed_form_and_its_numbers():
    t = prepare_targets(np.array([0, 1, 1, 0, -1, 0.0]), BOTH)
    m = Market.from_close(CLOSE)
    plain = kernels.simulate(m, t, SimOptions(cash=1000.0, fees=0.001))
    assert SimOptions(cash=1000.0).path_free
    assert not SimOptions(cash=1000.0, lot_size=0.1).path_free
    assert not SimOptions(cash=1000.0, min_notional=1.0).path_free
    assert plain.rejected is None
    # the loop with rules too small to bite gives the closed form's fills (to float noise)
    tiny = kernels.simulate(m, t, SimOptions(cash=1000.0, fees=0.001, min_notional=1e-9))
    np.testing.assert_allclose(tiny.equity, plain.equity, rtol=1e-12)
    np.testing.assert_allclose(tiny.fills["units"], plain.fills["units"], rtol=1e-12)
    assert tiny.rejected.tolist() == [0]


def test_config_passes_the_rules_to_the_kernels_and_omits_them_unset():
    o = Config(lot_size=0.01, min_notional=10, tick_size=0.5).sim_options()
    assert (o.lot_size, o.min_notional) == (0.01, 10.0)
    off = Config().sim_options()
    assert np.isnan(off.lot_size) and np.isnan(off.min_notional)
    assert "lot_size" not in Config().to_dict()


def test_portfolio_buys_truncate_to_the_lot_and_the_cash_cut_too():
    close = [[10.0, 20.0], [12.0, 21.0]]
    w = [[0.5, 0.5], [0.0, 1.0]]
    out = portfolio_run(close, w, cash=1000.0, lot_size=1.0)
    f = out.fills
    # bar 0: 500 / 10 = 50, 500 / 20 = 25; bar 1: V = 600 + 525 = 1125: sell all 50 of
    # symbol 0 (600 cash), buy 1125 / 21 - 25 = 28.57 -> 28 units (588), 12 cash left
    assert f["col"].tolist() == [0, 1, 0, 1]
    np.testing.assert_allclose(f["units"], [50.0, 25.0, 50.0, 28.0])
    np.testing.assert_allclose(out.cash, [0.0, 12.0], atol=1e-9)
    assert out.rejected == 0
    # with a 2% fee the buy of 28 units costs 599.76 > 600 - 12 = 588 after the sale's fee:
    # cut to the cash (588 / 1.02 / 21 = 27.45), truncated to 27
    fee = portfolio_run(close, [[0.5, 0.5], [0.0, 1.0]], cash=1000.0, fees=0.02, lot_size=1.0)
    assert fee.fills["units"][-1] == 27.0
    assert fee.cash[-1] > 0.0


def test_portfolio_orders_under_the_minimum_are_rejected_and_counted():
    close = [[10.0, 20.0], [12.0, 21.0]]
    out = portfolio_run(close, [[0.5, 0.5], [0.0, 1.0]], cash=1000.0, min_notional=600.0)
    # bar 0: two buys of 500 < 600, rejected; bar 1: V = 1000 (nothing held), buy 1000 of
    # symbol 1 (1000 / 21 units), symbol 0 holds nothing to sell
    assert out.rejected == 2
    assert out.fills["col"].tolist() == [1]
    np.testing.assert_allclose(out.fills["units"], [1000.0 / 21.0])


def test_portfolio_closes_are_never_cut():
    close = [[10.0, 20.0], [12.0, 21.0]]
    out = portfolio_run(close, [[0.3, 0.7], [0.0, NAN]], cash=1000.0, lot_size=7.0)
    # 300 / 10 = 30 -> 28 (four lots); 700 / 20 = 35 (five lots); the exit sells all 28
    np.testing.assert_allclose(out.fills["units"], [28.0, 35.0, 28.0])
    assert out.units[-1].tolist() == [0.0, 35.0]


def _multiple(q: np.ndarray, lot: float) -> np.ndarray:
    k = np.round(q / lot)
    return np.abs(k * lot - q) <= 1e-9 * np.maximum(np.abs(q), lot)


def check_fills(fills: np.ndarray, lot: float, minimum: float) -> None:
    """Every fill but a whole close is a lot multiple worth at least the minimum."""
    held: dict[int, float] = {}
    for row in fills:
        c = int(row["col"])
        pos = held.get(c, 0.0)
        opposite = row["side"] * pos < 0.0
        held[c] = pos + row["side"] * row["units"]
        if opposite and row["units"] >= abs(pos) * (1 - 1e-12):
            rest = row["units"] - abs(pos)  # a close in full, then maybe the opposite side
            if rest <= 1e-9 * row["units"]:
                continue
            assert _multiple(np.array([rest]), lot).all(), row
        else:
            assert _multiple(np.array([row["units"]]), lot).all(), row
        if not np.isnan(minimum):
            assert row["units"] * row["price"] >= minimum, row


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    lot=st.sampled_from([0.001, 0.25, 1.0, 3.0]),
    minimum=st.sampled_from([NAN, 5.0, 300.0]),
    direction=st.sampled_from([LONG, BOTH]),
)
def test_target_fills_are_lot_multiples_and_over_the_minimum(seed, lot, minimum, direction):
    rng = np.random.default_rng(seed)
    n = 40
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.03, n)))
    raw = rng.choice([-1.0, -0.5, 0.0, 0.3, 0.5, 1.0, NAN], size=n)
    opts = {"cash": 1000.0, "fees": 0.001, "lot_size": lot, "min_notional": minimum}
    out = target_run(raw, close, direction, **opts)
    check_fills(out.fills, lot, minimum)
    assert _multiple(out.units[:, 0], lot).all()


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    lot=st.sampled_from([0.01, 0.5, 2.0]),
    minimum=st.sampled_from([NAN, 20.0, 250.0]),
)
def test_portfolio_fills_are_lot_multiples_and_over_the_minimum(seed, lot, minimum):
    rng = np.random.default_rng(seed)
    n, k = 30, 3
    close = 50.0 * np.exp(np.cumsum(rng.normal(0, 0.04, (n, k)), axis=0))
    w = rng.dirichlet(np.ones(k + 1), size=n)[:, :k] * rng.choice([0.0, 1.0], size=(n, k))
    w[rng.random((n, k)) < 0.3] = NAN
    out = portfolio_run(close, w, cash=1000.0, fees=0.002, lot_size=lot, min_notional=minimum)
    check_fills(out.fills, lot, minimum)
    assert _multiple(out.units.ravel(), lot).all()
    assert (out.cash >= -1e-9).all()


@pytest.mark.parametrize("lot", [0.1, 1.0])
def test_portfolio_rules_off_equal_rules_that_never_bite(lot):
    close = [[10.0, 20.0], [12.0, 21.0], [11.0, 22.0]]
    w = [[0.5, 0.5], [NAN, NAN], [0.0, 1.0]]
    a = portfolio_run(close, w, cash=1000.0)
    b = portfolio_run(close, w, cash=1000.0, min_notional=1e-9)
    np.testing.assert_array_equal(a.equity, b.equity)
    np.testing.assert_array_equal(a.fills, b.fills)
    c = portfolio_run(close, w, cash=1000.0, lot_size=lot)
    assert _multiple(c.units.ravel(), lot).all()
