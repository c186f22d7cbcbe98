"""The report page of an order run: orders, fills with fee kind, and level segments."""

from __future__ import annotations

import numpy as np
import pandas as pd

import sparkbt as sb
from sparkbt.adapters.web.orderdata import LEVEL_COLOURS, order_end_times
from sparkbt.adapters.web.reportdata import CandleSource, report_payload
from sparkbt.adapters.web.standalone import report_html
from sparkbt.evidence import read_evidence


def _candles() -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=8, freq="1D", tz="UTC", name="timestamp", unit="ns")
    return pd.DataFrame(
        {
            "open": [100.0, 101.0, 99.0, 97.0, 104.0, 106.0, 103.0, 108.0],
            "high": [102.0, 103.0, 100.0, 105.0, 107.0, 108.0, 109.0, 110.0],
            "low": [99.0, 98.0, 95.0, 96.0, 103.0, 102.0, 101.0, 107.0],
            "close": [101.0, 99.0, 97.0, 104.0, 106.0, 103.0, 108.0, 109.0],
            "volume": 1.0,
        },
        index=index,
    )


def day(i: int) -> pd.Timestamp:
    return pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=i)


ROWS = [
    # filled at 96 on day 2 (maker)
    {"timestamp": day(0), "side": "buy", "qty": 10, "type": "limit", "price": 96.0},
    # the pair: the take-profit fills at 105 on day 3, the stop is cancelled then
    {"timestamp": day(2), "side": "sell", "qty": 10, "type": "stop", "stop": 94.0, "oco": 1},
    {"timestamp": day(2), "side": "sell", "qty": 10, "type": "limit", "price": 105.0, "oco": 1},
    # never reached, good until day 5: expires then
    {
        "timestamp": day(3),
        "side": "buy",
        "qty": 1,
        "type": "limit",
        "price": 90.0,
        "tif": "gtd",
        "expire": day(5),
    },
    # never reached, good till cancelled: open at the end
    {"timestamp": day(4), "side": "buy", "qty": 1, "type": "limit", "price": 80.0},
]


def orders_of(rows):
    def strategy(candles: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(rows)

    return strategy


def stored(tmp_path):
    res = sb.backtest(_candles(), orders_of(ROWS), cash=10_000.0, fees=0.001, maker_fees=0.0)
    return read_evidence(str(res.save(tmp_path))), res


def test_each_order_leaves_the_book_at_its_fill_expiry_oco_fill_or_the_end(tmp_path) -> None:
    run, _ = stored(tmp_path)
    assert list(run.orders["status"]) == ["filled", "cancelled", "filled", "expired", "open"]
    end = order_end_times(run.orders, pd.DatetimeIndex(run.equity.index))
    assert list(end) == [day(2), day(3), day(3), day(5), day(7)]


def test_the_payload_lists_orders_fills_with_fee_kind_and_levels(tmp_path) -> None:
    run, res = stored(tmp_path)
    data = report_payload(run, CandleSource(_candles()))
    assert data["order_count"] == 5 and data["status_counts"]["filled"] == 2
    assert [o["status_class"] for o in data["orders"]] == [
        "done",
        "skipped",
        "done",
        "skipped",
        "running",
    ]
    assert data["orders"][1]["reason"] == "oco" and data["orders"][0]["reason"] is None
    fills = data["fills"]
    assert [(f["order"], f["fee_kind"]) for f in fills] == [(0, "maker"), (2, "maker")]
    assert fills[0]["fee"] == 0.0 and fills[0]["price"] == 96.0
    t = data["candles"]["t"]  # one candle per bar here
    segments = []
    for line in data["levels"]:
        assert line["color"] == LEVEL_COLOURS[line["type"]]
        times = [p[0] for p in line["points"]]
        assert times == sorted(set(times))  # the chart needs ascending, unique times
        pts = line["points"]
        start = 0
        for k, p in enumerate(pts):
            if p[2]:  # a segment ends here
                segments.append((t.index(pts[start][0]), t.index(p[0]), p[1], line["filled"]))
                start = k + 1
    assert sorted(segments) == sorted(
        [
            (0, 2, 96.0, True),
            (2, 3, 94.0, False),
            (2, 3, 105.0, True),
            (3, 5, 90.0, False),
            (4, 7, 80.0, False),
        ]
    )
    assert res.orders["fee_kind"].iloc[0] == "maker"


def test_a_targets_run_has_no_orders_part(tmp_path, sample) -> None:
    run = read_evidence(str(sb.backtest(sample, "buy_and_hold").save(tmp_path)))
    data = report_payload(run, CandleSource(None, "none"))
    assert "orders" not in data and "levels" not in data


def test_the_page_shows_the_orders_and_fills_tables(tmp_path) -> None:
    run, _ = stored(tmp_path)
    html = report_html(run, _candles())
    assert 'id="order-table"' in html and 'id="fill-table"' in html
    assert (
        'data-status="cancelled"' in html
        and '<span class="status skipped">cancelled</span>' in html
    )
    assert 'id="level-legend"' in html
    assert "<td>maker</td>" in html
    assert np.isfinite(run.orders["fill_price"].iloc[0])
