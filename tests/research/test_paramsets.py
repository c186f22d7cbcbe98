"""Param-set versions: effective content, content ids, and the field-by-field diff."""

from __future__ import annotations

import json
import math

import pytest

from sparkbt.engine.options import Config
from sparkbt.engine.registry import get_strategy
from sparkbt.errors import ConfigError, StrategyError
from sparkbt.evidence import content_id
from sparkbt.research.gates import param_changes
from sparkbt.research.paramsets import (
    FieldChange,
    ParamSetVersion,
    diff,
    max_param_change,
    version_of,
)


def sma(**params):
    options = params.pop("options", None)
    return version_of("eth-sma-4h", "sma_cross", "ETHUSDT", "4h", params, options)


def test_version_holds_effective_params_options_and_source_hash() -> None:
    v = sma(fast=12)
    assert v.name == "eth-sma-4h"
    assert v.strategy == "sma_cross"
    assert v.params == {"fast": 12, "slow": 30}  # the default filled in
    assert v.options == Config().to_dict()
    assert v.strategy_sha256 == get_strategy("sma_cross").source_sha256
    assert len(v.strategy_sha256) == 64


def test_id_is_the_content_id_of_the_canonical_content() -> None:
    v = sma(fast=12, options={"fees": 0.001})
    assert v.id == content_id(v.content())
    assert len(v.id) == 20
    assert v.to_dict()["id"] == v.id
    json.dumps(v.to_dict(), allow_nan=False)  # JSON-ready


def test_same_effective_content_same_id() -> None:
    implicit = sma()
    explicit = version_of(
        "eth-sma-4h",
        "smaCross",  # resolved to the canonical name
        " ethusdt ",
        "240m",  # canonical timeframe spelling
        {"fast": 10.0, "slow": "30"},
        {"cash": 10_000, "fees": 0, "gates": [], "sl_trail": "false"},
    )
    assert explicit.strategy == "sma_cross"
    assert explicit.pair == "ETHUSDT"
    assert explicit.timeframe == "4h"
    assert explicit.params == {"fast": 10, "slow": 30}
    assert explicit.id == implicit.id
    assert diff(implicit, explicit) == []


def test_gates_in_any_spelling_give_the_same_id() -> None:
    a = sma(options={"gates": {"cooldown": 3, "max_drawdown": 0.2}})
    b = sma(options={"gates": ["max_drawdown=0.2", "cooldown=3"]})
    assert a.id == b.id


def test_any_difference_gives_another_id() -> None:
    base = sma()
    others = [
        sma(fast=11),
        sma(options={"fees": 0.001}),
        sma(options={"gates": {"cooldown": 1}}),
        version_of("eth-sma-1h", "sma_cross", "ETHUSDT", "4h"),
        version_of("eth-sma-4h", "sma_cross", "BTCUSDT", "4h"),
        version_of("eth-sma-4h", "sma_cross", "ETHUSDT", "1h"),
        version_of("eth-sma-4h", "ema_cross", "ETHUSDT", "4h"),
    ]
    ids = {base.id, *(o.id for o in others)}
    assert len(ids) == len(others) + 1


def test_round_trip_and_id_check() -> None:
    v = sma(fast=5, options={"sl_stop": 0.02, "gates": {"loss_streak": 3}})
    back = ParamSetVersion.from_dict(json.loads(json.dumps(v.to_dict())))
    assert back == v and back.id == v.id
    with pytest.raises(ConfigError, match="does not match its content"):
        ParamSetVersion.from_dict(v.to_dict() | {"id": "0" * 20})
    with pytest.raises(ConfigError, match="missing field"):
        ParamSetVersion.from_dict({"name": "x"})


@pytest.mark.parametrize(
    "name", ["", "Eth", "-eth", ".eth", "eth sma", "a" * 65, "eth/sma", None, 3]
)
def test_bad_names_are_refused(name) -> None:
    with pytest.raises(ConfigError, match="param set name"):
        version_of(name, "sma_cross", "ETHUSDT", "4h")


@pytest.mark.parametrize("name", ["a", "eth-sma-4h", "0x", "btc_rsi.v2", "a" * 64])
def test_good_names(name) -> None:
    assert version_of(name, "sma_cross", "ETHUSDT", "4h").name == name


def test_bad_inputs_one_line_errors() -> None:
    with pytest.raises(StrategyError, match="unknown strategy"):
        version_of("x", "no_such_strategy", "ETHUSDT", "4h")
    with pytest.raises(StrategyError, match="unknown parameter 'fats'"):
        sma(fats=3)
    with pytest.raises(StrategyError, match="fast < slow"):
        sma(fast=40)
    with pytest.raises(ConfigError, match="did you mean 'fees'"):
        sma(options={"fee": 0.1})
    with pytest.raises(ConfigError, match="fees"):
        sma(options={"fees": 2})
    with pytest.raises(ConfigError, match="timeframe"):
        version_of("x", "sma_cross", "ETHUSDT", "4 hours")
    with pytest.raises(ConfigError, match="pair"):
        version_of("x", "sma_cross", "", "4h")


# --------------------------------------------------------------------------- diff
def by_field(changes):
    return {c.field: c for c in changes}


def test_diff_on_effective_values_default_is_no_change() -> None:
    # fast=10 is sma_cross's default: writing it out changes nothing
    assert diff(sma(), sma(fast=10)) == []
    assert diff(sma(), sma(fast=10, slow=30, options={"direction": "long"})) == []
    changes = diff(sma(), sma(fast=12))
    assert changes == [FieldChange("params.fast", 10, 12, 0.2)]


def test_diff_params_options_and_gates() -> None:
    base = sma(options={"fees": 0.001, "gates": {"cooldown": 3}})
    new = sma(
        fast=5,
        slow=45,
        options={"fees": 0.002, "sl_trail": True, "gates": {"max_drawdown": 0.2}},
    )
    c = by_field(diff(base, new))
    assert list(c) == [
        "params.fast",
        "params.slow",
        "options.fees",
        "options.sl_trail",
        "options.gates.cooldown",
        "options.gates.max_drawdown",
    ]
    assert c["params.fast"].relative_change == pytest.approx(0.5)
    assert c["params.slow"].relative_change == pytest.approx(0.5)
    assert c["options.fees"].relative_change == pytest.approx(1.0)
    assert (c["options.sl_trail"].old, c["options.sl_trail"].new) == (False, True)
    assert c["options.sl_trail"].relative_change is None  # booleans are not numbers
    assert (c["options.gates.cooldown"].old, c["options.gates.cooldown"].new) == (3, None)
    assert c["options.gates.max_drawdown"].old is None
    assert c["options.gates.max_drawdown"].relative_change is None


def test_diff_from_zero_has_no_relative_change() -> None:
    c = by_field(diff(sma(), sma(options={"fees": 0.001, "sl_stop": 0.02})))
    assert c["options.fees"].old == 0.0
    assert c["options.fees"].relative_change is None
    assert c["options.sl_stop"].old is None
    assert c["options.sl_stop"].relative_change is None


def test_diff_strategy_pair_timeframe_and_code() -> None:
    base = sma()
    other = version_of("eth-sma-4h", "ema_cross", "BTCUSDT", "1h")
    c = by_field(diff(base, other))
    assert (c["strategy"].old, c["strategy"].new) == ("sma_cross", "ema_cross")
    assert c["strategy_sha256"].note == "strategy code changed"
    assert (c["pair"].old, c["pair"].new) == ("ETHUSDT", "BTCUSDT")
    assert (c["timeframe"].old, c["timeframe"].new) == ("4h", "1h")
    # the same strategy with edited source: only the code changed
    edited = ParamSetVersion(**{**base.content(), "strategy_sha256": "f" * 64})
    changes = diff(base, edited)
    assert [(x.field, x.note) for x in changes] == [("strategy_sha256", "strategy code changed")]
    assert changes[0].relative_change is None
    assert changes[0].to_dict()["note"] == "strategy code changed"


def test_max_param_change() -> None:
    assert max_param_change([]) == 0.0
    assert max_param_change(diff(sma(), sma(options={"fees": 0.5}))) == 0.0  # options ignored
    changes = diff(sma(), sma(fast=5, slow=33))
    assert max_param_change(changes) == pytest.approx(0.5)
    # agrees with the gate's evidence on the same effective params
    evidence = param_changes(sma(fast=5, slow=33).params, sma().params)
    assert max(evidence.values()) == pytest.approx(max_param_change(changes))


def test_max_param_change_from_zero_is_undefined() -> None:
    changes = [
        FieldChange("params.fast", 2, 3, 0.5),
        FieldChange("params.offset", 0, 1, None),
    ]
    assert max_param_change(changes) is None
    assert math.isinf(param_changes({"offset": 1}, {"offset": 0})["offset"])
    # booleans and parameters present on one side only do not count
    assert (
        max_param_change(
            [
                FieldChange("params.flag", False, True, None),
                FieldChange("params.window", None, 14, None),
                FieldChange("params.fast", 4, 5, 0.25),
            ]
        )
        == 0.25
    )
