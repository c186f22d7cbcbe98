"""Comparing two evidence folders file by file: JSON key by key, Parquet column by column.

A re-run writes its evidence to a temporary folder; every JSON and Parquet file
of the stored folder is then compared with the re-run's. JSON leaves must be
equal in value and type; Parquet tables must have the same columns, types and
row count, and equal values bit for bit (NaN equals NaN; ``-0.0`` does not
equal ``0.0``). Only the volatile keys (:data:`VOLATILE_KEYS`: when and how long
a run took) are left out. Each difference names its file, its key or column,
the first row that differs and both values.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["VOLATILE_KEYS", "Difference", "FileCheck", "compare_folders"]

VOLATILE_KEYS = frozenset({"timing", "created_at", "duration_ms", "sparkbt_version"})
"""JSON keys that say when, how fast and by which package release a run was made, not
what it computed (``engine_version`` names the numbers' contract and is compared)."""


@dataclass(frozen=True)
class Difference:
    """One place where the stored evidence and the re-run's differ."""

    file: str
    where: str  # a JSON key path (``stats.sharpe``) or a Parquet column
    stored: str
    rerun: str
    row: int | None = None

    def __str__(self) -> str:
        at = f" row {self.row}" if self.row is not None else ""
        return f"{self.file}: {self.where}{at}: stored {self.stored}, re-run {self.rerun}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FileCheck:
    """The outcome for one file: ``same`` or ``differs`` with its differences."""

    file: str
    differences: tuple[Difference, ...] = ()

    @property
    def same(self) -> bool:
        return not self.differences

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "status": "same" if self.same else "differs",
            "differences": [d.to_dict() for d in self.differences],
        }


def compare_folders(
    stored: Path, rerun: Path, ignore_keys: frozenset[str] = frozenset()
) -> list[FileCheck]:
    """One check per JSON or Parquet file of either folder (other files are not compared)."""
    names = sorted(_comparable(stored) | _comparable(rerun))
    checks = []
    for name in names:
        a, b = stored / name, rerun / name
        if not a.is_file() or not b.is_file():
            missing = "missing" if not a.is_file() else "present"
            other = "missing" if not b.is_file() else "present"
            checks.append(FileCheck(name, (Difference(name, "file", missing, other),)))
        elif name.endswith(".json"):
            checks.append(FileCheck(name, tuple(_json_differences(name, a, b, ignore_keys))))
        else:
            checks.append(FileCheck(name, tuple(_parquet_differences(name, a, b))))
    return checks


def _comparable(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.suffix in (".json", ".parquet")}


# --------------------------------------------------------------------------- JSON
def _json_differences(name: str, a: Path, b: Path, ignore: frozenset[str]) -> list[Difference]:
    out: list[Difference] = []
    _walk(name, "", json.loads(a.read_text()), json.loads(b.read_text()), ignore, out)
    return out


def _walk(
    name: str, key: str, a: Any, b: Any, ignore: frozenset[str], out: list[Difference]
) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in [*a, *(k for k in b if k not in a)]:
            if k in VOLATILE_KEYS or k in ignore:
                continue
            path = f"{key}.{k}" if key else str(k)
            if k not in a or k not in b:
                out.append(
                    Difference(name, path, _text(a.get(k, "(absent)")), _text(b.get(k, "(absent)")))
                )
            else:
                _walk(name, path, a[k], b[k], ignore, out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _walk(name, f"{key}[{i}]", x, y, ignore, out)
    elif type(a) is not type(b) or a != b:
        out.append(Difference(name, key or "(document)", _text(a), _text(b)))


def _text(value: Any) -> str:
    text = json.dumps(value, allow_nan=True, default=str)
    return text if len(text) <= 200 else text[:197] + "..."


# --------------------------------------------------------------------------- Parquet
def _parquet_differences(name: str, a: Path, b: Path) -> list[Difference]:
    if a.read_bytes() == b.read_bytes():
        return []
    ta, tb = pq.read_table(a), pq.read_table(b)
    if ta.column_names != tb.column_names:
        return [Difference(name, "columns", str(ta.column_names), str(tb.column_names))]
    out: list[Difference] = []
    if ta.num_rows != tb.num_rows:
        out.append(Difference(name, "rows", str(ta.num_rows), str(tb.num_rows)))
    for col in ta.column_names:
        ca, cb = ta.column(col), tb.column(col)
        if ca.type != cb.type:
            out.append(Difference(name, col, f"type {ca.type}", f"type {cb.type}"))
            continue
        n = min(len(ca), len(cb))
        row = _first_unequal(ca.slice(0, n).combine_chunks(), cb.slice(0, n).combine_chunks())
        if row is not None:
            out.append(Difference(name, col, _cell(ca, row), _cell(cb, row), row))
    return out


def _first_unequal(a: pa.Array, b: pa.Array) -> int | None:
    """The first position where two arrays of one type differ (bit for bit, NaN == NaN)."""
    nulls_a = np.asarray(a.is_null(), dtype=bool)
    nulls_b = np.asarray(b.is_null(), dtype=bool)
    bad = nulls_a != nulls_b
    if pa.types.is_floating(a.type):
        x = a.to_numpy(zero_copy_only=False).astype(np.float64)
        y = b.to_numpy(zero_copy_only=False).astype(np.float64)
        same = (x.view(np.int64) == y.view(np.int64)) | (np.isnan(x) & np.isnan(y))
        bad |= ~same & ~nulls_a & ~nulls_b
    elif (
        pa.types.is_integer(a.type) or pa.types.is_temporal(a.type) or pa.types.is_boolean(a.type)
    ) and not (a.null_count or b.null_count):
        bad |= a.to_numpy(zero_copy_only=False) != b.to_numpy(zero_copy_only=False)
    else:
        xs, ys = a.to_pylist(), b.to_pylist()
        bad |= np.array([not _same_value(x, y) for x, y in zip(xs, ys, strict=True)], dtype=bool)
    hits = np.flatnonzero(bad)
    return int(hits[0]) if len(hits) else None


def _same_value(x: Any, y: Any) -> bool:
    if isinstance(x, float) and isinstance(y, float):
        return (x != x and y != y) or np.float64(x).tobytes() == np.float64(y).tobytes()
    return type(x) is type(y) and bool(x == y)


def _cell(column: pa.ChunkedArray, row: int) -> str:
    if row >= len(column):
        return "(no row)"
    value = column[row].as_py()
    return repr(value) if not isinstance(value, float) else float.__repr__(value)
