"""Terminal control codes never reach an approver's terminal: refused in every stored text
at input (a one-line 422), escaped in every CLI printer."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from sparkbt.adapters.cli import guard_proposals
from sparkbt.adapters.cli.app import app
from sparkbt.platform.text import printable
from tests.adapters.http.test_guard_api import PARAMSET, Guard, one_line

from .conftest import TOKEN

CLEAN_ENV = {"SPARKBT_URL": None, "SPARKBT_API_KEY": None, "SPARKBT_ADMIN_TOKEN": None}
CLEAR = "\x1b[2J\x1b[H"
OSC52 = "\x1b]52;c;Y3VybCBldmlsIHwgc2g=\x07"


def test_printable_escapes_every_control_but_newline_and_tab() -> None:
    assert printable(f"a{CLEAR}b") == "a\\x1b[2J\\x1b[Hb"
    assert printable(OSC52) == "\\x1b]52;c;Y3VybCBldmlsIHwgc2g=\\x07"
    assert printable("line\n\tnext\x7f\x9b\x00") == "line\n\tnext\\x7f\\x9b\\x00"
    assert printable("plain é ü →") == "plain é ü →"


STORED = {
    "id": "p1",
    "paramset": f"ps{CLEAR}",
    "state": "pending",
    "decision": "pending",
    "version": {"strategy": "sma_cross", "params": {"fast": f"5{OSC52}"}, "id": "v1"},
    "proposer": "alice",
    "note": f"fine{CLEAR}FORGED: approved by bob{OSC52}",
    "sweep_id": None,
    "gates": [{"gate": "g", "result": "pass", "message": f"m{CLEAR}"}],
    "approvals": [{"user": "bob", "role": "approver", "comment": f"ok{OSC52}"}],
    "history": [{"at": "t", "event": "proposed", "actor": f"alice{CLEAR}"}],
    "evaluation": {"job_id": "j", "status": "failed", "error": f"E{CLEAR}"},
}


class _Client:
    def __enter__(self) -> _Client:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def proposal(self, pid: str) -> dict[str, Any]:
        return STORED

    def proposals(self, *args: Any) -> list[dict[str, Any]]:
        return [{**STORED, "blocking": [f"g{CLEAR}"]}]


@pytest.mark.parametrize("command", [["guard", "show", "p1"], ["guard", "list"]])
def test_the_guard_printers_never_print_a_raw_control_code(
    monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setattr(guard_proposals, "_guard_client", lambda url, key: _Client())
    res = CliRunner().invoke(app, command, env={**CLEAN_ENV, "COLUMNS": "400"})
    assert res.exit_code == 0, res.output
    assert "\x1b" not in res.stdout and "\x07" not in res.stdout
    assert "\\x1b" in res.stdout  # shown, escaped


def _post(g: Guard, path: str, body: dict[str, Any], who: str) -> httpx.Response:
    return g.post(path, who, body)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_control_characters_are_refused_in_every_stored_text(launch: Any) -> None:
    srv = launch("control", impl="mock")
    g = Guard(srv)
    base = {"paramset": PARAMSET, "strategy": "sma_cross", "params": {"fast": 5, "slow": 20}}
    for change in (
        {"note": f"looks fine{CLEAR}"},
        {"note": OSC52},
        {"note": "C1 \x9b2J"},
        {"paramset": f"eth{CLEAR}"},
        {"pair": "ETH\x7fUSDT"},
        {"params": {"fast": 5, "slow": 20, "label": f"x{OSC52}"}},
        {"options": {"direction": f"long{CLEAR}"}},
    ):
        detail = one_line(_post(g, "/proposals", base | change, "alice"), 422)
        assert "control character" in detail and "\x1b" not in detail
    assert g.get("/proposals").json()["count"] == 0  # nothing was written
    # a multi-line note with tabs is fine
    resp = _post(g, "/proposals", base | {"note": "why:\n\t- faster"}, "alice")
    assert resp.status_code == 201, resp.text
    pid = resp.json()["id"]
    for body in ({"comment": f"ok{OSC52}"}, {"override_reason": f"r{CLEAR}"}):
        detail = one_line(_post(g, f"/proposals/{pid}/approve", body, "bob"), 422)
        assert "control character" in detail
    detail = one_line(_post(g, f"/proposals/{pid}/reject", {"comment": CLEAR}, "bob"), 422)
    assert "control character" in detail
    # a backtest's notes are stored text too
    resp = srv.post({"notes": f"run{OSC52}"}, token=TOKEN)
    assert "control character" in one_line(resp, 422)
    stored = json.dumps(g.get(f"/proposals/{pid}").json())
    assert "\\u001b" not in stored
