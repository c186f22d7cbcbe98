"""Long trade lists: pages sorted and filtered over every trade, in the page and on the server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import sparkbt as sb
from sparkbt.adapters.http.app import create_app
from sparkbt.adapters.web.tradetable import MAX_TABLE_TRADES, TRADE_COLUMNS, trade_page
from sparkbt.evidence import read_evidence
from sparkbt.platform.settings import Settings


def flip(close: pd.Series) -> pd.Series:
    """Long on every other bar: one trade per two bars."""
    return pd.Series(np.arange(len(close)) % 2 == 0, index=close.index).astype(float)


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("many")
    res = sb.backtest(sb.sample_candles(), flip, sl_stop=0.01)
    res.save(root / "evidence")
    run = read_evidence(res.run_id, root / "evidence")
    assert len(run.trades) > MAX_TABLE_TRADES
    client = TestClient(
        create_app(Settings(admin_token="t", evidence_dir=root / "evidence", workers=1))
    )
    with client:
        yield {"run": run, "client": client}


def test_pages_cover_every_trade_once(many: dict[str, Any]) -> None:
    trades = many["run"].trades
    seen: list[int] = []
    offset = 0
    while True:
        page = trade_page(trades, offset=offset, limit=777)
        assert page["total"] == page["matching"] == len(trades)
        if not page["rows"]:
            break
        seen += [r[0] for r in page["rows"]]
        offset += 777
    assert seen == trades["id"].tolist()


def test_sort_and_filter_run_over_every_trade(many: dict[str, Any]) -> None:
    trades = many["run"].trades
    pnl = TRADE_COLUMNS.index("pnl")
    top = trade_page(trades, sort="pnl", descending=True, limit=5)
    assert [r[pnl] for r in top["rows"]] == pytest.approx(trades["pnl"].nlargest(5).tolist())
    stops = trade_page(trades, reason="stop_loss")
    assert stops["matching"] == int((trades["exit_reason"] == "stop_loss").sum()) > 0
    month = trade_page(trades, query="2023-05")
    expected = trades["entry_time"].map(lambda t: t.isoformat()).str.contains("2023-05") | trades[
        "exit_time"
    ].map(lambda t: t.isoformat()).str.contains("2023-05")
    assert month["matching"] == int(expected.sum()) > 0
    with pytest.raises(ValueError, match="sort: expected one of"):
        trade_page(trades, sort="secret")
    with pytest.raises(ValueError, match="limit"):
        trade_page(trades, limit=MAX_TABLE_TRADES + 1)


def test_served_report_pages_long_lists(many: dict[str, Any]) -> None:
    run, c = many["run"], many["client"]
    html = c.get(f"/ui/runs/{run.id}").text
    assert f'data-url="/ui/runs/{run.id}/trades.json"' in html
    page = c.get(
        f"/ui/runs/{run.id}/trades.json",
        params={"offset": 2000, "limit": 10, "sort": "id", "desc": "true"},
    ).json()
    assert page["total"] == len(run.trades)
    assert [r[0] for r in page["rows"]] == run.trades["id"].iloc[::-1].iloc[2000:2010].tolist()
    bad = c.get(f"/ui/runs/{run.id}/trades.json", params={"sort": "nope"})
    assert bad.status_code == 422 and "sort" in bad.json()["detail"]


def test_standalone_report_holds_every_trade(many: dict[str, Any], tmp_path: Path) -> None:
    import json
    import re

    from sparkbt.adapters.web.standalone import report_html

    run = many["run"]
    html = report_html(run, sb.sample_candles())
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', html, re.S).group(1))  # type: ignore[union-attr]
    assert len(data["trades"]) == data["trade_count"] == len(run.trades)
    assert "data-url" not in html


def test_search_without_match_is_an_empty_page(many: dict[str, Any]) -> None:
    run, c = many["run"], many["client"]
    url = f"/ui/runs/{run.id}/trades.json"
    for params in ({"q": "no-such-text"}, {"q": "long", "reason": "no_such_reason"}):
        r = c.get(url, params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["matching"], body["rows"], body["total"]) == (0, [], len(run.trades))
    empty = trade_page(run.trades.iloc[:0], query="long")
    assert (empty["total"], empty["matching"], empty["rows"]) == (0, 0, [])
