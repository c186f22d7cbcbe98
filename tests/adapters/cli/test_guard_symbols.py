"""``sparkbt guard propose`` names a portfolio with --symbols A,B,C or --pair repeated."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from sparkbt.adapters.cli.app import app
from sparkbt.adapters.http import guard_client

BASE = ["guard", "propose", "--paramset", "rot-4h", "--strategy", "momentum_rotation"]
BASE += ["--timeframe", "4h", "--url", "http://127.0.0.1:9", "--key", "k"]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The proposal bodies the command sends (no service needed)."""
    bodies: list[dict[str, Any]] = []

    def propose(self: Any, **body: Any) -> dict[str, Any]:
        bodies.append(body)
        return {"id": "p1", "status": "evaluating"}

    monkeypatch.setattr(guard_client.GuardClient, "propose", propose)
    return bodies


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--pair", "ETHUSDT"], {"pair": "ETHUSDT"}),
        (["--symbols", "ethusdt, BTCUSDT,SOLUSDT"], {"pairs": ["ETHUSDT", "BTCUSDT", "SOLUSDT"]}),
        (["--pair", "ETHUSDT", "--pair", "btcusdt"], {"pairs": ["ETHUSDT", "BTCUSDT"]}),
        (["--pair", "ETHUSDT,BTCUSDT"], {"pairs": ["ETHUSDT", "BTCUSDT"]}),
    ],
)
def test_symbols_reach_the_body(sent, flags: list[str], expected: dict[str, Any]) -> None:
    res = CliRunner().invoke(app, [*BASE, *flags, "--lookback", "20"])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == "p1"
    (body,) = sent
    assert {k: body[k] for k in ("pair", "pairs") if k in body} == expected
    assert body["params"] == {"lookback": 20}


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--pair", "ETHUSDT", "--symbols", "A,B"], "give the symbols one way, not both"),
        ([], "--pair: give a symbol"),
        (["--symbols", "ETHUSDT,,BTCUSDT"], "--symbols: empty symbol at position 2"),
        (["--pair", "ETHUSDT", "--pair", "ethusdt"], "--pair: symbol ETHUSDT given twice"),
    ],
)
def test_bad_symbols_exit_2_in_one_line(sent, flags: list[str], needle: str) -> None:
    res = CliRunner().invoke(app, [*BASE, *flags])
    assert res.exit_code == 2, res.output
    assert needle in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert sent == []
