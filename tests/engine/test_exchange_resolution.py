"""A run's exchange rules: explicit options win over the stored snapshot."""

from __future__ import annotations

import pytest

from sparkbt.data.exchange_info import write_exchange_info
from sparkbt.engine.exchange import resolve_exchange_rules
from sparkbt.engine.options import Config
from sparkbt.errors import CandleError

INFO = {
    "name": "BTCTRY",
    "numeratorScale": 6,
    "denominatorScale": 2,
    "filters": [{"filterType": "PRICE_FILTER", "tickSize": "5", "minExchangeValue": "100"}],
}


@pytest.fixture
def data_dir(tmp_path):
    write_exchange_info("BTCTRY", "btcturk", INFO, "2024-03-01T00:00:00Z", tmp_path)
    return tmp_path


def test_without_exchange_rules_the_config_stands(data_dir):
    cfg = Config(lot_size=0.5)
    assert resolve_exchange_rules(cfg, "BTCTRY", data_dir) == (cfg, None)


def test_the_snapshot_fills_the_unset_rules(data_dir):
    cfg, info = resolve_exchange_rules(Config(exchange_rules="btcturk"), "btctry", data_dir)
    assert (cfg.tick_size, cfg.lot_size, cfg.min_notional) == (5.0, 1e-6, 100.0)
    assert cfg.to_dict()["lot_size"] == 1e-6  # part of the run's config (and id)
    assert info == {
        "exchange": "btcturk",
        "symbol": "BTCTRY",
        "date": "2024-03-01T00:00:00Z",
        "source": str(data_dir / "BTCTRY.exchange.json"),
        "tick_size": 5.0,
        "lot_size": 1e-6,
        "min_notional": 100.0,
        "taken": ["lot_size", "min_notional", "tick_size"],
    }
    assert cfg.sim_options().lot_size == 1e-6


def test_explicit_options_win(data_dir):
    given = Config(exchange_rules="btcturk", lot_size=0.01, min_notional=50)
    cfg, info = resolve_exchange_rules(given, "BTCTRY", data_dir)
    assert (cfg.tick_size, cfg.lot_size, cfg.min_notional) == (5.0, 0.01, 50.0)
    assert info is not None and info["taken"] == ["tick_size"]
    assert info["lot_size"] == 1e-6  # what the snapshot says, recorded beside what was used
    again, _ = resolve_exchange_rules(cfg, "BTCTRY", data_dir)
    assert again == cfg


def test_a_missing_snapshot_is_refused(tmp_path):
    with pytest.raises(CandleError, match="no exchange rules stored for XRPTRY"):
        resolve_exchange_rules(Config(exchange_rules="btcturk"), "XRPTRY", tmp_path)
