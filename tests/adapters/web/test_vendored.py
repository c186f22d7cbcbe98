"""Vendored browser libraries: every file VENDORED.md lists is present, byte for byte."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

VENDOR = Path(__file__).resolve().parents[3] / "sparkbt" / "adapters" / "web" / "static" / "vendor"
ROW = re.compile(r"^\|.*\|\s*`(?P<file>[^`/\\]+)`\s*\|[^|]*\|\s*`(?P<sha>[0-9a-f]{64})`\s*\|\s*$")


def _listed() -> dict[str, str]:
    rows: dict[str, str] = {}
    for line in (VENDOR / "VENDORED.md").read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            assert match["file"] not in rows, f"{match['file']} is listed twice"
            rows[match["file"]] = match["sha"]
    return rows


LISTED = _listed()


def test_the_table_lists_every_library_and_its_licence():
    for name in (
        "uPlot.iife.min.js",
        "uPlot.min.css",
        "uPlot.LICENSE",
        "lightweight-charts.standalone.production.js",
        "lightweight-charts.LICENSE",
        "lightweight-charts.NOTICE",
        "htmx.min.js",
        "htmx.LICENSE",
    ):
        assert name in LISTED


@pytest.mark.parametrize("name", sorted(LISTED))
def test_listed_file_exists_with_its_sha256(name):
    path = VENDOR / name
    assert path.is_file(), f"{name} is listed in VENDORED.md but missing"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == LISTED[name], f"{name} differs from the sha256 in VENDORED.md"


def test_every_vendored_file_is_listed():
    present = {p.name for p in VENDOR.iterdir() if p.is_file() and p.name != "VENDORED.md"}
    assert present == set(LISTED)
