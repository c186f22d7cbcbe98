"""Four eyes: nobody approves their own change, not through the admin token, not as an
admin, and no user name can pass for the token or the service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from sparkbt.adapters.cli.app import app
from sparkbt.errors import ConfigError
from sparkbt.platform.users import RESERVED_NAMES, UserStore
from tests.adapters.http.test_guard_api import Guard, audit, one_line

from .conftest import TOKEN

CLEAN_ENV = {"SPARKBT_URL": None, "SPARKBT_API_KEY": None, "SPARKBT_ADMIN_TOKEN": None}


@pytest.mark.parametrize("name", [*RESERVED_NAMES, "sparkbt-worker", "sparkbtx"])
def test_reserved_user_names_are_refused_by_the_store(tmp_path: Path, name: str) -> None:
    with UserStore(tmp_path / "db.sqlite") as users:
        with pytest.raises(ConfigError, match="reserved"):
            users.add(name, "admin")
        assert users.list() == []
        assert users.add("admin2", "admin")[0].name == "admin2"  # only the exact names


def test_users_add_refuses_the_token_name_in_one_line(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        app, ["users", "add", "admin-token", "--role", "admin", "--db", str(tmp_path / "u.db")]
    )
    assert res.exit_code == 2
    assert "reserved" in res.output and len(res.output.strip().splitlines()) == 1


def _token_post(g: Guard, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{g.srv.url}/api/guard{path}", json=body, headers={"x-admin-token": TOKEN}, timeout=30
    )


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_admin_token_never_proposes_approves_or_rejects(launch: Any, tmp_path: Path) -> None:
    strict = tmp_path / "strict.toml"
    from tests.adapters.http.test_guard_api import STRICT

    strict.write_text(STRICT)
    srv = launch("token", impl="engine", extra=("--policy", str(strict)))
    g = Guard(srv)
    # an admin proposes with their key ...
    pid = g.propose("carol", 10)
    assert g.settled(pid)["state"] == "blocked"
    # ... and can neither approve it with the token, nor force it through, nor reject it
    for path, body in (
        (f"/proposals/{pid}/approve", {"comment": "ok"}),
        (f"/proposals/{pid}/approve", {"override_reason": "trust me"}),
        (f"/proposals/{pid}/reject", {"comment": "no"}),
        ("/proposals", {"paramset": "p", "strategy": "sma_cross", "params": {"fast": 5}}),
    ):
        line = one_line(_token_post(g, path, body), 403)
        assert "admin token may not" in line and "own API key" in line
    # an admin never overrides their own blocked proposal, reason or not
    assert "may not approve" in one_line(g.approve(pid, "carol", override_reason="mine"), 403)
    assert g.get(f"/proposals/{pid}").json()["state"] == "blocked"
    # another admin's key may, with a reason
    with UserStore(srv.evidence / "service" / "jobs.sqlite") as users:
        g.keys["dave"] = users.add("dave", "admin")[1]
    resp = g.approve(pid, "dave", override_reason="drawdown accepted for the pilot")
    assert resp.status_code == 200 and resp.json()["state"] == "approved", resp.text
    refused = [e for e in audit(srv) if e["event"] == "guard_refused"]
    assert [e["user"] for e in refused][:3] == ["admin-token"] * 3

    # the CLI does not fall back to the token for a decision
    for verb in ("approve", "reject"):
        res = CliRunner().invoke(
            app,
            ["guard", verb, pid, "--url", srv.url],
            env={**CLEAN_ENV, "SPARKBT_ADMIN_TOKEN": TOKEN},
        )
        assert res.exit_code == 2, res.output
        assert "no API key" in res.output
