"""What a paper session is: its inputs (``session.json``), its id, its folder, its errors.

A session's folder is ``<evidence>/paper/<id>/`` holding ``session.json`` (the
inputs, written once, atomically, before anything trades), ``journal.sqlite``
(:mod:`.journal`) and ``run.lock`` (held by the one process running it). The
id is given, or the :func:`sparkbt.evidence.content_id` of the inputs and the
start time: the same inputs started at the same instant name the same session.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sparkbt.errors import InputError
from sparkbt.evidence import content_id, default_evidence_dir, dump_json
from sparkbt.research.paper.journal import Journal

__all__ = [
    "SessionBusy",
    "SessionExists",
    "SessionNotFound",
    "SessionSpec",
    "check_session_id",
    "create_folder",
    "paper_root",
    "read_spec",
]

SPEC_FILE = "session.json"
JOURNAL_FILE = "journal.sqlite"
LOCK_FILE = "run.lock"


class SessionExists(InputError):
    """A session with this id exists already."""


class SessionNotFound(InputError):
    """No session with this id."""


class SessionBusy(InputError):
    """Another process is running the session."""


def paper_root(evidence_dir: str | Path | None = None) -> Path:
    """``<evidence>/paper``: where sessions live."""
    return Path(evidence_dir if evidence_dir is not None else default_evidence_dir()) / "paper"


def check_session_id(session_id: Any) -> str:
    """A session id: 1-64 of letters, digits, ``_``, ``.``, ``-``, not starting with a dot."""
    text = session_id if isinstance(session_id, str) else ""
    ok = 0 < len(text) <= 64 and not text.startswith(".")
    if not ok or not all(c.isalnum() or c in "_.-" for c in text):
        raise InputError(
            f"session id: expected 1-64 letters, digits, '_', '.', '-' (got {session_id!r})"
        )
    return text


@dataclass(frozen=True)
class SessionSpec:
    """The inputs of a session, as ``session.json`` keeps them.

    ``start_bar`` is the open time of the first candle closing after ``start``
    (the first traded bar); ``history_from`` the first candle the strategy sees
    (warm-up before ``start_bar``). ``approval`` is the param set version's
    approval evidence the drift watch compares with (None without one).
    """

    id: str
    strategy: str
    strategy_sha256: str
    params: dict[str, Any]
    options: dict[str, Any]
    symbols: list[str]
    timeframe: str
    start: str
    start_bar: str
    history_from: str
    warmup_bars: int
    data_dir: str
    paramset: dict[str, Any] | None = None
    approval: dict[str, Any] | None = None
    engine_version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def start_bar_ns(self) -> int:
        return int(pd.Timestamp(self.start_bar).value)

    @property
    def history_from_ns(self) -> int:
        return int(pd.Timestamp(self.history_from).value)

    @property
    def strategy_ref(self) -> str:
        """How the strategy is found again: its name, or the ``file.py:function`` given."""
        return str(self.extra.get("ref") or self.strategy)

    @property
    def portfolio(self) -> bool:
        return len(self.symbols) > 1 or bool(self.extra.get("portfolio"))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def derive_id(inputs: dict[str, Any]) -> str:
        """The id of a session from its inputs and start time (``paper-`` + content id)."""
        return "paper-" + content_id(inputs)


def read_spec(folder: Path) -> SessionSpec:
    """The inputs of the session in ``folder``; SessionNotFound if it holds none."""
    try:
        data = json.loads((folder / SPEC_FILE).read_text())
    except FileNotFoundError:
        raise SessionNotFound(
            f"paper session {folder.name!r}: not found under {folder.parent}"
        ) from None
    return SessionSpec(**data)


def create_folder(root: Path, spec: SessionSpec) -> Path:
    """Write the session's folder (spec and an empty journal) under ``root``, atomically.

    The folder appears complete or not at all; SessionExists when the id is taken.
    """
    final = root / spec.id
    if final.exists():
        raise SessionExists(
            f"paper session {spec.id!r} exists already; resume it with `sparkbt paper resume "
            f"{spec.id}` or pick another id"
        )
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{spec.id}.", dir=root))
    try:
        (tmp / SPEC_FILE).write_text(dump_json(spec.to_dict()))
        with open(tmp / SPEC_FILE, "rb") as fh:
            os.fsync(fh.fileno())
        with Journal(tmp / JOURNAL_FILE) as journal:
            journal.event("started", {"start": spec.start, "start_bar": spec.start_bar})
        try:
            os.rename(tmp, final)  # fails when another process created the id meanwhile
        except OSError:
            raise SessionExists(f"paper session {spec.id!r} exists already") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
