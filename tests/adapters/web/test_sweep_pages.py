"""Sweep pages through the real app in process: list, heatmap, results, opening a cell."""

from __future__ import annotations

import html
import json
import math
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

import sparkbt as sb
from sparkbt.adapters.http.app import create_app
from sparkbt.adapters.web import sweepdata
from sparkbt.platform import sweep_cells
from sparkbt.platform.settings import Settings
from sparkbt.platform.users import UserStore
from sparkbt.research.sweep_evidence import rank, save_sweep

TOKEN = "sweep-test-admin-token"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("sweeps") / "evidence"
    results = sb.sweep(
        sb.sample_candles(),
        "sma_cross",
        fast=[5, 10, 15],
        slow=[30, 40, 50],
        sl_stop=[0.02, 0.05],
        fees=0.001,
        workers=1,
    )
    folder = save_sweep(results, root, plot=False)
    settings = Settings(admin_token=TOKEN, evidence_dir=root, workers=1)
    with UserStore(settings.db_file) as users:
        key = users.add("proposer-1", "proposer")[1]
    stored = pd.read_parquet(folder / "results.parquet")
    with TestClient(create_app(settings)) as c:
        yield {"client": c, "id": folder.name, "results": stored, "key": key, "root": root}


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)
    assert found, "the page has no CSRF field"
    return found.group(1)


def heat_cells(page: str) -> list[tuple[float, dict[str, str], str]]:
    """(value, parameters, how it opens) of every heatmap cell."""
    table = page.split('id="heatmap"', 1)[1].split("</table>", 1)[0]
    out = []
    for value, body in re.findall(
        r'<td data-value="([^"]+)" style="[^"]*">(.*?)</td>', table, re.S
    ):
        params = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', body))
        params.pop("csrf_token", None)
        link = re.search(r'href="(/ui/runs/\w+)"', body)
        out.append((float(value), params, link.group(1) if link else "form"))
    return out


def row_of(results: pd.DataFrame, params: dict[str, str]) -> pd.Series:
    sel = results
    for k, v in params.items():
        sel = sel[sel[k].astype(float) == float(v)]
    assert len(sel) == 1, params
    return sel.iloc[0]


def test_sweeps_list(env: dict[str, Any]) -> None:
    page = env["client"].get("/ui/sweeps")
    assert page.status_code == 200
    assert f'href="/ui/sweeps/{env["id"]}"' in page.text and "sma_cross" in page.text


def test_heatmap_cells_equal_results(env: dict[str, Any]) -> None:
    c, res = env["client"], env["results"]
    page = c.get(f"/ui/sweeps/{env['id'][:8]}")
    assert page.status_code == 200, page.text
    best = rank(res, "sharpe").iloc[0]
    cells = heat_cells(page.text)
    assert len(cells) == 9
    for value, params, how in cells:
        assert how == "form"
        assert float(params["sl_stop"]) == best["sl_stop"]  # fixed at the best row's value
        assert value == row_of(res, params)["sharpe"]
    other = 0.05 if best["sl_stop"] == 0.02 else 0.02
    page = c.get(
        f"/ui/sweeps/{env['id']}",
        params={"metric": "max_drawdown", "x": "slow", "y": "fast", "fix.sl_stop": str(other)},
    ).text
    cells = heat_cells(page)
    assert len(cells) == 9
    for value, params, _ in cells:
        assert float(params["sl_stop"]) == other
        assert value == row_of(res, params)["max_drawdown"]
    head = page.split('id="heatmap"', 1)[1].split("</thead>", 1)[0]
    assert re.findall(r'<th scope="col">(\d+)</th>', head) == ["30", "40", "50"]
    data = json.loads(html.unescape(re.search(r'id="sweep-table">(.*?)</script>', page).group(1)))
    assert len(data["rows"]) == len(res) == 18 and not data["cut"]
    assert data["columns"][:3] == ["fast", "slow", "sl_stop"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"metric": "bogus"}, "metric"),
        ({"x": "nope"}, "x"),
        ({"x": "fast", "y": "fast"}, "y"),
        ({"fix.nope": "1"}, "fix.nope"),
        ({"fix.sl_stop": "0.3"}, "fix.sl_stop"),
    ],
)
def test_bad_choices_are_422_naming_the_field(
    env: dict[str, Any], query: dict[str, str], field: str
) -> None:
    r = env["client"].get(f"/ui/sweeps/{env['id']}", params=query)
    assert r.status_code == 422
    detail = html.unescape(re.search(r'role="alert">(.*?)</p>', r.text).group(1))
    assert detail.startswith(f"{field}:"), detail
    if field != "y":
        assert "choices" in detail, detail


def test_open_cell_needs_sign_in_and_csrf_then_queues_the_row_as_a_job(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    c, res = env["client"], env["results"]

    def in_the_api_process(*_: Any) -> None:
        raise AssertionError("a combination must run in a worker, not in the API process")

    monkeypatch.setattr(sweep_cells, "run_of_row", in_the_api_process)
    c.cookies.clear()
    page = c.get(f"/ui/sweeps/{env['id']}").text
    _, params, _ = heat_cells(page)[4]
    url = f"/ui/sweeps/{env['id']}/open"
    form = {"csrf_token": csrf_of(page), **params}
    assert c.post(url, data=form, follow_redirects=False).status_code == 401
    signin = {"csrf_token": csrf_of(c.get("/ui/signin").text), "key": env["key"]}
    assert c.post("/ui/signin", data=signin, follow_redirects=False).status_code == 303
    assert c.post(url, data=form, follow_redirects=False).status_code == 403  # signed-out token
    form["csrf_token"] = csrf_of(c.get(f"/ui/sweeps/{env['id']}").text)
    assert c.post(url, data=params, follow_redirects=False).status_code == 403
    assert c.get(url, params=params).status_code == 200  # not stored yet: the run form
    r = c.post(url, data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith("/ui/jobs/")
    job_id = r.headers["location"].rsplit("/", 1)[1]
    job = wait_done(c, job_id)
    assert job["user"] == "proposer-1" and job["sweep_cell"]["sweep_id"] == env["id"]
    assert job["strategy"] == "sma_cross" and job["impl"] == "engine"
    run_id = job["run_id"]
    page = c.get(f"/ui/jobs/{job_id}").text
    assert f'href="/ui/runs/{run_id}"' in page  # the job page leads to the report
    audit = [json.loads(line) for line in (env["root"] / "audit.jsonl").read_text().splitlines()]
    assert [a["event"] for a in audit if a.get("job_id") == job_id] == ["start", "done"]
    run = sb.read_evidence(run_id, env["root"])
    row = row_of(res, params)
    for key in sb.STAT_KEYS:
        a, b = run.stats[key], row[key]
        if isinstance(a, bool):
            assert a == bool(b), key
        elif a is None or b is None or (isinstance(b, float) and math.isnan(b)):
            assert a is None and (b is None or math.isnan(b)), key
        else:
            assert a == pytest.approx(float(b), rel=1e-9, abs=1e-9), key
    assert run.report["config"]["sl_stop"] == float(params["sl_stop"])
    assert run.report["config"]["fees"] == 0.001
    # stored now: the cell links to it and the GET opens it directly
    cells = heat_cells(c.get(f"/ui/sweeps/{env['id']}").text)
    assert [how for _, _, how in cells].count(f"/ui/runs/{run_id}") == 1
    again = c.get(url, params=params, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == f"/ui/runs/{run_id}"
    assert c.get(f"/ui/runs/{run_id}").status_code == 200
    bad = c.post(url, data={**form, "fast": "7"}, follow_redirects=False)
    assert bad.status_code == 422


def wait_done(c: TestClient, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = c.get(f"/api/backtest/{job_id}").json()
        if job["status"] in ("done", "failed"):
            assert job["status"] == "done", job["error"]
            return dict(job)
        assert time.monotonic() < deadline, f"job {job_id} stuck in {job['status']}"
        time.sleep(0.05)


def test_open_cell_waits_its_turn_in_the_bounded_queue(env: dict[str, Any], tmp_path: Path) -> None:
    settings = Settings(
        admin_token=TOKEN,
        evidence_dir=env["root"],
        db_path=tmp_path / "jobs.sqlite",
        workers=1,
        impl="mock",
        mock_seconds=60,
        max_queue=1,
    )
    with UserStore(settings.db_file) as users:
        key = users.add("proposer-2", "proposer")[1]
    with TestClient(create_app(settings)) as c:
        jobs = c.app.state.service.jobs  # type: ignore[attr-defined]
        for _ in range(3):  # the worker takes one; two stay queued
            jobs.create({"notes": "filler"}, "mock", user="someone", capped=False)
        signin = {"csrf_token": csrf_of(c.get("/ui/signin").text), "key": key}
        assert c.post("/ui/signin", data=signin, follow_redirects=False).status_code == 303
        page = c.get(f"/ui/sweeps/{env['id']}").text
        _, params, _ = heat_cells(page)[0]
        r = c.post(
            f"/ui/sweeps/{env['id']}/open",
            data={"csrf_token": csrf_of(page), **params},
            follow_redirects=False,
        )
        assert r.status_code == 429 and "text/html" in r.headers["content-type"]
        assert r.headers["retry-after"].isdigit()
        assert "job queue is full" in html.unescape(r.text)
        assert [j.user for j in jobs.list()] == ["someone"] * 3


def test_large_sweeps_list_the_best_rows(env: dict[str, Any], monkeypatch: Any) -> None:
    monkeypatch.setattr(sweepdata, "MAX_TABLE_ROWS", 5)
    sweep = sweepdata.load_sweep(env["root"], env["id"])
    got = sweepdata.table(sweep, sweepdata.Choice(sweep, {"metric": "sortino"}))
    assert got["cut"] and got["total"] == 18 and len(got["rows"]) == 5
    col = got["columns"].index("sortino")
    want = rank(env["results"], "sortino")["sortino"].head(5).tolist()
    assert [r[col] for r in got["rows"]] == want
