"""Hand-computed checks of the v2 reference simulator itself (tests/engine/reference.py).

Bars are given as close prices; open defaults to close, high/low to max/min of open and close.
Every expected number is worked out in the comments next to it. cash is 10_000 unless stated.
"""

import numpy as np
import pytest

from tests.engine.reference import reference_simulate

nan = np.nan


def run(close, targets, *, open=None, high=None, low=None, **kw):
    c = np.asarray(close, dtype=float)
    o = c.copy() if open is None else np.asarray(open, dtype=float)
    h = np.maximum(o, c) if high is None else np.asarray(high, dtype=float)
    lo = np.minimum(o, c) if low is None else np.asarray(low, dtype=float)
    return reference_simulate(o, h, lo, c, np.asarray(targets, dtype=float), **kw)


def fills_of(res):
    return [(f["bar"], f["side"], f["reason"]) for f in res["fills"]]


def locks_of(res):
    return [
        (r["gate"], r["first_bar"], r["last_bar"], r["equity"], r["limit"]) for r in res["locks"]
    ]


def approx(x):
    return pytest.approx(x, rel=1e-12, abs=1e-9)


# ---------------------------------------------------------------- fill at close


def test_close_fill_long_all_in_with_fees():
    # bar 0: no opinion yet -> flat. bar 1: buy 10_000 / (10 * 1.25) = 800 units at 10,
    # fee 800 * 10 * 0.25 = 2000, cash 0, equity 8000. bar 2: 800 * 11 = 8800.
    # bar 3: sell 800 at 12 = 9600, fee 2400, cash 7200.
    res = run([10, 10, 11, 12], [nan, 1, nan, 0], fees=0.25)
    assert res["equity"].tolist() == approx([10_000, 8000, 8800, 7200])
    assert res["units"].tolist() == approx([0, 800, 800, 0])
    assert fills_of(res) == [(1, 1, "signal"), (3, -1, "signal")]
    (tr,) = res["trades"]
    # pnl = 9600 - 8000 - 2000 - 2400 = -2800; ret = -2800 / 8000
    assert (tr["side"], tr["entry_bar"], tr["exit_bar"]) == (1, 1, 3)
    assert (tr["entry_price"], tr["exit_price"]) == approx((10, 12))
    assert (tr["entry_fee"], tr["exit_fee"], tr["units"]) == approx((2000, 2400, 800))
    assert (tr["pnl"], tr["ret"]) == approx((-2800, -0.35))
    assert (tr["exit_reason"], tr["is_open"], res["ruined"]) == ("signal", False, False)


def test_close_fill_short_with_slippage():
    # bar 0: sell at 100 * 0.8 = 80, 10_000 / 80 = 125 units, cash 20_000,
    # equity 20_000 - 125 * 100 = 7500. bar 1: 20_000 - 125 * 80 = 10_000.
    # bar 2: buy back at 50 * 1.2 = 60 -> cash 20_000 - 7500 = 12_500.
    res = run([100, 80, 50], [-1, -1, 0], direction="short", slippage=0.2)
    assert res["equity"].tolist() == approx([7500, 10_000, 12_500])
    (tr,) = res["trades"]
    # pnl = 125 * (80 - 60) = 2500, ret = 2500 / 10_000
    assert tr["side"] == -1
    assert (tr["entry_price"], tr["exit_price"], tr["pnl"], tr["ret"]) == approx(
        (80, 60, 2500, 0.25)
    )


def test_close_fill_short_clips_positive_targets():
    # short: [-1, 1, 0] -> [-1, 0, 0]; short 100 at 100, buy back 100 at 80 on bar 1 -> 12_000
    res = run([100, 80, 90], [-1, 1, 0], direction="short")
    assert res["equity"].tolist() == approx([10_000, 12_000, 12_000])
    assert fills_of(res) == [(0, -1, "signal"), (1, 1, "signal")]


def test_close_fill_both_reverses_in_two_fills():
    # bar 0: buy 1000 at 10. bar 1: sell 1000 at 20 (cash 20_000), then short 20_000 / 20 = 1000
    # (cash 40_000, units -1000): equity 20_000. bar 2: buy 1000 at 10 -> cash 30_000.
    res = run([10, 20, 10], [1, -1, 0], direction="both")
    assert res["equity"].tolist() == approx([10_000, 20_000, 30_000])
    assert res["units"].tolist() == approx([1000, -1000, 0])
    assert fills_of(res) == [
        (0, 1, "signal"),
        (1, -1, "signal"),
        (1, -1, "signal"),
        (2, 1, "signal"),
    ]
    long_, short = res["trades"]
    assert (long_["side"], long_["exit_bar"], long_["pnl"]) == (1, 1, approx(10_000))
    assert (short["side"], short["entry_bar"], short["exit_bar"]) == (-1, 1, 2)
    assert (short["pnl"], short["ret"]) == approx((10_000, 0.5))
    # long only: [1, -1, 0] -> [1, 0, 0], one trade closed at 20
    res = run([10, 20, 10], [1, -1, 0], direction="long")
    assert res["equity"].tolist() == approx([10_000, 20_000, 20_000])
    assert len(res["trades"]) == 1


def test_fractional_targets_and_open_trade():
    # bar 0: 0.5 -> commit 5000, 50 units at 100, cash 5000.
    # bar 1: 0.5 -> 1: free = cash = 5000, commit 5000 * 0.5 / 0.5 = 5000 -> 50 more, cash 0.
    # bar 2: 1 -> 0.25: sell 100 * (1 - 0.25) = 75 at 200 -> cash 15_000, 25 units left,
    # equity 15_000 + 25 * 200 = 20_000. Open trade valued at the last close:
    # exit value 15_000 + 5000 over 100 units -> exit price 200, pnl 10_000.
    res = run([100, 100, 200], [0.5, 1, 0.25])
    assert res["equity"].tolist() == approx([10_000, 10_000, 20_000])
    assert res["units"].tolist() == approx([50, 100, 25])
    (tr,) = res["trades"]
    assert (tr["exit_reason"], tr["is_open"], tr["exit_bar"]) == ("open", True, 2)
    assert (tr["units"], tr["entry_price"], tr["exit_price"]) == approx((100, 100, 200))
    assert (tr["pnl"], tr["ret"], tr["exit_fee"]) == approx((10_000, 1.0, 0))


def test_zero_unit_fill_is_no_fill_and_no_trade():
    # cash 1, target 5e-324: commit 5e-324, units 5e-324 / 1000 underflows to 0
    res = run([1000, 1000], [5e-324, 0], cash=1.0)
    assert res["fills"] == [] and res["trades"] == []
    assert res["units"].tolist() == [0, 0]


# ------------------------------------------------------------------ next open


def test_next_open_fills_and_order_on_last_bar_dropped():
    # bar 0 order -> bar 1 buys 10_000 / 20 = 500 at open 20; equity 500 * 25 = 12_500.
    # bar 2: 500 * 30 = 15_000, exit order. bar 3: sell 500 at open 40 -> 20_000.
    # The entry order of bar 3 (last bar) is dropped.
    res = run([10, 25, 30, 50], [1, nan, 0, 1], open=[10, 20, 25, 40], fill="next_open")
    assert res["equity"].tolist() == approx([10_000, 12_500, 15_000, 20_000])
    assert res["units"].tolist() == approx([0, 500, 500, 0])
    assert [(f["bar"], f["side"], f["price"]) for f in res["fills"]] == [(1, 1, 20), (3, -1, 40)]
    (tr,) = res["trades"]
    assert (tr["entry_bar"], tr["exit_bar"], tr["pnl"], tr["is_open"]) == (1, 3, 10_000, False)


def test_next_open_exit_at_open_beats_stop_later_in_bar():
    # bar 1 buys 100 at open 100; E = close[1] = 100, S = 90. bar 2: open/low 100, no stop;
    # exit order. bar 3: sells at open 95 (-> 9500) before the low 80 could reach S.
    kw = dict(open=[100, 100, 100, 95], low=[100, 100, 100, 80], fill="next_open", sl_stop=0.1)
    res = run([100, 100, 100, 85], [1, 1, 0, 0], **kw)
    assert [(f["bar"], f["price"], f["reason"]) for f in res["fills"]] == [
        (1, 100, "signal"),
        (3, 95, "signal"),
    ]
    assert res["equity"].tolist() == approx([10_000, 10_000, 10_000, 9500])
    # holding instead: bar 3 open 95 > 90, low 80 <= 90 -> stop at 90 -> 9000
    res = run([100, 100, 100, 85], [1, 1, 1, 1], **kw)
    assert res["fills"][-1]["price"] == approx(90) and res["equity"][-1] == approx(9000)


def test_next_open_stop_uses_fill_bar_close_and_signal_bar_fraction():
    # signal on bar 0, fill at open[1] = 100 (100 units); E = close[1] = 110; fraction sl[0] = 0.2
    # -> S = 88. bar 2: open 95 > 88, low 87 <= 88 -> sell at 88 -> 8800.
    # (sl[1] = 0.05 or sl_stop 0.01 would exit at the open 95; E = 100 would give S = 80.)
    res = run(
        [100, 110, 95],
        [1, 1, 1],
        open=[100, 100, 95],
        low=[100, 100, 87],
        fill="next_open",
        sl=np.array([0.2, 0.05, nan]),
        sl_stop=0.01,
    )
    assert [(f["bar"], f["price"], f["reason"]) for f in res["fills"]] == [
        (1, 100, "signal"),
        (2, 88, "stop_loss"),
    ]
    assert res["equity"].tolist() == approx([10_000, 11_000, 8800])


# ---------------------------------------------------------------------- stops


def long_stop_run(bar1, **kw):
    """Entry at close 100 on bar 0 (100 units); bar1 = (open, high, low, close); bar 2 at 95."""
    o, h, lo, c = bar1
    return run(
        [100, c, 95], [1, 1, 1], open=[100, o, 95], high=[100, h, 95], low=[100, lo, 95], **kw
    )


def test_stop_loss_intrabar():
    # S = 90: open 95 > 90, low 88 <= 90 -> sell 100 at 90 -> 9000; target stays 1: no re-entry
    res = long_stop_run((95, 97, 88, 92), sl_stop=0.1)
    assert res["equity"].tolist() == approx([10_000, 9000, 9000])
    assert fills_of(res) == [(0, 1, "signal"), (1, -1, "stop_loss")]
    (tr,) = res["trades"]
    assert (tr["exit_reason"], tr["exit_price"], tr["pnl"]) == (
        "stop_loss",
        approx(90),
        approx(-1000),
    )


def test_gap_through_stop_fills_at_open():
    # open 85 <= S = 90 -> sell at the open 85 -> 8500
    res = long_stop_run((85, 87, 80, 86), sl_stop=0.1)
    assert res["fills"][-1]["price"] == approx(85) and res["equity"][-1] == approx(8500)
    assert res["fills"][-1]["reason"] == "stop_loss"


def test_stop_level_from_close_and_slipped_adversely():
    # buy at 100 * 1.1 = 110: 10_000 / 110 units; S = 100 * 0.9 = 90 (the close, not 110),
    # hit by low 88; sold at 90 * 0.9 = 81 -> cash 10_000 / 110 * 81
    res = long_stop_run((95, 97, 88, 92), sl_stop=0.1, slippage=0.1)
    assert res["fills"][-1]["price"] == approx(81)
    assert res["equity"][-1] == approx(10_000 / 110 * 81)


@pytest.mark.parametrize(
    "bar1, price",
    [
        ((105, 125, 100, 110), 120),  # high 125 >= P = 120 -> at P
        ((130, 135, 128, 131), 130),  # open 130 >= P -> at the open
    ],
)
def test_take_profit(bar1, price):
    res = long_stop_run(bar1, tp_stop=0.2)
    assert res["fills"][-1]["reason"] == "take_profit"
    assert res["fills"][-1]["price"] == approx(price)
    assert res["equity"][-1] == approx(100 * price)
    assert res["trades"][0]["exit_reason"] == "take_profit"


def test_both_levels_in_one_bar_assumes_the_loss():
    # S = 90, P = 110; open 100 hits neither, low 85 and high 115 both reach: stop at 90
    res = long_stop_run((100, 115, 85, 112), sl_stop=0.1, tp_stop=0.1)
    assert res["fills"][-1]["reason"] == "stop_loss" and res["fills"][-1]["price"] == approx(90)


@pytest.mark.parametrize(
    "bar1, price, reason",
    [
        ((100, 112, 95, 105), 110, "stop_loss"),  # S = 110 reached by the high
        ((100, 101, 88, 95), 90, "take_profit"),  # P = 90 reached by the low
    ],
)
def test_short_stop_and_take_profit(bar1, price, reason):
    # short 100 at 100: cash 20_000; buy back 100 at price -> 20_000 - 100 * price
    o, h, lo, c = bar1
    res = run(
        [100, c, 95],
        [-1, -1, -1],
        open=[100, o, 95],
        high=[100, h, 95],
        low=[100, lo, 95],
        direction="short",
        sl_stop=0.1,
        tp_stop=0.1,
    )
    assert (res["fills"][-1]["reason"], res["fills"][-1]["side"]) == (reason, 1)
    assert res["fills"][-1]["price"] == approx(price)
    assert res["equity"][-1] == approx(20_000 - 100 * price)


def test_trailing_stop_long():
    # bar 1 checked with R = 100: S = 90, low 105 no hit (its own high 120 would give 108 and hit);
    # then R = 120. bar 2: S = 108 (its own high 125 would give 112.5): open 115, low 107 -> at 108.
    res = run(
        [100, 115, 110],
        [1, 1, 1],
        open=[100, 100, 115],
        high=[100, 120, 125],
        low=[100, 105, 107],
        sl_stop=0.1,
        sl_trail=True,
    )
    assert res["equity"].tolist() == approx([10_000, 11_500, 10_800])
    assert (res["fills"][-1]["bar"], res["fills"][-1]["reason"]) == (2, "trailing_stop")
    assert res["fills"][-1]["price"] == approx(108)
    assert res["trades"][0]["exit_reason"] == "trailing_stop"


def test_take_profit_level_stays_at_entry_close_when_trailing():
    # E = 100, P = 120 whatever the trailing reference does. bar 1: high 115, no exit (S = 50);
    # the trailing reference moves to 115. bar 2: open 118 < 120, high 125 -> sell at 120.
    res = run(
        [100, 110, 119],
        [1, 1, 1],
        open=[100, 105, 118],
        high=[100, 115, 125],
        low=[100, 104, 117],
        sl_stop=0.5,
        tp_stop=0.2,
        sl_trail=True,
    )
    assert (res["fills"][-1]["bar"], res["fills"][-1]["reason"]) == (2, "take_profit")
    assert res["fills"][-1]["price"] == approx(120) and res["equity"][-1] == approx(12_000)


def test_trailing_stop_short():
    # short 100 at 100 (cash 20_000). bar 1 with R = 100: S = 110, high 96 no hit; R = 80.
    # bar 2: S = 88 (own low 84 would give 92.4): open 85, high 90 -> buy at 88 -> 11_200.
    res = run(
        [100, 85, 86],
        [-1, -1, -1],
        open=[100, 95, 85],
        high=[100, 96, 90],
        low=[100, 80, 84],
        direction="short",
        sl_stop=0.1,
        sl_trail=True,
    )
    assert res["fills"][-1]["price"] == approx(88) and res["equity"][-1] == approx(11_200)
    assert res["fills"][-1]["reason"] == "trailing_stop"


def test_stop_bar_drops_signal_edge_and_waits_for_new_edge():
    # bar 0 buy 100 at 100. bar 1: stop at 90 (cash 9000); the reversal to -1 on that bar is
    # dropped. bar 2: -1, no edge. bar 3: edge to 0, nothing to open. bar 4: edge to 1 ->
    # buy 9000 / 90 = 100 at 90. bar 5: 100 * 99 = 9900.
    res = run(
        [100, 90, 90, 90, 90, 99],
        [1, -1, -1, 0, 1, 1],
        open=[100, 95, 90, 90, 90, 99],
        high=[100, 96, 90, 90, 90, 99],
        low=[100, 85, 90, 90, 90, 99],
        direction="both",
        sl_stop=0.1,
    )
    assert fills_of(res) == [(0, 1, "signal"), (1, -1, "stop_loss"), (4, 1, "signal")]
    assert res["equity"].tolist() == approx([10_000, 9000, 9000, 9000, 9000, 9900])


# ----------------------------------------------------------------------- ruin


def test_ruin_closes_and_freezes():
    # short 100 at 100 (cash 20_000). bar 1: 20_000 - 15_000 = 5000.
    # bar 2: 20_000 - 25_000 = -5000 <= 0 -> buy back 100 at 250, cash -5000; nothing after.
    res = run([100, 150, 250, 300, 320, 330], [-1, -1, -1, 1, 1, 1], direction="both")
    assert res["ruined"] is True
    assert res["equity"].tolist() == approx([10_000, 5000, -5000, -5000, -5000, -5000])
    assert res["units"].tolist() == approx([-100, -100, 0, 0, 0, 0])
    assert fills_of(res) == [(0, -1, "signal"), (2, 1, "ruin")]
    (tr,) = res["trades"]
    assert (tr["exit_reason"], tr["exit_bar"], tr["pnl"]) == ("ruin", 2, approx(-15_000))


# ---------------------------------------------------------------------- gates


def test_max_drawdown_gate_locks_rest_of_run():
    # 100 units: equity 10_000, 12_500 (peak), 10_000: drawdown 0.2 >= 0.15 on bar 2 -> sell at 100.
    # Locked to the last bar: the edge on bar 4 opens nothing.
    res = run([100, 125, 100, 90, 130, 140], [1, 1, 1, 0, 1, 1], gates={"max_drawdown": 0.15})
    assert res["equity"].tolist() == approx([10_000, 12_500, 10_000, 10_000, 10_000, 10_000])
    assert fills_of(res) == [(0, 1, "signal"), (2, -1, "gate")]
    assert res["trades"][0]["exit_reason"] == "gate"
    assert locks_of(res) == [("max_drawdown", 2, 5, approx(10_000), 0.15)]


def test_max_drawdown_gate_with_cooldown_rearms_peak():
    # bar 2 fires as above; lock bars 2..3 (the cooldown lock of the gate's exit, 2..3, does not
    # extend it: no row). bar 4: edge -> buy 10_000 / 130 at 130, equity 10_000; the peak is
    # re-armed to 10_000 (against the old 12_500 it would be a 0.2 drawdown).
    # bar 5: 10_000 / 130 * 104 = 8000 -> drawdown 0.2 -> sell at 104, lock 5..6.
    res = run(
        [100, 125, 100, 90, 130, 104, 104, 104],
        [1, 1, 1, 0, 1, 1, 1, 1],
        gates={"max_drawdown": 0.15, "cooldown": 1},
    )
    assert fills_of(res) == [(0, 1, "signal"), (2, -1, "gate"), (4, 1, "signal"), (5, -1, "gate")]
    assert res["equity"].tolist() == approx([10_000, 12_500, 10_000, 10_000, 10_000] + [8000] * 3)
    assert locks_of(res) == [
        ("max_drawdown", 2, 3, approx(10_000), 0.15),
        ("max_drawdown", 5, 6, approx(8000), 0.15),
    ]


def test_daily_loss_first_day_measured_from_cash():
    # fees 0.25: bar 0 buys 80 at 100, fee 2000 -> equity 8000 <= 10_000 * 0.9 -> gate:
    # sell 80 at 100 = 8000 less fee 2000 -> cash 6000. Lock to the end of day 0 (bar 1); the lock
    # row holds the marked equity 8000. bar 2: no new edge, stays flat.
    res = run([100, 100, 100], [1, 1, 1], day=[0, 0, 1], fees=0.25, gates={"daily_loss": 0.1})
    assert res["equity"].tolist() == approx([6000, 6000, 6000])
    assert fills_of(res) == [(0, 1, "signal"), (0, -1, "gate")]
    assert locks_of(res) == [("daily_loss", 0, 1, approx(8000), 0.1)]


def test_daily_loss_measured_from_previous_day_last_close():
    # 100 units. day 0: 10_000, 12_000. day 1 reference 12_000 -> limit 10_800:
    # bar 2 11_000 ok, bar 3 10_000 -> gate, sell at 100 -> 10_000; locked to bar 4 (end of day 1).
    # day 2 reference = equity[4] = 10_000. bar 5: edge -> buy 10_000 / 90 at 90;
    # bar 6: 10_000 / 90 * 95. (From the start cash, bar 3 would not fire: 10_000 > 9000.)
    res = run(
        [100, 120, 110, 100, 90, 90, 95],
        [1, 1, 1, 1, 0, 1, 1],
        day=[0, 0, 1, 1, 1, 2, 2],
        gates={"daily_loss": 0.1},
    )
    assert fills_of(res) == [(0, 1, "signal"), (3, -1, "gate"), (5, 1, "signal")]
    expected = [10_000, 12_000, 11_000, 10_000, 10_000, 10_000, 10_000 / 90 * 95]
    assert res["equity"].tolist() == approx(expected)
    assert locks_of(res) == [("daily_loss", 3, 4, approx(10_000), 0.1)]


def test_loss_streak():
    # trades: 100 at 100 -> 90: -1000 (streak 1, cash 9000); 90 at 100 -> 110: +900 (streak 0,
    # 9900); 99 at 100 -> 90: -990 (streak 1, 8910); 89.1 at 100 -> 90: -891 (streak 2, 8019)
    # -> lock from bar 7 to the last bar; the edge on bar 8 opens nothing.
    res = run(
        [100, 90, 100, 110, 100, 90, 100, 90, 100, 90],
        [1, 0, 1, 0, 1, 0, 1, 0, 1, 1],
        gates={"loss_streak": 2},
    )
    assert [t["pnl"] for t in res["trades"]] == approx([-1000, 900, -990, -891])
    assert [t["exit_reason"] for t in res["trades"]] == ["signal"] * 4
    assert res["equity"][-3:].tolist() == approx([8019] * 3)
    assert locks_of(res) == [("loss_streak", 7, 9, approx(8019), 2)]


def test_cooldown():
    # exit on bar 1 -> lock 1..3: the edge on bar 2 opens nothing, the edge on bar 4 buys.
    # exit on bar 6 -> lock 6..8: the edge on bar 7 opens nothing, bars 8-9 have no edge.
    res = run([100] * 10, [1, 0, 1, 0, 1, 1, 0, 1, 1, 1], gates={"cooldown": 2})
    assert [f["bar"] for f in res["fills"]] == [0, 1, 4, 6]
    assert locks_of(res) == [
        ("cooldown", 1, 3, approx(10_000), 2),
        ("cooldown", 6, 8, approx(10_000), 2),
    ]


def test_cooldown_blocks_reversal_on_exit_bar():
    # bar 1: the long closes, lock 1..2, the short leg is not made. bar 4: edge to -1 -> short.
    res = run([100] * 6, [1, -1, -1, 0, -1, -1], direction="both", gates={"cooldown": 1})
    assert fills_of(res) == [(0, 1, "signal"), (1, -1, "signal"), (4, -1, "signal")]
    assert [(t["side"], t["exit_reason"]) for t in res["trades"]] == [(1, "signal"), (-1, "open")]


def test_cooldown_next_open_earliest_entry():
    # buy at open 1, exit at open 2 -> lock 2..3; the order of bar 3 fills at open 4 = 2 + 1 + 1
    res = run([100] * 5, [1, 0, 0, 1, 1], fill="next_open", gates={"cooldown": 1})
    assert [(f["bar"], f["side"]) for f in res["fills"]] == [(1, 1), (2, -1), (4, 1)]
    assert locks_of(res) == [("cooldown", 2, 3, approx(10_000), 1)]
    # the edge on bar 2 would fill at open 3, which is locked: dropped, and no later edge
    res = run([100] * 5, [1, 0, 1, 1, 1], fill="next_open", gates={"cooldown": 1})
    assert [(f["bar"], f["side"]) for f in res["fills"]] == [(1, 1), (2, -1)]


def test_lock_rows_recorded_only_when_extending():
    # losing exit on bar 1 (-1000, equity 9000): loss_streak lock 1..3 recorded first; the
    # cooldown lock 1..3 of the same fill does not extend it. bar 4: buy 100 at 90; bar 5:
    # sell at 100 (+1000, streak 0) -> cooldown lock 5..7 at equity 10_000.
    res = run(
        [100, 90, 90, 90, 90, 100, 100, 100, 100],
        [1, 0, 0, 0, 1, 0, 0, 0, 0],
        gates={"loss_streak": 1, "cooldown": 2},
    )
    assert [f["bar"] for f in res["fills"]] == [0, 1, 4, 5]
    assert locks_of(res) == [
        ("loss_streak", 1, 3, approx(9000), 1),
        ("cooldown", 5, 7, approx(10_000), 2),
    ]


def test_lock_last_bar_is_capped_at_the_last_bar():
    res = run([100] * 3, [1, 0, 0], gates={"cooldown": 5})
    assert locks_of(res) == [("cooldown", 1, 2, approx(10_000), 5)]
