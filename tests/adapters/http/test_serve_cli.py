"""`sparkbt serve` option handling and the `sparkbt jobs` client against a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import pytest
from typer.testing import CliRunner

from sparkbt.adapters.cli.app import app

from .conftest import TOKEN, Server, free_port

runner = CliRunner()
pytestmark = pytest.mark.timeout(60)


def test_serve_refuses_to_start_without_a_token(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SPARKBT_ADMIN_TOKEN"}
    proc = subprocess.run(
        [sys.executable, "-m", "sparkbt.adapters.cli.app", "serve", "--port", str(free_port())],
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
    assert "no job with id or id prefix 'missing'" in res.stderr
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

    from sparkbt.adapters.http.client import ServiceClient, ServiceError, ServiceUnreachable

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


@pytest.mark.slow
def test_jobs_start_takes_parameters_and_engine_options_as_flags_like_run(launch) -> None:
    srv: Server = launch("cli-flags", impl="mock", workers=1, mock_seconds=0.05)
    common = ["jobs", "start", "--url", srv.url, "--token", TOKEN, "--json"]
    engine = ["--fees", "0.001", "--slippage", "0.0005", "--direction", "both"]
    engine += ["--fill", "next-open", "--sl-stop", "0.02", "--tp-stop", "0.05", "--sl-trail"]
    engine += ["--gate", "max_drawdown=0.2", "--gate", "cooldown=3", "--year-days", "365"]
    res = runner.invoke(
        app, [*common, "--strategy", "sma_cross", "--fast", "10", "--slow=30", *engine]
    )
    assert res.exit_code == 0, res.output
    job = srv.wait(json.loads(res.stdout)["id"])
    assert job["params"] == {"fast": 10, "slow": 30}
    assert job["options"] == {
        "cash": 10_000.0,
        "fees": 0.001,
        "slippage": 0.0005,
        "direction": "both",
        "fill": "next_open",
        "sl_stop": 0.02,
        "tp_stop": 0.05,
        "sl_trail": True,
        "gates": {"max_drawdown": 0.2, "cooldown": 3},
        "year_days": 365,
    }

    # -p and --params still work, and mix with the flags (flags win)
    res = runner.invoke(app, [*common, "--params", '{"fast": 4}', "-p", "slow=25", "--fast", "6"])
    assert res.exit_code == 0, res.output
    job = srv.wait(json.loads(res.stdout)["id"])
    assert job["params"] == {"fast": 6, "slow": 25}
    assert job["options"]["fees"] == 0.0  # no engine flag: the engine's defaults

    n_jobs = len(srv.jobs(limit=1000))
    for args, needle in [
        (["--fats", "10"], "did you mean '--fast'"),
        (["--fee", "0.001"], "did you mean '--fees'"),
        (["10"], "unexpected argument '10'"),
        (["--fast", "ten"], "fast"),  # values are the service's to check
        (["--fast", "50", "--slow", "20"], "fast < slow"),
        (["--sl-stop", "1.5"], "sl_stop: must be a fraction in (0, 1)"),
        (["--fill", "tomorrow"], "fill: expected close or next_open"),
        (["--gate", "max_dd=0.2"], "did you mean 'max_drawdown'"),
        (["--gate", "cooldown"], "NAME=LIMIT"),
    ]:
        res = runner.invoke(app, [*common, *args])
        assert res.exit_code == 2, (args, res.output)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        assert needle in lines[0], (args, lines)
    assert len(srv.jobs(limit=1000)) == n_jobs


@pytest.mark.slow
def test_jobs_status_takes_a_unique_id_prefix_like_show(launch) -> None:
    srv: Server = launch("cli-prefix", impl="mock", workers=1, mock_seconds=0.01)
    ids = [srv.start_job(params={"fast": 5, "slow": 20 + i}) for i in range(17)]
    # 17 ids over 16 hex digits: at least two share their first character
    shared, n_shared = Counter(i[0] for i in ids).most_common(1)[0]
    assert n_shared >= 2
    target = ids[-1]
    unique = next(
        target[:k] for k in range(1, 33) if sum(i.startswith(target[:k]) for i in ids) == 1
    )
    common = ["--url", srv.url]

    res = runner.invoke(app, ["jobs", "status", unique, *common, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["id"] == target
    res = runner.invoke(app, ["jobs", "status", target, *common, "--json"])
    assert json.loads(res.stdout)["id"] == target

    res = runner.invoke(app, ["jobs", "status", shared, *common])
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert f"'{shared}' is ambiguous: {n_shared} jobs match" in lines[0]

    for missing in ("zz", "", target + "0", "x" * 500):
        res = runner.invoke(app, ["jobs", "status", missing, *common])
        assert res.exit_code == 2, (missing, res.output)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        assert "no job with id or id prefix" in lines[0]

    # the list endpoint's filter behind it
    listed = srv.get("/api/backtest", params={"prefix": shared, "limit": 1}).json()
    assert listed["matching"] == n_shared
    assert [j["id"][0] for j in listed["jobs"]] == [shared]
    assert "matching" not in srv.get("/api/backtest").json()
