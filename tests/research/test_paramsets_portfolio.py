"""Param-set versions of several symbols: canonical text, refusals, one symbol unchanged."""

from __future__ import annotations

import pytest

from sparkbt.engine.options import Config
from sparkbt.engine.registry import get_strategy
from sparkbt.errors import ConfigError
from sparkbt.evidence import content_id
from sparkbt.research.paramsets import ParamSetVersion, diff, pair_text, version_of

SYMBOLS = ["ETHUSDT", "BTCUSDT", "SOLUSDT", "AVAXUSDT"]


def rotation(pairs, **options):
    return version_of("rot-4h", "momentum_rotation", pairs, "4h", {"lookback": 20}, options)


def test_several_symbols_are_stored_comma_joined_in_order() -> None:
    v = rotation([" ethusdt", "BTCUSDT ", "solusdt", "AvaxUsdt"])
    assert v.pair == "ETHUSDT,BTCUSDT,SOLUSDT,AVAXUSDT"
    assert v.pairs == SYMBOLS
    assert v.is_portfolio
    assert v.content()["pair"] == "ETHUSDT,BTCUSDT,SOLUSDT,AVAXUSDT"
    # a list and the comma-joined text are the same version; another order is another one
    assert rotation("ethusdt, btcusdt,SOLUSDT ,avaxusdt").id == v.id
    assert rotation(list(reversed(SYMBOLS))).id != v.id
    assert ParamSetVersion.from_dict(v.to_dict()) == v


def test_one_symbol_is_stored_as_before() -> None:
    v = version_of("eth-sma-4h", "sma_cross", " ethusdt ", "4h", {"fast": 12})
    assert v.pair == "ETHUSDT" and v.pairs == ["ETHUSDT"] and not v.is_portfolio
    # the content (and so the id) is the one a single-pair version always had
    expected = {
        "name": "eth-sma-4h",
        "strategy": "sma_cross",
        "pair": "ETHUSDT",
        "timeframe": "4h",
        "params": {"fast": 12, "slow": 30},
        "options": Config().to_dict(),
        "strategy_sha256": get_strategy("sma_cross").source_sha256,
    }
    assert v.content() == expected
    assert v.id == content_id(expected)
    assert version_of("eth-sma-4h", "sma_cross", ["ETHUSDT"], "4h", {"fast": 12}).id == v.id


@pytest.mark.parametrize(
    ("pairs", "needle"),
    [
        ("ETHUSDT,,BTCUSDT", "symbol 2 of 3 is empty"),
        ("ETHUSDT,", "symbol 2 of 2 is empty"),
        (["ETHUSDT", "ethusdt"], "symbol ETHUSDT given twice"),
        (["ETHUSDT", "BTC USDT"], "pairs: symbol: expected letters"),
        ("BTCUSDT,ETHTRY", "one quote currency"),
        ([], "at least one symbol"),
        (["ETHUSDT", 3], "expected a symbol or a list of symbols"),
    ],
)
def test_bad_symbols_are_one_line_config_errors(pairs, needle) -> None:
    with pytest.raises(ConfigError, match=needle) as err:
        pair_text(pairs)
    assert "\n" not in str(err.value)


def test_a_portfolio_refuses_per_trade_rules() -> None:
    with pytest.raises(ConfigError, match="sl_stop: stops, loss_streak and cooldown"):
        rotation(SYMBOLS, sl_stop=0.05)
    with pytest.raises(ConfigError, match="cooldown"):
        version_of("x", "sma_cross", SYMBOLS, "4h", options={"gates": {"cooldown": 3}})
    # a weights strategy on one pair is a one-symbol portfolio: the same rule
    with pytest.raises(ConfigError, match="sl_stop"):
        rotation("ETHUSDT", sl_stop=0.05)
    # the portfolio gates are allowed
    assert rotation(SYMBOLS, gates={"max_drawdown": 0.3}).options["gates"] == {"max_drawdown": 0.3}


def test_diff_names_a_change_of_symbols() -> None:
    old, new = rotation(SYMBOLS[:3]), rotation(SYMBOLS)
    (change,) = diff(old, new)
    assert change.field == "pair"
    assert (change.old, change.new) == ("ETHUSDT,BTCUSDT,SOLUSDT", ",".join(SYMBOLS))
