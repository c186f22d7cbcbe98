"""Sweep options are defined once: every entry point takes the same names and checks them alike."""

from __future__ import annotations

import inspect

import pytest

from sparkbt.adapters.cli import sweeps as cli
from sparkbt.errors import ConfigError
from sparkbt.research.sweep import sweep
from sparkbt.research.sweep_options import OPTION_NAMES, SweepOptions
from sparkbt.research.walkforward import walk_forward


def _keywords(fn) -> set[str]:
    return {p.name for p in inspect.signature(fn).parameters.values() if p.kind is p.KEYWORD_ONLY}


@pytest.mark.parametrize("fn", [sweep, walk_forward])
def test_functions_take_every_option(fn) -> None:
    assert set(OPTION_NAMES) <= _keywords(fn)


@pytest.mark.parametrize("command", [cli.sweep_cmd, cli.walk_forward_cmd])
def test_commands_take_every_option_but_the_chunk_size(command) -> None:
    names = {"gates" if n == "gate" else n for n in inspect.signature(command).parameters}
    assert set(OPTION_NAMES) - {"chunk_size"} <= names


def test_options_round_trip_through_sweep_keywords() -> None:
    opts = SweepOptions.parse(fees="0,0.001", sl_stop=0.02, where="fast<slow", max_memory="1GB")
    assert opts.swept == {"fees": [0.0, 0.001]}
    assert opts.where == "fast < slow" and opts.max_memory == 2**30
    assert SweepOptions.parse(**opts.keywords()) == opts


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"fees": [0.001, 0.002]}, "walk-forward: engine options take one value each"),
        ({"executor": "spark"}, "executor: expected local or dask"),
        ({"max_memory": "lots"}, "max_memory"),
        ({"seed": [1, 2]}, "seed: expected one whole number"),
    ],
)
def test_walk_forward_checks_options_before_reading_candles(tmp_path, kwargs, match) -> None:
    missing = tmp_path / "nowhere.csv"  # never read: the options fail first
    with pytest.raises(ConfigError, match=match):
        walk_forward(missing, "sma_cross", train=100, test=50, fast=[3, 5], **kwargs)
