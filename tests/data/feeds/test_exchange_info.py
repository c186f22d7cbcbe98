"""The pair's exchange info stored with its candles, and the rules read from it."""

from __future__ import annotations

import asyncio
import json

import pandas as pd
import pytest

from sparkbt.data.exchange_info import (
    exchange_info_path,
    exchange_rules,
    rules_of_btcturk,
    write_exchange_info,
)
from sparkbt.data.feeds.btcturk import fetch_history
from sparkbt.errors import CandleError

from .conftest import rest_for
from .fake_btcturk import FakeBtcturk, Tape, history_tape

pytestmark = pytest.mark.timeout(30)

START = pd.Timestamp("2024-01-01", tz="UTC")
END = pd.Timestamp("2024-01-02", tz="UTC")
NOW = pd.Timestamp("2024-03-01 12:30", tz="UTC").timestamp()


@pytest.fixture(scope="module")
def tape() -> Tape:
    t = Tape()
    history_tape(t, "BTCTRY", START, END, 3600)
    return t


def test_a_fetch_stores_the_dated_exchange_info_and_its_rules(tape, store, fake_clock):
    with FakeBtcturk(tape, ["BTCTRY", "ETHUSDT"]) as fake:
        rest = rest_for(fake.url, fake_clock)
        asyncio.run(
            fetch_history("btctry", "1h", START, END, store=store, rest=rest, now=lambda: NOW)
        )
    path = store.root / "BTCTRY.exchange.json"
    assert path == exchange_info_path("BTCTRY", store.root)
    body = json.loads(path.read_text())
    assert (body["exchange"], body["symbol"], body["fetched"]) == (
        "btcturk",
        "BTCTRY",
        "2024-03-01T12:30:00Z",
    )
    assert body["info"]["numeratorScale"] == 8
    rules = exchange_rules("BTCTRY", "btcturk", store.root)
    # the fake lists BTCTRY with 8 quantity decimals, a tick of 1 and a minimum of 99.91 TRY
    assert (rules.tick_size, rules.lot_size, rules.min_notional) == (1.0, 1e-8, 99.91)
    assert rules.date == "2024-03-01T12:30:00Z"
    assert rules.source == str(path)
    assert store.list() == [("BTCTRY", "1h")]  # the snapshot is no candle series


def test_rules_of_an_entry_fall_back_to_the_price_scale():
    info = {"numeratorScale": 4, "denominatorScale": 3, "filters": []}
    assert rules_of_btcturk(info) == (0.001, 0.0001, None)
    info["filters"] = [{"filterType": "PRICE_FILTER", "tickSize": "0", "minExchangeValue": None}]
    assert rules_of_btcturk(info) == (0.001, 0.0001, None)
    info["filters"][0].update(tickSize="0.05", minExchangeValue="10")
    assert rules_of_btcturk(info) == (0.05, 0.0001, 10.0)


def test_missing_snapshots_and_samples_are_refused_in_one_line(tmp_path):
    with pytest.raises(CandleError, match=r"no exchange rules stored for BTCTRY") as exc:
        exchange_rules("BTCTRY", "btcturk", tmp_path)
    msg = str(exc.value)
    assert "\n" not in msg and "sparkbt data fetch btcturk --symbol BTCTRY" in msg
    with pytest.raises(CandleError, match="ETHUSDT is a packaged synthetic sample"):
        exchange_rules("ETHUSDT", "btcturk", tmp_path)
    with pytest.raises(CandleError, match="expected btcturk"):
        exchange_rules("BTCTRY", "binance", tmp_path)
    write_exchange_info("BTCTRY", "other", {}, "2024-01-01T00:00:00Z", tmp_path)
    with pytest.raises(CandleError, match="holds 'other' rules"):
        exchange_rules("BTCTRY", "btcturk", tmp_path)
    exchange_info_path("BTCTRY", tmp_path).write_text("{not json")
    with pytest.raises(CandleError, match="unreadable exchange info"):
        exchange_rules("BTCTRY", "btcturk", tmp_path)
