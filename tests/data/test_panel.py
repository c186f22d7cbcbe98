"""Portfolio candles: load_panel from frames, files, the store and the samples, and its refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sparkbt as sb
from sparkbt.data.panel import quote_currency
from sparkbt.data.sample_data import SAMPLE_SPECS, sample_frame
from sparkbt.data.store import sample_path, samples
from tests.conftest import make_candles

SAMPLES = ["ETHUSDT", "BTCUSDT", "SOLUSDT", "AVAXUSDT"]


def _gappy() -> dict[str, pd.DataFrame]:
    """Hourly: A has bars 0-5; B starts at bar 1 and lacks bars 2-3; C has bars 5-6."""
    a = make_candles([10.0, 11, 12, 13, 14, 15])
    b = make_candles([20.0, 21, 22, 23, 24, 25], start="2024-01-01 01:00").drop(
        pd.DatetimeIndex(["2024-01-01 02:00", "2024-01-01 03:00"], tz="UTC")
    )
    c = make_candles([30.0, 31], start="2024-01-01 05:00")
    return {"A": a, "B": b, "C": c}


def test_frames_align_on_the_union_and_gaps_stay_nan():
    panel = sb.load_panel(_gappy())
    assert panel.symbols == ["A", "B", "C"] and panel.timeframe == "1h"
    assert list(panel.index) == list(pd.date_range("2024-01-01", periods=7, freq="1h", tz="UTC"))
    nan = np.nan
    np.testing.assert_array_equal(panel.close["A"], [10, 11, 12, 13, 14, 15, nan])
    np.testing.assert_array_equal(panel.close["B"], [nan, 20, nan, nan, 23, 24, 25])
    np.testing.assert_array_equal(panel.close["C"], [nan, nan, nan, nan, nan, 30, 31])
    assert panel.has_candle().sum(axis=0).tolist() == [6, 4, 2]
    assert panel.attrs["source"] == {"A": "dataframe", "B": "dataframe", "C": "dataframe"}
    assert panel.attrs["synthetic"] == {"A": False, "B": False, "C": False}
    assert panel.attrs["quote"] is None


def test_files_and_frames_mix_and_each_keeps_its_source(tmp_path):
    frames = _gappy()
    path = tmp_path / "goog.csv"
    frames["A"].to_csv(path)
    panel = sb.load_panel({"GOOG": path, "MSFT": frames["B"]}, timeframe="1h")
    assert panel.symbols == ["GOOG", "MSFT"]
    assert panel.attrs["source"] == {"GOOG": "file", "MSFT": "dataframe"}
    assert panel.attrs["path"] == {"GOOG": str(path)}
    assert panel.frames["GOOG"].attrs["symbol"] == "GOOG"
    np.testing.assert_array_equal(panel.close["GOOG"].dropna(), frames["A"]["close"])


def test_a_panel_is_returned_as_is_and_symbols_pick_and_order():
    panel = sb.load_panel(_gappy())
    assert sb.load_panel(panel) is panel
    picked = sb.load_panel(panel, symbols=["c", "A"])
    assert picked.symbols == ["C", "A"] and len(picked) == 7
    with pytest.raises(sb.CandleError, match=r"'D' is not among the candles \(A, B, C\)"):
        sb.load_panel(panel, symbols=["D"])


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({}, "at least one symbol (got an empty mapping)"),
        ([], "at least one symbol (got an empty list)"),
        ("BTCTRY", "expected a mapping {symbol: frame or file path}"),
        ({"A": 3}, "A: expected a DataFrame or a file path (got int)"),
        ({" ": make_candles([1.0, 2])}, "empty symbol ' '"),
        (
            {"goog": make_candles([1.0, 2]), "GOOG": make_candles([1.0, 2])},
            "symbol GOOG given twice ('goog' and 'GOOG')",
        ),
        (["btctry", "ETHTRY", "BTCTRY"], "symbol BTCTRY given twice ('BTCTRY' and 'BTCTRY')"),
        (
            {"A": make_candles([1.0, 2, 3]), "B": make_candles([1.0, 2, 3], freq="4h")},
            "one timeframe, got 1h (A) and 4h (B)",
        ),
        (
            {
                "BTCTRY": make_candles([1.0, 2]),
                "GOOG": make_candles([1.0, 2]),
                "ETHUSDT": make_candles([1.0, 2]),
                "SOL-USDT": make_candles([1.0, 2]),
            },
            "one quote currency, got TRY (BTCTRY) and USDT (ETHUSDT, SOL-USDT)",
        ),
    ],
)
def test_refusals_name_what_is_wrong(source, message):
    with pytest.raises(sb.CandleError) as err:
        sb.load_panel(source)
    assert isinstance(err.value, ValueError) and isinstance(err.value, sb.SparkbtError)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_bad_file_or_frame_is_named_by_its_symbol(tmp_path):
    bad = tmp_path / "eth.csv"
    bad.write_text("timestamp,open,high,low,close,volume\n2024-01-01,1,2,0.5,1,-3\n")
    with pytest.raises(sb.CandleError, match=rf"^ETH: {bad}: line 2"):
        sb.load_panel({"BTC": make_candles([1.0, 2]), "ETH": bad})
    with pytest.raises(sb.CandleError, match=r"^B: .*no such file|^B: .*not found|^B: .*missing"):
        sb.load_panel({"B": tmp_path / "missing.csv"})
    with pytest.raises(sb.CandleError, match=r"^A: <DataFrame>"):
        sb.load_panel({"A": make_candles([1.0, 2, 3]).iloc[::-1]})


def test_a_declared_timeframe_is_checked_against_files_frames_and_panels():
    with pytest.raises(sb.CandleError, match=r"^A: "):
        sb.load_panel({"A": make_candles([1.0, 2, 3])}, timeframe="4h")
    panel = sb.load_panel(_gappy())
    with pytest.raises(
        sb.CandleError, match=r"timeframe 4h asked, but the candles are 1h \(A, B, C\)"
    ):
        sb.load_panel(panel, timeframe="4h")


@pytest.mark.parametrize(
    ("symbol", "quote"),
    [
        ("BTCTRY", "TRY"),
        ("ethusdt", "USDT"),
        ("ETH-USDC", "USDC"),
        ("ETH/BTC", "BTC"),
        ("USDTTRY", "TRY"),
        ("BTCEUR", "EUR"),
        ("GOOG", None),
        ("EURUSD", None),
        ("WBTC", None),
        ("TRY", None),
        ("^GSPC", None),
    ],
)
def test_quote_currency_rule(symbol, quote):
    assert quote_currency(symbol) == quote


def test_symbols_without_a_known_quote_join_any_portfolio():
    panel = sb.load_panel({"BTCTRY": make_candles([1.0, 2]), "GOOG": make_candles([3.0, 4])})
    assert panel.attrs["quote"] == "TRY"


# ---------------------------------------------------------------------------- store


def test_store_round_trip(tmp_path):
    frames = _gappy()
    store = sb.CandleStore(tmp_path / "data")
    for sym, name in [("A", "BTCTRY"), ("B", "ETHTRY"), ("C", "AVAXTRY")]:
        store.merge(name, "1h", frames[sym])
    via_store = store.read_panel(["btctry", "ETHTRY", "avaxtry"], "1h")
    via_load = sb.load_panel(["BTCTRY", "ETHTRY", "AVAXTRY"], timeframe="1h", data_dir=store.root)
    for panel in (via_store, via_load):
        assert panel.symbols == ["BTCTRY", "ETHTRY", "AVAXTRY"] and panel.timeframe == "1h"
        pd.testing.assert_frame_equal(
            panel.close,
            sb.load_panel(dict(zip(panel.symbols, frames.values(), strict=True))).close,
        )
        assert set(panel.attrs["source"].values()) == {"store"}
        assert panel.attrs["quote"] == "TRY"


def test_an_unknown_store_symbol_is_named_with_what_the_store_has(tmp_path):
    store = sb.CandleStore(tmp_path / "data")
    store.merge("BTCTRY", "1h", make_candles([1.0, 2, 3]))
    store.merge("ETHTRY", "1h", make_candles([1.0, 2, 3]))
    with pytest.raises(sb.CandleError) as err:
        store.read_panel(["BTCTRY", "ETHTRYY"], "1h")
    msg = str(err.value)
    assert "no candles for ETHTRYY 1h in the store" in msg
    assert "stored: BTCTRY 1h, ETHTRY 1h" in msg and "did you mean 'ETHTRY'?" in msg
    with pytest.raises(sb.CandleError) as err:
        sb.load_panel(["BTCTRY", "SOLTRY"], timeframe="1h", data_dir=store.root)
    msg = str(err.value)
    assert "no candles for SOLTRY 1h in the store or the packaged samples" in msg
    assert "samples: AVAXUSDT 4h, BTCUSDT 4h, ETHUSDT 4h, SOLUSDT 4h" in msg
    assert "sparkbt data fetch btcturk --symbols SOLTRY --timeframe 1h" in msg


def test_stored_and_synthetic_candles_are_not_mixed(tmp_path):
    store = sb.CandleStore(tmp_path / "data")
    store.merge("BTCUSDT", "4h", make_candles([1.0, 2, 3], freq="4h"))
    with pytest.raises(
        sb.CandleError, match=r"BTCUSDT 4h come from the store but ETHUSDT, SOLUSDT"
    ):
        sb.load_panel(["BTCUSDT", "ETHUSDT", "SOLUSDT"], data_dir=store.root)


# ---------------------------------------------------------------------------- samples


def test_samples_make_a_synthetic_usdt_portfolio_on_one_calendar(tmp_path):
    panel = sb.load_panel([s.lower() for s in SAMPLES], data_dir=tmp_path / "empty")
    assert panel.symbols == SAMPLES and panel.timeframe == "4h" and len(panel) == 6000
    assert panel.attrs["source"] == dict.fromkeys(SAMPLES, "sample")
    assert panel.attrs["synthetic"] == dict.fromkeys(SAMPLES, True)
    assert panel.attrs["quote"] == "USDT"
    eth = sb.sample_candles()
    assert panel.index.equals(eth.index)  # every sample lies on the ETHUSDT calendar
    avax = panel.close["AVAXUSDT"]
    assert avax.iloc[:3000].isna().all() and avax.iloc[3000:].isna().sum() == 6  # listed late, halt
    assert panel.close[["ETHUSDT", "BTCUSDT", "SOLUSDT"]].notna().all().all()


@pytest.mark.parametrize("symbol", SAMPLES)
def test_packaged_samples_are_their_specs_bit_for_bit(symbol):
    assert set(SAMPLE_SPECS) == {s for s, _, _ in samples()}
    frame = sb.resolve_candles(symbol, "4h", data_dir="/nonexistent/store")
    assert frame.attrs["symbol"] == symbol
    assert (frame.attrs["source"], frame.attrs["synthetic"]) == ("sample", True)
    want = sample_frame(symbol)
    np.testing.assert_array_equal(frame.to_numpy(), want.to_numpy())
    assert frame.index.equals(want.index)
    assert sample_path(symbol, "4h").stat().st_size < 250_000


def test_the_original_sample_keeps_its_bytes():
    import hashlib

    digest = hashlib.sha256(sample_path("ETHUSDT", "4h").read_bytes()).hexdigest()
    assert digest == ETHUSDT_SHA256


ETHUSDT_SHA256 = "c90f6fdc1c6ea469b49ba569a32e6ccbf0e4f922bb7ce8112eb4d660d0476783"
