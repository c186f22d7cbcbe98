"""`sparkbt guard propose|show|list|approve|reject|paramset` against a real server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sparkbt.adapters.cli.app import app
from sparkbt.platform.users import UserStore
from tests.adapters.http.conftest import TOKEN, Server, free_port, make_server
from tests.research.policies import LENIENT

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]

PARAMSET = "eth-sma-4h"
# the connection comes from the options only, never from the caller's environment
CLEAN_ENV = {"SPARKBT_URL": None, "SPARKBT_API_KEY": None, "SPARKBT_ADMIN_TOKEN": None}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    root = tmp_path_factory.mktemp("guard-client")
    policy = root / "lenient.toml"
    policy.write_text(LENIENT)
    srv = make_server(root / "srv", workers=2, extra=("--policy", str(policy)))
    srv.start()
    keys: dict[str, str] = {}
    with UserStore(srv.evidence / "service" / "jobs.sqlite") as users:
        for name, role in (("alice", "proposer"), ("bob", "approver"), ("carl", "approver")):
            keys[name] = users.add(name, role)[1]
    yield srv, keys
    srv.stop()


def cli(srv_url: str, key: str | None, *args: str) -> Any:
    conn = ["--url", srv_url] + (["--key", key] if key else [])
    return CliRunner().invoke(app, ["guard", *args, *conn], env=CLEAN_ENV)


def proposal(paramset: str) -> list[str]:
    """``guard propose`` arguments for an sma_cross change of ``paramset`` on ETHUSDT 4h."""
    return [
        "propose",
        "--paramset",
        paramset,
        "--strategy",
        "sma_cross",
        "--pair",
        "ETHUSDT",
        "--timeframe",
        "4h",
    ]


def one_line_error(result: Any) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return str(lines[0])


def test_propose_review_approve(served: tuple[Server, dict[str, str]]) -> None:
    srv, keys = served
    url = srv.url
    propose = [
        *proposal(PARAMSET),
        "--fast",
        "10",
        "--slow",
        "30",
        "--fees",
        "0.001",
        "--note",
        "faster entry",
    ]
    # without --wait: the id only
    res = cli(url, keys["alice"], *propose, "--json")
    assert res.exit_code == 0, res.output
    made = json.loads(res.stdout)
    assert made["status"] == "evaluating"

    # with --wait: state and gate results
    res = cli(url, keys["alice"], *propose, "--wait", "--json")
    assert res.exit_code == 0, res.output
    prop = json.loads(res.stdout)
    pid = prop["id"]
    assert prop["state"] == "pending", prop["gates"]
    assert prop["version"]["params"] == {"fast": 10, "slow": 30}
    assert prop["version"]["options"]["fees"] == 0.001
    assert prop["note"] == "faster entry"
    res = cli(url, keys["alice"], *propose, "--wait")
    assert res.exit_code == 0, res.output
    assert "pending" in res.stdout and "max_drawdown" in res.stdout

    # show: state, gates with value/limit/result, headline evidence, history
    res = cli(url, keys["bob"], "show", pid)
    assert res.exit_code == 0, res.output
    for text in (pid, "pending", "gates", "max_drawdown", "limit", "headline evidence"):
        assert text in res.stdout, text
    assert "proposed" in res.stdout and "history" in res.stdout
    res = cli(url, None, "show", pid, "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["id"] == pid

    # list
    res = cli(url, None, "list", "--status", "pending", "--json")
    assert res.exit_code == 0, res.output
    pending = [p["id"] for p in json.loads(res.stdout)]
    assert pid in pending and made["id"] in pending
    res = cli(url, None, "list", "--status", "pending")
    assert res.exit_code == 0 and pid[:8] in res.stdout

    # no self-approval for a proposer: the server's 403 on one line
    line = one_line_error(cli(url, keys["alice"], "approve", pid, "--comment", "mine"))
    assert "403" in line and "may not approve" in line

    # an approver approves
    # (with the admin token at hand too, the key names who approves)
    approve = ["guard", "approve", pid, "--comment", "looks good", "--json"]
    res = CliRunner().invoke(
        app,
        [*approve, "--url", url, "--key", keys["bob"]],
        env={**CLEAN_ENV, "SPARKBT_ADMIN_TOKEN": TOKEN},
    )
    assert res.exit_code == 0, res.output
    approved = json.loads(res.stdout)
    assert approved["state"] == "approved"
    assert approved["approvals"][0]["user"] == "bob"
    res = cli(url, keys["bob"], "show", pid)
    assert "approved" in res.stdout and "looks good" in res.stdout

    # the param set shows the approved version
    res = cli(url, None, "paramset", PARAMSET, "--json")
    assert res.exit_code == 0, res.output
    ps = json.loads(res.stdout)
    assert ps["approved_proposal_id"] == pid
    assert ps["approved"]["id"] == prop["version"]["id"]
    res = cli(url, None, "paramset", PARAMSET)
    assert res.exit_code == 0 and prop["version"]["id"] in res.stdout

    # the others made against no base are now stale: approving one is a 409
    assert "409" in one_line_error(cli(url, keys["bob"], "approve", made["id"]))

    # an approver's own proposal: no self-approval (403 on one line); another rejects it
    res = cli(url, keys["bob"], *propose[:-4], "--fast", "12", "--slow", "30", "--wait", "--json")
    assert res.exit_code == 0, res.output
    fresh = json.loads(res.stdout)
    assert fresh["state"] == "pending" and fresh["changes"]
    line = one_line_error(cli(url, keys["bob"], "approve", fresh["id"]))
    assert "HTTP 403" in line and "proposed it" in line
    res = cli(url, keys["carl"], "show", fresh["id"])
    assert "diff against the approved version" in res.stdout and "params.fast" in res.stdout
    res = cli(url, keys["carl"], "reject", fresh["id"], "--comment", "not now")
    assert res.exit_code == 0, res.output
    assert res.stdout.split() == [fresh["id"], "rejected"]
    assert "409" in one_line_error(cli(url, keys["carl"], "approve", fresh["id"]))


def test_refusals_are_one_line_with_exit_2(served: tuple[Server, dict[str, str]]) -> None:
    srv, keys = served
    assert "404" in one_line_error(cli(srv.url, None, "show", "no-such-proposal"))
    assert "404" in one_line_error(cli(srv.url, None, "paramset", "no-such-set"))
    assert "404" in one_line_error(cli(srv.url, keys["bob"], "approve", "no-such-proposal"))
    line = one_line_error(
        cli(
            srv.url,
            keys["alice"],
            *proposal("Bad Name"),
        )
    )
    assert "422" in line
    assert "--key" in one_line_error(cli(srv.url, None, "reject", "whatever"))
    assert "401" in one_line_error(cli(srv.url, "not-a-key", "reject", "whatever"))


def test_unreachable_service(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for args in (("show", "abc"), ("list",), ("paramset", PARAMSET), ("approve", "abc")):
        line = one_line_error(cli(url, "some-key", *args))
        assert url in line and "cannot reach" in line
