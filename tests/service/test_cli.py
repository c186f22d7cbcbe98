"""`sparkbt serve` option handling and the `sparkbt jobs` client against a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from sparkbt.cli import app

from .conftest import TOKEN, Server, free_port

runner = CliRunner()
pytestmark = pytest.mark.timeout(60)


def test_serve_refuses_to_start_without_a_token(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SPARKBT_ADMIN_TOKEN"}
    proc = subprocess.run(
        [sys.executable, "-m", "sparkbt.cli", "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "SPARKBT_ADMIN_TOKEN" in lines[0]
    assert not (tmp_path / "evidence").exists()  # nothing created


@pytest.mark.parametrize(
    "args",
    [
        ["--port", "0"],
        ["--port", "70000"],
        ["--port", "abc"],
        ["--workers", "0"],
        ["--job-timeout", "0"],
        ["--impl", "fake"],
        ["--bogus"],
    ],
)
def test_serve_bad_options_exit_2(args: list[str]) -> None:
    res = runner.invoke(app, ["serve", *args], env={"SPARKBT_ADMIN_TOKEN": TOKEN})
    assert res.exit_code == 2, res.output


def test_serve_help_lists_every_option() -> None:
    res = runner.invoke(app, ["serve", "--help"])
    assert res.exit_code == 0
    for opt in (
        "--host",
        "--port",
        "--workers",
        "cores",
        "--job-timeout",
        "--db",
        "--evidence-dir",
        "--data-dir",
        "--audit-log",
        "BACKTEST_IMPL",
    ):
        assert opt in res.stdout, opt


def test_serve_bad_backtest_impl_env_exits_2() -> None:
    res = runner.invoke(
        app, ["serve"], env={"SPARKBT_ADMIN_TOKEN": TOKEN, "BACKTEST_IMPL": "legacy"}
    )
    assert res.exit_code == 2


@pytest.mark.slow
def test_jobs_client_start_status_list(launch) -> None:
    srv: Server = launch("cli", impl="mock", workers=1, mock_seconds=0.2)
    common = ["--url", srv.url]
    res = runner.invoke(
        app,
        [
            "jobs",
            "start",
            *common,
            "--token",
            TOKEN,
            "-p",
            "fast=5",
            "-p",
            "slow=20",
            "--notes",
            "from the cli",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    started = json.loads(res.stdout)
    assert started["status"] == "queued"
    job = srv.wait(started["id"])
    assert job["params"] == {"fast": 5, "slow": 20}
    assert job["notes"] == "from the cli"

    res = runner.invoke(app, ["jobs", "status", started["id"], *common, "--json"])
    assert res.exit_code == 0
    assert json.loads(res.stdout)["status"] == "done"
    res = runner.invoke(app, ["jobs", "status", started["id"], *common])
    assert started["id"] in res.stdout
    assert "done" in res.stdout

    # token from the environment, --wait until done
    res = runner.invoke(
        app,
        ["jobs", "start", *common, "--params", '{"fast": 6, "slow": 21}', "--wait", "--json"],
        env={"SPARKBT_ADMIN_TOKEN": TOKEN},
    )
    assert res.exit_code == 0, res.output
    waited = json.loads(res.stdout)
    assert waited["status"] == "done"

    res = runner.invoke(app, ["jobs", "list", *common, "--status", "done", "--json"])
    listed = json.loads(res.stdout)
    assert [j["id"] for j in listed] == [waited["id"], started["id"]]
    res = runner.invoke(app, ["jobs", "list", *common, "--limit", "1"])
    assert res.exit_code == 0
    assert waited["id"] in res.stdout
    assert started["id"] not in res.stdout


@pytest.mark.slow
def test_jobs_client_errors(launch) -> None:
    srv: Server = launch("cli-err", impl="mock", workers=1, mock_seconds=0.2)
    common = ["--url", srv.url]
    res = runner.invoke(app, ["jobs", "start", *common, "--token", "wrong"])
    assert res.exit_code == 2
    assert "HTTP 401" in res.stderr
    res = runner.invoke(app, ["jobs", "start", *common, "--token", TOKEN, "-p", "fats=5"])
    assert res.exit_code == 2
    assert "did you mean 'fast'" in res.stderr
    res = runner.invoke(app, ["jobs", "start", *common], env={"SPARKBT_ADMIN_TOKEN": ""})
    assert res.exit_code == 2
    assert "no admin token" in res.stderr
    res = runner.invoke(app, ["jobs", "status", "missing", *common])
    assert res.exit_code == 2
    assert "HTTP 404" in res.stderr
    res = runner.invoke(app, ["jobs", "list", "--url", f"http://127.0.0.1:{free_port()}"])
    assert res.exit_code == 2
    assert "cannot reach" in res.stderr
    assert srv.jobs() == []


@pytest.mark.parametrize(
    "url",
    ["refused", "not a url", "ftp://example.invalid", "http://[::1", "http://no-such-host.invalid"],
)
@pytest.mark.parametrize(
    "command",
    [
        ["jobs", "list"],
        ["jobs", "status", "5f0c"],
        ["jobs", "start", "--token", TOKEN],
        ["jobs", "start", "--token", TOKEN, "--wait"],
    ],
)
def test_unreachable_service_exits_2_with_one_line_naming_the_url(
    url: str, command: list[str]
) -> None:
    if url == "refused":
        url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    res = runner.invoke(app, [*command, "--url", url])
    assert res.exit_code == 2, (res.output, res.exception)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert url in lines[0]
    assert "cannot reach the service" in lines[0]
    assert "Traceback" not in res.output
    assert res.stdout == ""


def test_a_server_that_is_not_the_service_is_one_line_too() -> None:
    import httpx

    from sparkbt.service.client import ServiceClient, ServiceError, ServiceUnreachable

    def html(request: httpx.Request) -> httpx.Response:
        page = "<html>\n<body>\nnot here\n</body>\n</html>"
        code = 404 if request.url.path.endswith("/start") else 200
        return httpx.Response(code, text=page, headers={"content-type": "text/html"})

    client = ServiceClient("http://web.example", "t", transport=httpx.MockTransport(html))
    with pytest.raises(ServiceUnreachable, match=r"http://web\.example") as caught:
        client.list()
    assert "\n" not in str(caught.value)
    with pytest.raises(ServiceError, match="HTTP 404") as refused:
        client.start()
    assert "\n" not in str(refused.value)
