"""Evidence on disk: content ids, atomic writes, and reading runs back.

Layout under the evidence root (``--evidence-dir``, ``$SPARKBT_EVIDENCE_DIR``
or ``./evidence``)::

    backtest/<id>/report.json, trades.parquet, fills.parquet, equity.parquet, locks.parquet
    sweep/<id>/sweep.json, results.parquet, heatmap.png
    walkforward/<id>/walkforward.json, folds.parquet, oos.parquet

An id is a hash of everything that determines the numbers (data fingerprint,
strategy and its source, parameters, config, engine version), so the same
inputs give the same id and the same bytes apart from the ``timing`` block.
A folder is written under a temporary name and renamed into place: a failed
or killed run leaves nothing half-written under an id, and saving an id that
exists never takes it away (see :func:`write_atomic`).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import hashlib
import importlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sparkbt.errors import EvidenceNotFound
from sparkbt.tempfiles import remove_stale

__all__ = [
    "EVIDENCE_KINDS",
    "RunEvidence",
    "Writer",
    "content_id",
    "data_fingerprint",
    "default_evidence_dir",
    "dump_json",
    "read_evidence",
    "write_atomic",
    "write_parquet",
]


def default_evidence_dir() -> Path:
    """``$SPARKBT_EVIDENCE_DIR`` or ``./evidence``."""
    return Path(os.environ.get("SPARKBT_EVIDENCE_DIR") or "evidence")


def data_fingerprint(candles: pd.DataFrame) -> str:
    """sha256 of the canonical candle bytes: timestamps (ns) and the five float64 columns."""
    h = hashlib.sha256()
    ns = pd.DatetimeIndex(candles.index).asi8
    h.update(np.ascontiguousarray(ns, dtype="<i8").tobytes())
    for col in ("open", "high", "low", "close", "volume"):
        h.update(np.ascontiguousarray(candles[col].to_numpy(), dtype="<f8").tobytes())
    return h.hexdigest()


def dump_json(obj: Any) -> str:
    """Deterministic JSON text (no NaN/Infinity: they must be None already)."""
    return json.dumps(obj, indent=2, sort_keys=False, allow_nan=False, ensure_ascii=False) + "\n"


def content_id(payload: dict[str, Any]) -> str:
    """A short stable id (20 hex chars) of a JSON-able payload."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Parquet with fixed settings so equal frames give equal bytes."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, path, compression="zstd", write_statistics=True)


Writer = Callable[[Path], object]
"""Writes one evidence file at the path it is given (what it returns is ignored)."""


def write_atomic(final: Path, writers: dict[str, Writer]) -> Path:
    """Create ``final/`` with one file per writer, all or nothing.

    Files go to a temporary sibling folder, are flushed to disk, and the folder
    is renamed to ``final``: that rename is the commit point, so a folder under
    an id's name is always complete. An existing folder of the same id (same
    inputs, so the same content apart from timing) is exchanged with the new
    one in one atomic step where the system can (Linux), else kept as it is;
    either way a reader never finds the id missing or half-written. Temporary
    folders that killed writers left behind are removed first.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(final.parent, _is_temp_folder)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        for name, write in writers.items():
            write(tmp / name)
        for name in writers:
            with open(tmp / name, "rb") as fh:
                os.fsync(fh.fileno())
        _install(tmp, final)
    finally:  # gone after a rename; the replaced copy after an exchange; partial on failure
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _is_temp_folder(entry: os.DirEntry[str]) -> bool:
    """A writer's temporary folder: hidden (ids never start with a dot)."""
    return entry.name.startswith(".") and entry.is_dir(follow_symlinks=False)


def _install(tmp: Path, final: Path) -> None:
    """Make the complete folder ``tmp`` the one at ``final`` without ever removing ``final``."""
    for _ in range(5):
        try:
            os.rename(tmp, final)  # fails if final exists and is not empty
            return
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
        try:
            _exchange(tmp, final)  # final is the new copy, tmp the old one (or untouched)
            return
        except FileNotFoundError:
            continue  # final vanished in between: rename again


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


@functools.cache
def _renameat2() -> Any:
    """libc's ``renameat2`` (Linux, glibc >= 2.28), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one atomic step; False (nothing done) where unsupported."""
    fn = _renameat2()
    if fn is None:
        return False
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False  # old kernel or a file system without exchange
    raise OSError(err, os.strerror(err), str(a), None, str(b))


@dataclass
class RunEvidence:
    """A stored backtest: the report plus its tables, as pandas objects."""

    path: Path
    report: dict[str, Any]
    trades: pd.DataFrame = field(repr=False)
    fills: pd.DataFrame = field(repr=False)
    equity: pd.DataFrame = field(repr=False)
    locks: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    # a portfolio's per-symbol tables (empty for a single-symbol run)
    assets: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    positions: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    weights: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    # an order run's orders table (empty for a run of targets or weights)
    orders: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)

    @property
    def is_orders(self) -> bool:
        """True for a run of a strategy that returns orders."""
        return self.report.get("kind") == "orders"

    @property
    def is_portfolio(self) -> bool:
        """True for a run of several symbols sharing one cash."""
        return self.report.get("kind") == "portfolio"

    @property
    def id(self) -> str:
        return str(self.report["id"])

    @property
    def stats(self) -> dict[str, Any]:
        return dict(self.report["stats"])

    kind = "backtest"


def read_run(path: Path) -> RunEvidence:
    """Load a backtest folder (``report.json`` and its tables)."""
    report = json.loads((path / "report.json").read_text())

    def optional(name: str, index: str | None = None) -> pd.DataFrame:
        if not (path / name).exists():
            return pd.DataFrame()
        table = pd.read_parquet(path / name)
        return table.set_index(index) if index else table

    return RunEvidence(
        path=path,
        report=report,
        trades=pd.read_parquet(path / "trades.parquet"),
        fills=pd.read_parquet(path / "fills.parquet"),
        equity=pd.read_parquet(path / "equity.parquet").set_index("timestamp"),
        locks=optional("locks.parquet"),
        assets=optional("assets.parquet", "symbol"),
        positions=optional("positions.parquet", "timestamp"),
        weights=optional("weights.parquet", "timestamp"),
        orders=optional("orders.parquet"),
    )


EVIDENCE_KINDS: dict[str, tuple[str, str]] = {
    # marker file: (folder under the evidence root, "module:function" that loads it).
    # Loaders are imported when a folder of their kind is read, so this table is
    # complete without importing the modules that write each kind.
    "report.json": ("backtest", "sparkbt.evidence:read_run"),
    "sweep.json": ("sweep", "sparkbt.research.sweep_evidence:read_sweep"),
    "walkforward.json": ("walkforward", "sparkbt.research.sweep_evidence:read_walk_forward"),
}
KINDS: tuple[str, ...] = tuple(folder for folder, _ in EVIDENCE_KINDS.values())


def _loader(marker: str) -> Callable[[Path], Any]:
    module, _, name = EVIDENCE_KINDS[marker][1].partition(":")
    loader: Callable[[Path], Any] = getattr(importlib.import_module(module), name)
    return loader


def _locate(ref: str | Path, root: Path) -> Path:
    p = Path(ref).expanduser()
    if p.is_dir():
        return p
    if p.is_file() and p.name in EVIDENCE_KINDS:
        return p.parent
    text = str(ref).strip()
    if text and "/" not in text and text not in {".", ".."}:
        hits = [root / kind / text for kind in KINDS if (root / kind / text).is_dir()]
        if not hits:  # unique prefix of an id
            hits = [
                d
                for kind in KINDS
                if (root / kind).is_dir()
                for d in sorted((root / kind).glob(f"{text}*"))
                if d.is_dir() and not d.name.startswith(".")
            ]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            names = ", ".join(h.name for h in hits[:5])
            raise EvidenceNotFound(f"evidence id {text!r} is ambiguous (matches {names})")
    exc = EvidenceNotFound(
        f"no evidence for {str(ref)!r}: no folder of that name, and no id or id prefix "
        f"under {root.absolute()} (in {', '.join(f'{k}/' for k in KINDS)})"
    )
    exc.root = root  # the evidence root searched, for callers that say where it came from
    raise exc


def read_evidence(ref: str | Path, evidence_dir: str | Path | None = None) -> Any:
    """Load stored evidence (run, sweep, walk-forward) by id, id prefix, folder or marker file."""
    root = Path(evidence_dir) if evidence_dir is not None else default_evidence_dir()
    path = _locate(ref, root)
    for marker in EVIDENCE_KINDS:
        if (path / marker).is_file():
            with contextlib.suppress(FileNotFoundError):
                return _loader(marker)(path)
            raise EvidenceNotFound(f"{path}: evidence folder is incomplete")
    raise EvidenceNotFound(f"{path}: not an evidence folder (no {' or '.join(EVIDENCE_KINDS)})")
