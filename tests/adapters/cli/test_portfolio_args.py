"""The portfolio options' parsers: repeated --data SYMBOL=FILE and --symbols A,B,C."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparkbt.adapters.cli.args import parse_data_files, parse_symbols
from sparkbt.errors import ConfigError


def test_symbols_are_normalised_in_order():
    assert parse_symbols("btctry, ETHTRY ,avax-try") == ["BTCTRY", "ETHTRY", "AVAX-TRY"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "--symbols: empty symbol at position 1 in ''"),
        ("BTCTRY,,ETHTRY", "--symbols: empty symbol at position 2 in 'BTCTRY,,ETHTRY'"),
        ("BTCTRY,", "--symbols: empty symbol at position 2"),
        ("BTCTRY,ETHTRY,btctry", "--symbols: symbol BTCTRY given twice"),
        ("BTC TRY", "--symbols: symbol: expected letters, digits"),
    ],
)
def test_bad_symbols_are_one_line_errors(text, message):
    with pytest.raises(ConfigError) as err:
        parse_symbols(text)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert isinstance(err.value, ValueError)


def test_data_files_map_symbols_to_paths_as_written():
    got = parse_data_files(["GOOG=goog.csv", " msft = data/msft.parquet", "X=a=b.csv"])
    assert got == {
        "GOOG": Path("goog.csv"),
        "msft": Path("data/msft.parquet"),
        "X": Path("a=b.csv"),
    }
    assert list(got) == ["GOOG", "msft", "X"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["goog.csv"], "--data 'goog.csv': expected SYMBOL=FILE"),
        (["=goog.csv"], "--data '=goog.csv': empty symbol before '='"),
        (["GOOG="], "--data 'GOOG=': no file after '='"),
        (
            ["GOOG=a.csv", "goog=b.csv"],
            "--data: symbol goog given twice ('GOOG=a.csv' and 'goog=b.csv')",
        ),
    ],
)
def test_bad_data_files_are_one_line_errors(values, message):
    with pytest.raises(ConfigError) as err:
        parse_data_files(values)
    assert message in str(err.value) and "\n" not in str(err.value)
