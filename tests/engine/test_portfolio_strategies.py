"""Built-in portfolio (weights) strategies and the rebalance / pick helpers they share."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sparkbt as sb
from sparkbt.data.panel import Panel
from sparkbt.indicators import rebalance_bars, top_k

NAN = np.nan
PORTFOLIO = ("equal_weight", "momentum_rotation", "inverse_volatility", "momentum_ls")


def frame(closes: dict[str, float]) -> pd.DataFrame:
    """Canonical daily candles from {date: close} (open = high = low = close)."""
    index = (
        pd.DatetimeIndex(pd.to_datetime(list(closes)), name="timestamp")
        .tz_localize("UTC")
        .as_unit("ns")
    )
    close = np.array(list(closes.values()), dtype=float)
    out = pd.DataFrame(
        {"open": close, "high": close, "low": close, "close": close, "volume": 1.0}, index=index
    )
    out.attrs["timeframe"] = "1d"
    return out


def daily(closes: list[float], start: str = "2021-01-01", skip: tuple[int, ...] = ()) -> dict:
    days = pd.date_range(start, periods=len(closes), freq="1D").strftime("%Y-%m-%d")
    return {d: c for i, (d, c) in enumerate(zip(days, closes, strict=True)) if i not in skip}


def run(name: str, panel: Panel, **params) -> pd.DataFrame:
    strategy = sb.get_strategy(name)
    weights = strategy.func(panel, **strategy.validate(params))
    assert isinstance(weights, pd.DataFrame)
    assert weights.index.equals(panel.index)
    assert list(weights.columns) == panel.symbols
    return weights


def rows(weights: pd.DataFrame) -> dict[str, list[float]]:
    """The bars with any order: {date: weights}, NaN kept (compare with np.testing)."""
    ordered = weights.dropna(how="all")
    return {
        t.strftime("%Y-%m-%d"): list(r)
        for t, r in zip(ordered.index, ordered.to_numpy(), strict=True)
    }


def assert_rows(weights: pd.DataFrame, expected: dict[str, list[float]]) -> None:
    got = rows(weights)
    assert list(got) == list(expected)
    for day, values in expected.items():
        np.testing.assert_allclose(got[day], values, rtol=1e-12, atol=0, err_msg=day)


# rebalance_bars ------------------------------------------------------------------


def test_rebalance_on_the_first_bar_of_each_month_week_quarter_and_year():
    index = pd.date_range("2021-01-30", "2022-01-03", freq="1D", tz="UTC")

    def starts(every: str) -> list[str]:
        return list(index[rebalance_bars(index, every)].strftime("%Y-%m-%d"))

    months = starts("1M")
    assert months[:3] == ["2021-01-30", "2021-02-01", "2021-03-01"]
    assert months[-1] == "2022-01-01" and len(months) == 13
    assert starts("1m") == months  # calendar periods: m is a month, never a minute
    assert starts("M") == months
    assert starts("3M") == ["2021-01-30", "2021-04-01", "2021-07-01", "2021-10-01", "2022-01-01"]
    assert starts("1Q") == starts("3M")
    assert starts("1Y") == ["2021-01-30", "2022-01-01"]
    weeks = starts("1W")  # ISO weeks: Mondays
    assert weeks[:3] == ["2021-01-30", "2021-02-01", "2021-02-08"]
    assert all(pd.Timestamp(d).day_of_week == 0 for d in weeks[1:])
    assert starts("1D") == list(index.strftime("%Y-%m-%d"))
    assert starts("2D")[:3] == ["2021-01-30", "2021-01-31", "2021-02-02"]  # even days since 1970


def test_rebalance_uses_the_first_bar_present_and_does_not_depend_on_the_start():
    hourly = pd.date_range("2021-03-01 05:00", periods=24 * 70, freq="1h", tz="UTC")
    gappy = hourly[(hourly.day != 1) | (hourly.month != 4)]  # no bar at all on April 1st
    picked = gappy[rebalance_bars(gappy, "1M")]
    assert list(picked) == [
        pd.Timestamp("2021-03-01 05:00", tz="UTC"),
        pd.Timestamp("2021-04-02 00:00", tz="UTC"),
        pd.Timestamp("2021-05-01 00:00", tz="UTC"),
    ]
    for every in ("1D", "2W", "1M", "3M"):
        whole = rebalance_bars(hourly, every)
        later = rebalance_bars(hourly[100:], every)
        assert later[0] and (later[1:] == whole[101:]).all()


def test_rebalance_skips_nat_and_accepts_naive_utc_stamps():
    index = pd.DatetimeIndex(["2021-01-31", "NaT", "2021-02-01", "2021-02-02"])
    assert rebalance_bars(index, "1M").tolist() == [True, False, True, False]
    assert rebalance_bars(index[:0], "1M").tolist() == []
    aware = pd.DatetimeIndex(["2021-01-31 23:00", "2021-02-01 01:00"]).tz_localize("Etc/GMT+2")
    assert rebalance_bars(aware, "1M").tolist() == [True, False]  # both in February UTC


@pytest.mark.parametrize("every", ["", "X", "1X", "0M", "M1", "1h", "1.5M", "20000D", "1 month"])
def test_a_bad_rebalance_period_is_one_strategy_error(every):
    index = pd.date_range("2021-01-01", periods=3, freq="1D", tz="UTC")
    with pytest.raises(sb.StrategyError, match=r"^every: expected a count .* \(got ") as err:
        rebalance_bars(index, every)
    assert isinstance(err.value, ValueError)
    assert repr(every) in str(err.value)


# top_k ---------------------------------------------------------------------------


def test_top_k_picks_the_highest_ties_to_the_earlier_column_and_never_nan():
    scores = np.array([[1.0, 3.0, NAN, 3.0], [NAN, NAN, 1.0, 0.0], [NAN, NAN, NAN, NAN]])
    assert top_k(scores, 1).tolist() == [
        [False, True, False, False],
        [False, False, True, False],
        [False, False, False, False],
    ]
    assert top_k(scores, 5).tolist() == (~np.isnan(scores)).tolist()
    assert top_k(-scores, 1)[0].tolist() == [True, False, False, False]
    per_row = top_k(scores, np.array([2, 0, 1]))
    assert per_row.tolist() == [
        [False, True, False, True],
        [False, False, False, False],
        [False, False, False, False],
    ]
    with pytest.raises(ValueError, match="k must be"):
        top_k(scores, -1)
    with pytest.raises(ValueError, match="k must be"):
        top_k(scores, np.array([1, 2]))


# equal_weight --------------------------------------------------------------------


def test_equal_weight_rebalances_on_the_first_bar_of_each_month():
    n = 32  # 2021-01-30 .. 2021-03-02
    panel = Panel(
        {
            "A": frame(daily([100.0] * n, "2021-01-30")),
            "B": frame(daily([50.0] * n, "2021-01-30", skip=(30,))),  # no candle 2021-03-01
            "C": frame(daily([10.0] * (n - 1), "2021-01-31")),  # lists a day later
        },
        "1d",
    )
    weights = run("equal_weight", panel)
    assert_rows(
        weights,
        {
            "2021-01-30": [0.5, 0.5, NAN],
            "2021-02-01": [1 / 3, 1 / 3, 1 / 3],
            "2021-03-01": [0.5, NAN, 0.5],
        },
    )
    assert len(rows(run("equal_weight", panel, every="1D"))) == n
    with pytest.raises(sb.StrategyError, match="every: expected"):
        run("equal_weight", panel, every="monthly")


# momentum_rotation ---------------------------------------------------------------

# two-bar returns, by hand:   t2     t3       t4      t5
#   A 10 11 12 13 14 15      0.2    0.1818   0.1667  0.1538
#   B 10 10 15 15 15 15      0.5    0.5      0       0
#   C 10  9  8 20 21 22     -0.2    1.2222   1.625   0.1
MOMENTUM = {
    "A": [10.0, 11.0, 12.0, 13.0, 14.0, 15.0],
    "B": [10.0, 10.0, 15.0, 15.0, 15.0, 15.0],
    "C": [10.0, 9.0, 8.0, 20.0, 21.0, 22.0],
}


def momentum_panel(skip: dict[str, tuple[int, ...]] | None = None) -> Panel:
    skip = skip or {}
    return Panel({s: frame(daily(c, skip=skip.get(s, ()))) for s, c in MOMENTUM.items()}, "1d")


def test_momentum_rotation_holds_the_top_k_by_lookback_return():
    panel = momentum_panel()
    top1 = run("momentum_rotation", panel, lookback=2, k=1, every="1D")
    assert_rows(  # the first two bars have no two-bar history: no orders
        top1,
        {
            "2021-01-03": [0.0, 1.0, 0.0],
            "2021-01-04": [0.0, 0.0, 1.0],
            "2021-01-05": [0.0, 0.0, 1.0],
            "2021-01-06": [1.0, 0.0, 0.0],
        },
    )
    top2 = run("momentum_rotation", panel, lookback=2, k=2, every="1D")
    assert rows(top2)["2021-01-03"] == [0.5, 0.5, 0.0]
    assert rows(top2)["2021-01-06"] == [0.5, 0.0, 0.5]
    spread = run("momentum_rotation", panel, lookback=2, k=5, every="1D")
    assert rows(spread)["2021-01-03"] == [0.2, 0.2, 0.2]  # fewer than k: the rest is cash


def test_momentum_rotation_waits_for_history_and_the_rebalance_bar():
    # 2021-01-01 is a Friday: weekly rebalances on Jan 1 (no history yet) and Monday Jan 4
    weekly = run("momentum_rotation", momentum_panel(), lookback=2, k=1, every="1W")
    assert_rows(weekly, {"2021-01-04": [0.0, 0.0, 1.0]})
    assert run("momentum_rotation", momentum_panel(), lookback=6).isna().all().all()


def test_momentum_rotation_gives_nan_where_a_symbol_has_no_candle():
    # C has no candle on Jan 5: it cannot trade there; A (0.1667) beats B (0)
    # on Jan 6, C's return is against its last close at or before Jan 4: 22 / 20 - 1
    panel = momentum_panel({"C": (4,)})
    weights = run("momentum_rotation", panel, lookback=2, k=1, every="1D")
    assert rows(weights)["2021-01-05"][:2] == [1.0, 0.0]
    assert np.isnan(rows(weights)["2021-01-05"][2])
    assert rows(weights)["2021-01-06"] == [1.0, 0.0, 0.0]


def test_momentum_ties_go_to_the_earlier_symbol():
    flat = Panel({s: frame(daily([5.0, 5.0, 5.0])) for s in ("X", "Y", "Z")}, "1d")
    weights = run("momentum_rotation", flat, lookback=1, k=2, every="1D")
    assert_rows(weights, {"2021-01-02": [0.5, 0.5, 0.0], "2021-01-03": [0.5, 0.5, 0.0]})


# inverse_volatility --------------------------------------------------------------


def test_inverse_volatility_weights_are_proportional_to_one_over_std():
    # population std of the last two own-candle returns:
    #   A  +10%, -10%, +10%        -> 0.1 at t2 and t3
    #   B  +2%,  -1%,  +2%         -> 0.015
    #   C  flat                    -> 0: unmeasurable risk, weight 0
    #   D  +10%, (no t2), -10%     -> no candle at t2 (NaN), 0.1 at t3
    panel = Panel(
        {
            "A": frame(daily([100.0, 110.0, 99.0, 108.9])),
            "B": frame(daily([100.0, 102.0, 100.98, 102.9996])),
            "C": frame(daily([50.0, 50.0, 50.0, 50.0])),
            "D": frame(daily([100.0, 110.0, 0.0, 99.0], skip=(2,))),
        },
        "1d",
    )
    weights = run("inverse_volatility", panel, window=2, every="1D")
    got = rows(weights)
    assert list(got) == ["2021-01-03", "2021-01-04"]  # two returns need three candles
    # 1/0.1 : 1/0.015 = 3 : 20
    np.testing.assert_allclose(got["2021-01-03"], [3 / 23, 20 / 23, 0.0, NAN], rtol=1e-9)
    np.testing.assert_allclose(got["2021-01-04"], [3 / 26, 20 / 26, 0.0, 3 / 26], rtol=1e-9)
    assert weights.abs().sum(axis=1).max() == pytest.approx(1.0, abs=1e-12)


def test_inverse_volatility_rebalances_only_on_period_starts():
    frames = {s: sb.synthetic_candles(120, timeframe="1d", seed=i) for i, s in enumerate("AB")}
    weights = run("inverse_volatility", Panel(frames, "1d"), window=10, every="1M")
    assert [d[5:] for d in rows(weights)] == ["02-01", "03-01", "04-01"]  # Jan 1: no history


# momentum_ls ---------------------------------------------------------------------


def test_momentum_ls_longs_the_top_k_and_shorts_the_bottom_k_at_gross_one():
    # one-bar returns on Jan 2: A +10%, B -20%, C +30%, D 0%
    panel = Panel(
        {
            "A": frame(daily([10.0, 11.0])),
            "B": frame(daily([10.0, 8.0])),
            "C": frame(daily([10.0, 13.0])),
            "D": frame(daily([10.0, 10.0])),
        },
        "1d",
    )
    one = rows(run("momentum_ls", panel, lookback=1, k=1, every="1D"))
    assert one == {"2021-01-02": [0.0, -0.5, 0.5, 0.0]}
    two = rows(run("momentum_ls", panel, lookback=1, k=2, every="1D"))
    assert two == {"2021-01-02": [0.25, -0.25, 0.25, -0.25]}
    assert sum(map(abs, two["2021-01-02"])) == 1.0 and sum(two["2021-01-02"]) == 0.0


def test_momentum_ls_with_few_ranked_symbols_keeps_the_legs_apart():
    three = Panel(
        {s: frame(daily([10.0, c])) for s, c in zip("ABC", (11.0, 8.0, 13.0), strict=True)}, "1d"
    )
    # k=2 but three ranked: one per leg, each still 0.5/k
    assert rows(run("momentum_ls", three, lookback=1, k=2, every="1D")) == {
        "2021-01-02": [0.0, -0.25, 0.25]
    }
    alone = Panel(
        {"A": frame(daily([10.0, 11.0])), "B": frame(daily([10.0], start="2021-01-02"))}, "1d"
    )
    assert rows(run("momentum_ls", alone, lookback=1, k=1, every="1D")) == {
        "2021-01-02": [0.0, 0.0]  # one ranked symbol cannot make two legs: flat
    }


# every strategy ------------------------------------------------------------------


@pytest.mark.parametrize("name", PORTFOLIO)
def test_weights_obey_the_contract_on_a_gappy_panel(name):
    frames = {
        "A": sb.synthetic_candles(3000, timeframe="4h", seed=1, symbol="A"),
        "B": sb.synthetic_candles(3000, timeframe="4h", seed=2, symbol="B").iloc[400:],
        "C": sb.synthetic_candles(3000, timeframe="4h", seed=3, symbol="C").iloc[::5],
    }
    panel = Panel(frames, "4h")
    weights = run(name, panel, every="1D").to_numpy()
    has = panel.has_candle()
    assert np.isnan(weights[~has]).all()  # no candle, no order
    ordered = ~np.isnan(weights).all(axis=1)
    assert ordered.any()
    assert not ordered[~rebalance_bars(panel.index, "1D")].any()
    assert np.nanmax(np.abs(weights)) <= 1.0
    assert (np.nansum(np.abs(weights), axis=1) <= 1.0 + 1e-9).all()
    again = run(name, panel, every="1D").to_numpy()
    np.testing.assert_array_equal(weights, again)


def test_schemas():
    schemas = {name: sb.get_strategy(name).schema() for name in PORTFOLIO}
    every = {
        "name": "every",
        "type": "str",
        "min": None,
        "max": None,
        "help": "rebalance on the first bar of each period: 1D, 1W, 1M, 3M, 1Y",
    }
    assert schemas["equal_weight"]["params"] == [{**every, "default": "1M"}]
    lookback = {"name": "lookback", "type": "int", "default": 30, "min": 1, "max": 100_000}
    for name, leg in (
        ("momentum_rotation", "symbols held at once"),
        ("momentum_ls", "symbols in each leg"),
    ):
        params = schemas[name]["params"]
        assert params[0] == {**lookback, "help": "return lookback, bars"}
        assert params[1] == {
            "name": "k",
            "type": "int",
            "default": 1,
            "min": 1,
            "max": 10_000,
            "help": leg,
        }
        assert params[2] == {**every, "default": "1W"}
    assert schemas["inverse_volatility"]["params"][0] == {
        "name": "window",
        "type": "int",
        "default": 30,
        "min": 2,
        "max": 100_000,
        "help": "volatility window, returns",
    }
    assert schemas["inverse_volatility"]["params"][1] == {**every, "default": "1W"}
    for schema in schemas.values():
        assert schema["doc"] and "\n\n" not in schema["doc"]
        assert schema["constraints"] == []
    with pytest.raises(sb.StrategyError, match=r"'k' must be an int in \[1, 10000\]"):
        sb.get_strategy("momentum_rotation").validate({"k": 0})
    assert {"equal_weight", "momentum_ls"} <= {s.name for s in sb.list_strategies()}
