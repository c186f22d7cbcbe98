"""The CLI: `sparkbt data fetch btcturk` and `sparkbt feed btcturk` against the fake exchange."""

from __future__ import annotations

import json
import socket

import pandas as pd
import pytest
from typer.testing import CliRunner

from sparkbt.adapters.cli.app import app
from sparkbt.data.store import CandleStore

from .conftest import stored
from .fake_btcturk import FakeBtcturk, Tape, history_tape, tape_candles

pytestmark = pytest.mark.timeout(30)
START = pd.Timestamp("2024-01-01", tz="UTC")


@pytest.fixture(scope="module")
def fake():
    tape = Tape()
    history_tape(tape, "BTCTRY", START, START + pd.Timedelta(days=5), 3600)
    with FakeBtcturk(tape, ["BTCTRY", "ETHTRY"]) as exchange:
        yield exchange


def invoke(*args: str, env: dict | None = None):
    return CliRunner().invoke(app, list(args), env=env)


def on_fake(fake, data, *args: str):
    """``sparkbt *args`` with the BTCTurk REST URLs on the fake exchange, storing under ``data``."""
    return invoke(*args, "--graph-url", fake.url, "--rest-url", fake.url, "--data-dir", str(data))


def feed(fake, data, *args: str):
    """``sparkbt feed btcturk *args`` against the fake exchange, storing under ``data``."""
    return on_fake(fake, data, "feed", "btcturk", *args, "--ws-url", fake.ws_url)


def files(root) -> list:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_fetch_writes_the_store_and_is_idempotent(fake, tmp_path):
    data = tmp_path / "data"
    args = (
        "data",
        "fetch",
        "btcturk",
        "--symbol",
        "btctry",
        "--timeframe",
        "1h",
        "--since",
        "2024-01-01",
        "--until",
        "2024-01-04",
        "--data-dir",
        str(data),
    )
    env = {"SPARKBT_BTCTURK_GRAPH_URL": fake.url, "SPARKBT_BTCTURK_REST_URL": fake.url}
    first = invoke(*args, env=env)
    assert first.exit_code == 0, first.output
    assert "new, 0 changed" in first.output
    ref = tape_candles(fake.tape.of("BTCTRY"), 3600)
    want = ref[ref.index < pd.Timestamp("2024-01-04", tz="UTC")]
    from sparkbt.data.store import CandleStore

    store = CandleStore(data)
    pd.testing.assert_frame_equal(stored(store, "BTCTRY", "1h"), want, check_freq=False)
    again = invoke(*args, "--graph-url", fake.url, "--rest-url", fake.url)
    assert again.exit_code == 0, again.output
    assert f"{len(want)} candles received, 0 new, 0 changed" in again.output
    pd.testing.assert_frame_equal(stored(store, "BTCTRY", "1h"), want, check_freq=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--symbol", "BTCXYZ"], "BTCTurk lists no pair 'BTCXYZ'"),
        (["--timeframe", "2h"], "timeframe: BTCTurk serves 1m, 5m"),
        (["--timeframe", "banana"], "timeframe: expected a number and a unit"),
        (["--since", "2024-02-01", "--until", "2024-01-15"], "must be before --until"),
        (["--since", "not-a-date"], "--since: expected a date"),
        (["--unreachable"], "no answer after 1 attempts"),
    ],
)
def test_bad_input_exits_2_and_leaves_the_store_untouched(fake, tmp_path, extra, message):
    data = tmp_path / "data"
    (data / "BTCTRY").mkdir(parents=True)
    keep = data / "BTCTRY" / "keep.txt"
    keep.write_text("stored before")
    url = fake.url
    if extra == ["--unreachable"]:
        url, extra = f"http://127.0.0.1:{_free_port()}", []
    opts = {
        "--symbol": "BTCTRY",
        "--timeframe": "1h",
        "--since": "2024-01-01",
        "--until": "2024-01-03",
    }
    for flag, value in zip(extra[::2], extra[1::2], strict=True):
        opts[flag] = value
    args = [
        "data",
        "fetch",
        "btcturk",
        "--graph-url",
        url,
        "--rest-url",
        url,
        "--data-dir",
        str(data),
        "--max-retries",
        "0",
    ]
    for flag, value in opts.items():
        args += [flag, value]
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert result.output.count("\n") == 1  # one line, no traceback
    assert files(data) == [keep]


def test_feed_runs_for_a_duration_and_serves_metrics(fake, tmp_path):
    result = feed(
        fake,
        tmp_path / "d",
        "--symbols",
        "BTCTRY,ETHTRY",
        "--timeframe",
        "1m",
        "--duration",
        "0.8",
        "--metrics-port",
        "0",
    )
    assert result.exit_code == 0, result.output
    assert "metrics on http://127.0.0.1:" in result.output
    assert "btcturk 1m " in result.output  # the status line (not a tty)
    assert "| last msg " in result.output
    assert "BTCTRY 1m: 0 live candles" in result.output
    assert "ETHTRY 1m:" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--symbols", "BTCTRY,NOPETRY"], "BTCTurk lists no pair 'NOPETRY'"),
        (["--symbols", ","], "--symbols: expected one or more pairs"),
        (["--symbols", "BTCTRY", "--timeframe", "1w"], "builds up to 1d candles"),
        (["--symbols", "BTCTRY", "--timeframe", "7m"], "BTCTurk serves"),
    ],
)
def test_feed_bad_input_exits_2(fake, tmp_path, args, message):
    result = feed(
        fake,
        tmp_path / "d",
        *args,
        "--quiet",
        "--duration",
        "5",
    )
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "d").exists()


def test_help_lists_the_commands():
    assert "btcturk" in invoke("data", "fetch", "--help").output
    assert "--stale-after" in invoke("feed", "btcturk", "--help").output


def test_fetched_candles_feed_sparkbt_run(fake, tmp_path):
    # a store folder of its own, not $SPARKBT_DATA_DIR: `run` must read the one it is given
    data = tmp_path / "store"
    fetched = on_fake(
        fake,
        data,
        "data",
        "fetch",
        "btcturk",
        "--symbol",
        "BTCTRY",
        "--since",
        "2024-01-01",
        "--until",
        "2024-01-06",
    )
    assert fetched.exit_code == 0, fetched.output
    candles = stored(CandleStore(data), "BTCTRY", "1h")
    ran = invoke(
        "run",
        "--symbol",
        "BTCTRY",
        "--timeframe",
        "1h",
        "--data-dir",
        str(data),
        "--strategy",
        "sma_cross",
        "--fast",
        "3",
        "--slow",
        "8",
        "--json",
        "--evidence-dir",
        str(tmp_path / "evidence"),
    )
    assert ran.exit_code == 0, ran.output
    report = json.loads(ran.stdout)
    meta = report["metadata"]
    assert (meta["symbol"], meta["timeframe"]) == ("BTCTRY", "1h")
    assert meta["candle_count"] == len(candles) > 0
    assert pd.Timestamp(meta["start"]) == candles.index[0]
    assert pd.Timestamp(meta["end"]) == candles.index[-1]
    assert report["params"] == {"fast": 3, "slow": 8}
    assert (tmp_path / "evidence" / "backtest" / report["id"] / "report.json").is_file()


@pytest.fixture(scope="module")
def fake_pairs():
    tape = Tape()
    for seed, sym in enumerate(["BTCTRY", "ETHTRY", "AVAXTRY"], start=1):
        history_tape(tape, sym, START, START + pd.Timedelta(days=3), 3600, seed, 4 + seed)
    with FakeBtcturk(tape, ["BTCTRY", "ETHTRY", "AVAXTRY"]) as exchange:
        yield exchange


def fetch_many(fake, data, *args: str):
    return on_fake(
        fake,
        data,
        "data",
        "fetch",
        "btcturk",
        "--since",
        "2024-01-01",
        "--until",
        "2024-01-03",
        *args,
    )


def test_fetch_several_symbols_one_line_each_and_a_panel_after(fake_pairs, tmp_path):
    data = tmp_path / "data"
    result = fetch_many(fake_pairs, data, "--symbols", "btctry,ETHTRY,AvaxTry")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["BTCTRY", "ETHTRY", "AVAXTRY"]
    assert all(" 1h 2024-01-01 00:00 → 2024-01-03 00:00 UTC: " in line for line in lines)
    store = CandleStore(data)
    end = pd.Timestamp("2024-01-03", tz="UTC")
    for sym in ["BTCTRY", "ETHTRY", "AVAXTRY"]:
        ref = tape_candles(fake_pairs.tape.of(sym), 3600)
        pd.testing.assert_frame_equal(
            stored(store, sym, "1h"), ref[ref.index < end], check_freq=False
        )
    panel = store.read_panel(["BTCTRY", "ETHTRY", "AVAXTRY"], "1h")
    assert panel.symbols == ["BTCTRY", "ETHTRY", "AVAXTRY"] and panel.attrs["quote"] == "TRY"
    assert panel.close.isna().any().all()  # each pair's quiet hours are its own gaps


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--symbols", "BTCTRY,NOPETRY"], "BTCTurk lists no pair 'NOPETRY'"),
        (["--symbols", "BTCTRY,,ETHTRY"], "--symbols: empty symbol at position 2"),
        (["--symbols", "BTCTRY,btctry"], "--symbols: symbol BTCTRY given twice"),
        (["--symbols", "BTCTRY", "--symbol", "ETHTRY"], "give --symbol PAIR or --symbols A,B,C"),
        ([], "give --symbol PAIR or --symbols A,B,C"),
    ],
)
def test_fetch_several_refuses_before_writing_anything(fake_pairs, tmp_path, args, message):
    data = tmp_path / "data"
    result = fetch_many(fake_pairs, data, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output and result.output.count("\n") == 1
    assert files(data) == []


def test_fetch_several_names_the_symbol_that_fails(fake_pairs, tmp_path):
    fake_pairs.faults.http_503 = 2  # both attempts at BTCTRY's first page
    try:
        result = fetch_many(
            fake_pairs, tmp_path / "d", "--symbols", "BTCTRY,ETHTRY", "--max-retries", "1"
        )
    finally:
        fake_pairs.faults.http_503 = 0
    assert result.exit_code == 2, result.output
    assert "error: BTCTRY: " in result.output
