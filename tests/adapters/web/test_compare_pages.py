"""The compare page through the real app in process: stats, marks, deltas, setup, errors."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

import sparkbt as sb
from sparkbt.adapters.http.app import create_app
from sparkbt.adapters.web.compare import (
    HIGHER_BETTER,
    LOWER_BETTER,
    format_delta,
    marks,
    parse_run_ids,
)
from sparkbt.engine.result import format_stat
from sparkbt.platform.settings import Settings

TOKEN = "compare-test-admin-token"
SETUPS = ({"fast": 10, "slow": 30}, {"fast": 5, "slow": 40}, {"fast": 20, "slow": 50})


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("compare") / "evidence"
    candles = sb.sample_candles()
    runs = [sb.backtest(candles, "sma_cross", **p) for p in SETUPS]
    # a different window: its timestamps only partly overlap the others
    late = sb.backtest(candles.iloc[1500:], "sma_cross", fast=10, slow=30, fees=0.001)
    for r in [*runs, late]:
        r.save(root)
    with TestClient(create_app(Settings(admin_token=TOKEN, evidence_dir=root, workers=1))) as c:
        yield {"client": c, "runs": runs, "late": late}


def stat_cells(page: str) -> dict[str, list[tuple[str, str]]]:
    """Per stat key, each run's (mark, text) in the stats table."""
    table = page.split('id="compare-stats"', 1)[1].split("</table>", 1)[0]
    out = {}
    for key, body in re.findall(r'<tr data-key="(\w+)">(.*?)</tr>', table, re.S):
        cells = re.findall(r'<td class="num value ?(better|worse)?" data-run="\d">(.*?)</td>', body)
        out[key] = [(m, html.unescape(t)) for m, t in cells]
    return out


def deltas(page: str, key: str) -> list[str]:
    table = page.split('id="compare-stats"', 1)[1]
    body = re.search(rf'<tr data-key="{key}">(.*?)</tr>', table, re.S).group(1)
    return [html.unescape(t) for t in re.findall(r'<td class="num delta">(.*?)</td>', body)]


def test_stats_cells_equal_stored_stats_and_marks_land_on_the_right_run(
    env: dict[str, Any],
) -> None:
    runs = env["runs"]
    ids = ",".join(r.run_id for r in runs)
    page = env["client"].get("/ui/compare", params={"runs": ids})
    assert page.status_code == 200, page.text
    cells = stat_cells(page.text)
    assert list(cells) == [k for k in sb.STAT_KEYS if k in runs[0].stats]
    for key, row in cells.items():
        assert [t for _, t in row] == [format_stat(key, r.stats[key]) for r in runs], key
    for key in ("sharpe", "total_return", "max_drawdown", "win_rate"):
        values = [r.stats[key] for r in runs]
        sign = 1 if key in HIGHER_BETTER else -1
        best = max(range(3), key=lambda i: sign * values[i])
        worst = min(range(3), key=lambda i: sign * values[i])
        got = [m for m, _ in cells[key]]
        assert got[best] == "better" and got[worst] == "worse", (key, values, got)
    # equal in every run (no fees anywhere): no marks
    assert [m for m, _ in cells["total_fees"]] == ["", "", ""]
    # no direction known: never marked
    assert all(m == "" for m, _ in cells["total_trades"])
    d = deltas(page.text, "sharpe")
    assert d == [
        format_delta("sharpe", r.stats["sharpe"], runs[0].stats["sharpe"]) for r in runs[1:]
    ]
    assert len(d) == 2 and d[0][0] in "+−"


def test_cards_link_runs_and_setup_differences(env: dict[str, Any]) -> None:
    a, late = env["runs"][0], env["late"]
    page = env["client"].get(f"/ui/compare?runs={a.run_id[:10]},{late.run_id[:10]}").text
    assert f'href="/ui/runs/{a.run_id}"' in page and f'href="/ui/runs/{late.run_id}"' in page
    assert page.count('class="badge synthetic"') == 2
    diff = page.split('id="setup-diff"', 1)[1].split("</table>", 1)[0]
    keys = re.findall(r'<tr data-key="([\w.]+)">', diff)
    assert "config.fees" in keys and "data.start" in keys and "data.candle_count" in keys
    assert "params.fast" not in keys and "config.cash" not in keys and "strategy" not in keys
    # a union x axis: each run has nulls where only the other has a point
    series = json.loads(
        html.unescape(re.search(r'id="compare-data">(.*?)</script>', page, re.S).group(1))
    )
    assert series["t"] == sorted(set(series["t"]))
    first, second = series["runs"]
    assert len(first["equity"]) == len(second["equity"]) == len(series["t"])
    assert first["equity"][0] is not None and second["equity"][0] is None
    assert 0 < second["points"] <= 4002 and second["bars"] == 4500


def test_bad_run_counts_are_422_and_unknown_runs_404(env: dict[str, Any]) -> None:
    c, runs = env["client"], env["runs"]
    one = c.get(f"/ui/compare?runs={runs[0].run_id}")
    assert one.status_code == 422 and "compare needs 2 to 4" in one.text
    five = ",".join([r.run_id for r in runs] + [env["late"].run_id, "ffff"])
    assert c.get(f"/ui/compare?runs={five}").status_code == 422
    same = c.get(f"/ui/compare?runs={runs[0].run_id},{runs[0].run_id[:8]}")
    assert same.status_code == 422
    assert c.get(f"/ui/compare?runs={runs[0].run_id},0000000000").status_code == 404


def test_without_runs_the_page_offers_stored_runs(env: dict[str, Any]) -> None:
    page = env["client"].get("/ui/compare").text
    for r in [*env["runs"], env["late"]]:
        assert f'name="runs" value="{r.run_id}"' in page
    picked = env["client"].get(
        "/ui/compare", params=[("runs", env["runs"][0].run_id), ("runs", env["late"].run_id)]
    )
    assert picked.status_code == 200 and 'id="compare-stats"' in picked.text


def test_marks_and_ids() -> None:
    assert marks("sharpe", [1.0, 2.0, 0.5]) == ["", "better", "worse"]
    assert marks("max_drawdown", [0.2, 0.1, 0.1]) == ["worse", "better", "better"]
    assert marks("total_trades", [1, 2]) == ["", ""]
    assert marks("sharpe", [None, 1.0]) == ["", ""]
    assert "max_drawdown" in LOWER_BETTER
    assert format_delta("total_return", 0.25, 0.1) == "+15.00 pp"
    assert format_delta("total_trades", 3, 5) == "−2"
    assert parse_run_ids(["a, b", "a", "", "c"]) == ["a", "b", "c"]
