"""A portfolio param set through the real app in process: proposed with ``pairs``,
evaluated on the four samples, approved by another user, shown with its symbols."""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Any

import pytest

from sparkbt.adapters.http.app import create_app
from sparkbt.platform.settings import Settings
from sparkbt.platform.users import UserStore
from tests.adapters.web.test_guard_pages import TOKEN, USERS, Env
from tests.research.policies import LENIENT

pytestmark = pytest.mark.timeout(180)

SYMBOLS = ["ETHUSDT", "BTCUSDT", "SOLUSDT", "AVAXUSDT"]
NAME = "rot-4h"


def body(**extra: Any) -> dict[str, Any]:
    return {
        "paramset": NAME,
        "strategy": "momentum_rotation",
        "pairs": SYMBOLS,
        "timeframe": "4h",
        "params": {"lookback": 30, "k": 2},
        "options": {"fees": 0.001},
        **extra,
    }


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("ui-guard-portfolio")
    policy = root / "lenient.toml"
    policy.write_text(LENIENT)
    (root / "data").mkdir()
    settings = Settings(
        admin_token=TOKEN,
        evidence_dir=root / "evidence",
        data_dir=root / "data",
        workers=1,
        policy_file=policy,
    )
    with UserStore(settings.db_file) as users:
        keys = {name: users.add(name, role)[1] for name, role in USERS.items()}
    e = Env(create_app(settings), settings, keys)
    with e.api:
        yield e


def post(env: Env, who: str, payload: dict[str, Any]) -> Any:
    auth = {"authorization": f"Bearer {env.keys[who]}"}
    return env.api.post("/api/guard/proposals", json=payload, headers=auth)


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        (body(pairs=["ETHUSDT", "ethusdt"]), "symbol ETHUSDT given twice"),
        (body(pairs=["ETHUSDT", " "]), "symbol 2 of 2 is empty"),
        (body(pairs=["ETHUSDT", "BTC/USDT"]), "pairs: symbol: expected letters"),
        (body(pairs=["ETHUSDT", "NOPEUSDT"]), "no candles for NOPEUSDT 4h"),
        (body(pair="ETHUSDT"), "give pair or pairs, not both"),
        (body(pairs=[]), "pairs"),
        (body(pairs="ETHUSDT"), "pairs"),
        (body(options={"sl_stop": 0.05}), "sl_stop: stops, loss_streak and cooldown"),
        (body(pair="ETHUSDT,BTCTRY", pairs=None), "one quote currency"),
    ],
)
def test_bad_symbols_are_422_in_one_line(env: Env, payload: dict[str, Any], needle: str) -> None:
    if payload.get("pairs") is None:
        payload.pop("pairs")
    r = post(env, "alice", payload)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and needle in detail, detail
    assert env.api.get("/api/guard/proposals").json()["proposals"] == []


def test_a_portfolio_is_proposed_evaluated_and_approved_by_another_user(env: Env) -> None:
    r = post(env, "alice", body(note="rotate two of four"))
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    p = env.settled(pid, timeout=150)
    assert p["state"] == "pending", p.get("gates")
    assert p["version"]["pair"] == ",".join(SYMBOLS)
    ev = p["evidence"]
    assert ev["data"]["symbols"] == SYMBOLS and len(ev["data"]["data_sha256"]) == 64
    assert {g["gate"] for g in p["gates"] if g["result"] == "skip"} <= {
        "max_pbo",  # no sweep attached
        "max_param_change",  # a new param set
        "max_oos_degradation",
    }
    assert {"proposed", "proposed_in_sample", "proposed_out_of_sample"} <= set(ev["runs"])
    # the proposer never approves their own change; an approver does
    auth = {"authorization": f"Bearer {env.keys['alice']}"}
    own = env.api.post(f"/api/guard/proposals/{pid}/approve", json={}, headers=auth)
    assert own.status_code == 403, own.text
    env.api_approve(pid, "bob")
    ps = env.api.get(f"/api/guard/paramsets/{NAME}").json()
    assert ps["approved"]["pair"] == ",".join(SYMBOLS)
    # the same symbols as comma-joined text are the same version, approved already
    again = post(env, "carl", {**body(), "pairs": None, "pair": "ethusdt,BTCUSDT,solusdt,AVAXUSDT"})
    assert again.status_code == 409, again.text
    assert f"version {p['version']['id']} is already approved" in again.json()["detail"]

    # the pages name the symbols
    bob = env.browser("bob")
    page = html.unescape(bob.get(f"/ui/guard/proposals/{pid}").text)
    assert "momentum_rotation on ETHUSDT, BTCUSDT, SOLUSDT, AVAXUSDT 4h" in page
    assert 'id="evidence-symbols">ETHUSDT, BTCUSDT, SOLUSDT, AVAXUSDT<' in page
    assert ev["data"]["data_sha256"][:12] in page
    page = html.unescape(bob.get(f"/ui/guard/paramsets/{NAME}").text)
    assert 'id="approved-market">ETHUSDT, BTCUSDT, SOLUSDT, AVAXUSDT 4h<' in page
    panel = html.unescape(bob.get("/ui/guard").text)
    assert "ETHUSDT, BTCUSDT, SOLUSDT, AVAXUSDT 4h" in panel
