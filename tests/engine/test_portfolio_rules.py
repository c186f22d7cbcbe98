"""Each symbol of a portfolio trades under its own tick, lot and minimum value."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sparkbt as sb
from sparkbt.data.exchange_info import write_exchange_info
from sparkbt.data.store import CandleStore
from sparkbt.engine.exchange import rules_summary, symbol_rules
from sparkbt.engine.kernels import SimOptions
from sparkbt.engine.options import Config
from sparkbt.engine.portfolio_kernels import simulate_portfolio
from sparkbt.engine.portfolio_order_kernels import simulate_portfolio_orders
from sparkbt.errors import ConfigError
from sparkbt.evidence import read_evidence
from sparkbt.research.verify import verify
from tests.engine.order_helpers import order, orders

NAN = float("nan")


def _weights_run(close, weights, rules=None, **opts):
    c = np.asarray(close, dtype=np.float64)
    day = np.zeros(len(c), dtype=np.int64)
    w = np.asarray(weights, dtype=np.float64)
    return simulate_portfolio(c, c, c, c, day, w, SimOptions(**opts), rules)


def test_two_symbols_trade_under_their_own_lot_and_minimum() -> None:
    # A at 3 (lot 1, no minimum), B at 7 (lot 0.5, minimum value 300); cash 1000, no fees.
    rules = np.array([[NAN, NAN], [1.0, 0.5], [NAN, 300.0]])
    out = _weights_run([[3.0, 7.0]] * 3, [[0.5, 0.5], [0.5, 0.2], [0.0, 0.5]], rules, cash=1000.0)
    # bar 0: V = 1000; both keys 500, A first. A: 500/3 = 166.67 -> 166 lots of 1, cost 498.
    #        B: 500/7 = 71.43 -> 142 lots of 0.5 = 71.0, cost 497. Cash 1000 - 498 - 497 = 5.
    # bar 1: V = 1000. B (key 200 - 497 = -297) first: sell 71 - 200/7 = 42.43 -> 42.0 units
    #        worth 294 < 300: rejected. A (key 500 - 498 = 2): buy 0.67 -> no whole lot: rejected.
    # bar 2: V = 1000. A (key -498) sells its 166 in full: cash 5 + 498 = 503. B (key 3):
    #        buy 0.43 -> no lot of 0.5: rejected.
    assert out.units.tolist() == [[166.0, 71.0], [166.0, 71.0], [0.0, 71.0]]
    assert out.cash.tolist() == [5.0, 5.0, 503.0]
    assert out.rejected == 3
    f = out.fills
    assert f["col"].tolist() == [0, 1, 0] and f["units"].tolist() == [166.0, 71.0, 166.0]
    assert f["price"].tolist() == [3.0, 7.0, 3.0]
    # one lot and one minimum for all: B's 42.0-unit sale would pass a minimum of 0
    one = _weights_run(
        [[3.0, 7.0]] * 3, [[0.5, 0.5], [0.5, 0.2], [0.0, 0.5]], cash=1000.0, lot_size=0.5
    )
    assert one.units[1].tolist() == [166.5, 29.0]


def test_a_limit_price_rounds_to_its_own_symbols_tick() -> None:
    bars = np.array([[10.0, 10.0], [11.0, 11.0], [10.0, 10.0]])
    prices = (bars, bars + 1.0, bars - 2.0, bars)
    rows = orders(order(0, 1, 1.0, "limit", price=10.374), order(0, 1, 1.0, "limit", price=10.374))
    symbol = np.array([0, 1])
    rules = np.array([[0.5, 0.01], [NAN, NAN], [NAN, NAN]])
    day = np.zeros(3, dtype=np.int64)
    out = simulate_portfolio_orders(prices, day, rows, symbol, SimOptions(), symbol_rules=rules)
    # bar 1 opens at 11 and trades down to 9: each buy limit fills at its own rounded price,
    # a buy limit rounds down: A's 10.374 to its tick of 0.5 (10.0), B's to 0.01 (10.37)
    fills = out.fills
    assert fills["col"].tolist() == [0, 1]
    assert fills["price"].tolist() == pytest.approx([10.0, 10.37], rel=1e-12)
    assert out.orders["fill_price"].tolist() == pytest.approx([10.0, 10.37], rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    k=st.integers(2, 3),
    n=st.integers(2, 12),
)
def test_every_fill_is_whole_lots_of_its_symbol_and_at_least_its_minimum(data, k, n) -> None:
    price = st.floats(0.5, 200.0, allow_nan=False)
    close = np.array([[data.draw(price) for _ in range(k)] for _ in range(n)])
    weight = st.one_of(st.just(NAN), st.floats(0.0, 1.0 / k))
    weights = np.array([[data.draw(weight) for _ in range(k)] for _ in range(n)])
    lots = [data.draw(st.sampled_from([NAN, 0.001, 0.1, 1.0, 5.0])) for _ in range(k)]
    mins = [data.draw(st.sampled_from([NAN, 10.0, 250.0])) for _ in range(k)]
    rules = np.array([[NAN] * k, lots, mins])
    fees = data.draw(st.sampled_from([0.0, 0.001]))
    out = _weights_run(close, weights, rules, cash=10_000.0, fees=fees)
    held = np.zeros(k)
    for f in out.fills:
        c = int(f["col"])
        held[c] += f["units"] * f["side"]
        if lots[c] == lots[c]:
            steps = f["units"] / lots[c]
            assert abs(steps - round(steps)) < 1e-6, (f, lots[c])
        closes = abs(held[c]) <= 1e-9 * max(1.0, f["units"])
        if mins[c] == mins[c] and not closes:
            assert f["units"] * f["price"] >= mins[c] * (1 - 1e-12), (f, mins[c])


def test_equal_rules_are_the_one_value_path() -> None:
    rng = np.random.default_rng(3)
    close = 50.0 + rng.normal(0, 1, (60, 3)).cumsum(axis=0)
    weights = rng.uniform(0, 1 / 3, (60, 3))
    one = _weights_run(close, weights, cash=5000.0, fees=0.001, lot_size=0.1, min_notional=40.0)
    rules = np.array([[NAN] * 3, [0.1] * 3, [40.0] * 3])
    per = _weights_run(close, weights, rules, cash=5000.0, fees=0.001)
    for a, b in zip(one, per, strict=True):
        np.testing.assert_array_equal(a, b)
    panel = {s: sb.sample_candles().iloc[:400] for s in ("AAA", "BBB")}
    scalar = sb.backtest(panel, "sma_cross", lot_size=0.01)
    mapped = sb.backtest(panel, "sma_cross", lot_size={"AAA": 0.01, "BBB": 0.01})
    assert mapped.stats == scalar.stats


def test_rules_given_per_symbol_must_name_each_symbol() -> None:
    config = Config(lot_size={"AAA": 0.5, "BBB": None})
    assert symbol_rules(config, ["AAA", "BBB"])[1].tolist()[0] == 0.5
    assert np.isnan(symbol_rules(config, ["AAA", "BBB"])[1, 1])
    with pytest.raises(ConfigError, match="lot_size: given per symbol, but not for CCC"):
        symbol_rules(config, ["AAA", "CCC"])
    with pytest.raises(ConfigError, match="lot_size of AAA: must be > 0"):
        Config(lot_size={"AAA": -1.0})
    # one symbol's run takes its own value
    frame = sb.sample_candles().iloc[:400]
    frame.attrs["symbol"] = "AAA"
    res = sb.backtest(frame, "sma_cross", lot_size={"AAA": 0.5, "BBB": 2.0})
    assert res.config["lot_size"] == 0.5


def _info(lot_scale: int, minimum: str) -> dict[str, object]:
    return {
        "numeratorScale": lot_scale,
        "denominatorScale": 2,
        "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.5", "minExchangeValue": minimum}],
    }


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """BTCTRY (lot 0.01, minimum 100) and XRPTRY (lot 1, minimum 20) on different dates."""
    base = sb.sample_candles().iloc[:900]
    store = CandleStore(tmp_path)
    for sym, scale, minimum, date in (
        ("BTCTRY", 2, "100", "2024-03-01T00:00:00Z"),
        ("XRPTRY", 0, "20", "2024-04-01T00:00:00Z"),
    ):
        store.merge(sym, "4h", base)
        write_exchange_info(sym, "btcturk", _info(scale, minimum), date, tmp_path)
    return tmp_path


def _pair(store: Path) -> dict[str, pd.DataFrame]:
    return {s: CandleStore(store).read(s, "4h") for s in ("BTCTRY", "XRPTRY")}


def test_btcturk_rules_of_two_symbols_run_record_both_and_verify(store: Path) -> None:
    res = sb.backtest(_pair(store), "sma_cross", exchange_rules="btcturk", data_dir=store)
    assert res.config["lot_size"] == {"BTCTRY": 0.01, "XRPTRY": 1.0}
    assert res.config["min_notional"] == {"BTCTRY": 100.0, "XRPTRY": 20.0}
    assert res.config["tick_size"] == 0.5
    info = res.report["metadata"]["exchange_rules"]
    assert info["date"] == "2024-03-01T00:00:00Z" and "lot_size" not in info
    xrp = info["snapshots"]["XRPTRY"]
    assert xrp["date"] == "2024-04-01T00:00:00Z" and xrp["lot_size"] == 1.0
    assert xrp["source"].endswith("XRPTRY.exchange.json")
    assert info["snapshots"]["BTCTRY"]["min_notional"] == 100.0
    assert rules_summary(info) == (
        "exchange rules: btcturk snapshots: BTCTRY of 2024-03-01T00:00:00Z (tick 0.5, lot 0.01, "
        "min value 100); XRPTRY of 2024-04-01T00:00:00Z (tick 0.5, lot 1, min value 20)"
    )
    fills = res.fills
    for sym, lot, minimum in (("BTCTRY", 0.01, 100.0), ("XRPTRY", 1.0, 20.0)):
        mine = fills[fills["symbol"] == sym]
        steps = mine["units"].to_numpy() / lot
        assert len(mine) and np.allclose(steps, steps.round(), rtol=0, atol=1e-6)
        assert ((mine["units"] * mine["price"]) >= minimum).all()
    evidence = store / "evidence"
    res.save(evidence)
    assert read_evidence(res.run_id, evidence).report["config"] == res.config
    checked = verify(res.run_id, evidence, store)
    assert checked.ok, checked.message


def test_the_run_id_names_every_symbols_rules(store: Path) -> None:
    pair = _pair(store)
    base = sb.backtest(pair, "sma_cross", exchange_rules="btcturk", data_dir=store)
    explicit = sb.backtest(pair, "sma_cross", lot_size={"BTCTRY": 0.01, "XRPTRY": 0.5})
    other = sb.backtest(pair, "sma_cross", lot_size={"BTCTRY": 0.01, "XRPTRY": 1.0})
    assert explicit.run_id != other.run_id
    write_exchange_info("XRPTRY", "btcturk", _info(1, "20"), "2024-04-01T00:00:00Z", store)
    moved = sb.backtest(pair, "sma_cross", exchange_rules="btcturk", data_dir=store)
    assert moved.config["lot_size"] == {"BTCTRY": 0.01, "XRPTRY": 0.1}
    assert moved.run_id != base.run_id
    # an explicit option still wins for every symbol: one lot, one value in the config
    one = sb.backtest(pair, "sma_cross", exchange_rules="btcturk", lot_size=0.5, data_dir=store)
    assert one.config["lot_size"] == 0.5


def test_rules_per_symbol_as_text_the_command_line_form() -> None:
    """``SYMBOL=VALUE`` items (``none``: off) as the command line and the web form give them."""
    assert Config(lot_size="AAA=0.5, BBB=none").lot_size == {"AAA": 0.5, "BBB": None}
    assert Config(lot_size="0.25").lot_size == 0.25
    assert Config(min_notional="AAA=10,BBB=20") == Config(min_notional={"AAA": 10, "BBB": 20.0})
    bad = {
        "AAA=": "expected a number or SYMBOL=NUMBER items",
        "=1": "expected a number or SYMBOL=NUMBER items",
        "AAA=1,AAA=2": "AAA is given twice",
        "AAA=x": "lot_size of AAA: expected a number",
        "AAA=-1": "lot_size of AAA: must be > 0",
    }
    for text, message in bad.items():
        with pytest.raises(ConfigError, match=message):
            Config(lot_size=text)


def test_the_command_line_takes_rules_per_symbol(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from sparkbt.adapters.cli.app import app

    ev = str(tmp_path / "ev")
    args = ["run", "--strategy", "equal_weight", "--symbols", "ETHUSDT,BTCUSDT", "--json"]
    out = CliRunner().invoke(
        app, [*args, "--lot-size", "ETHUSDT=0.01,BTCUSDT=0.001", "--evidence-dir", ev]
    )
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert report["config"]["lot_size"] == {"ETHUSDT": 0.01, "BTCUSDT": 0.001}
    fills = read_evidence(report["id"], evidence_dir=ev).fills
    for symbol, lot in (("ETHUSDT", 0.01), ("BTCUSDT", 0.001)):
        steps = fills.loc[fills["symbol"] == symbol, "units"] / lot
        assert len(steps) and np.allclose(steps, steps.round(), atol=1e-6)
    out = CliRunner().invoke(app, [*args, "--lot-size", "ETHUSDT=0.01,BTC=1", "--evidence-dir", ev])
    assert out.exit_code == 2
    assert "lot_size: given per symbol, but not for BTCUSDT" in out.stderr
    assert out.stderr.count("\n") == 1
