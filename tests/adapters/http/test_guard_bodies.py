"""Guard routes refuse non-finite numbers and unbounded gates with one-line 422s."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from sparkbt.platform.users import UserStore

PROPOSAL = (
    b'{"paramset": "eth", "strategy": "sma_cross", "pair": "ETHUSDT", "timeframe": "4h", '
    b'"params": {"fast": 10, "slow": 30}, "options": {OPTIONS}}'
)


@pytest.fixture
def client(proposer_client: TestClient) -> TestClient:
    proposer_client.headers["content-type"] = "application/json"
    return proposer_client


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (b'{"fees": NaN}', "malformed JSON"),
        (b'{"fees": Infinity}', "malformed JSON"),
        (b'{"cash": -Infinity}', "malformed JSON"),
        (b'{"gates": {"cooldown": 1e20}}', "cooldown"),
        (b'{"gates": {"loss_streak": 1e20}}', "loss_streak"),
        (b'{"cash": 1e300}', "cash"),
    ],
)
def test_a_proposal_with_a_non_finite_or_unbounded_number_is_a_422(
    client: TestClient, options: bytes, said: str
) -> None:
    r = client.post("/api/guard/proposals", content=PROPOSAL.replace(b"{OPTIONS}", options))
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert said in str(detail) and "\n" not in str(detail)
    assert client.get("/api/guard/proposals").json()["proposals"] == []


def test_a_decision_with_a_non_finite_number_is_a_422(client: TestClient) -> None:
    settings = client.app.state.service.settings  # type: ignore[attr-defined]
    with UserStore(settings.db_file) as users:
        key = users.add("approver-2", "approver")[1]
    r = client.post(
        "/api/guard/proposals/p1/approve",
        content=b'{"content_hash": NaN}',
        headers={"authorization": f"Bearer {key}"},
    )
    assert r.status_code == 422, r.text
    assert "malformed JSON" in str(r.json()["detail"])
