"""``verify``: prove a stored run, sweep or walk-forward by running it again.

The evidence names everything its numbers came from: the candles (by
fingerprint, with symbol and timeframe), the strategy (by name and the sha256
of its source file), the parameters, the config, the first traded bar and the
engine version. :func:`verify` finds those inputs again (the candle store or
the packaged samples, the strategy by name), refuses to re-run when one of
them changed, re-runs, writes the re-run's evidence to a temporary folder and
compares it with the stored folder file by file (:mod:`.verify_compare`).

The outcome is ``verified`` (every JSON key and Parquet value equal, apart
from timing), ``differs`` (with the places that differ) or ``cannot_rerun``
(with the reason: candles missing or changed, strategy source changed, an
engine version this sparkbt does not reproduce).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sparkbt.data.candles import load_candles
from sparkbt.data.store import CandleStore, normalise_symbol, sample_candles, sample_path
from sparkbt.engine.options import contract_version
from sparkbt.engine.registry import Strategy, get_strategy
from sparkbt.errors import InputError, SparkbtError
from sparkbt.evidence import RunEvidence, data_fingerprint, read_evidence
from sparkbt.research.sweep import identity_version
from sparkbt.research.verify_compare import Difference, FileCheck, compare_folders
from sparkbt.version import ENGINE_VERSION, TARGETS_VERSION

__all__ = ["EXIT_CODES", "STATUSES", "VerifyResult", "verify"]

STATUSES = ("verified", "differs", "cannot_rerun")
EXIT_CODES = {"verified": 0, "differs": 1, "cannot_rerun": 2}
_SWEEP_PRESENTATION = frozenset({"files", "heatmap", "heatmap_skipped"})
"""sweep.json keys about the heatmap picture (not re-drawn; it is a view of results.parquet)."""


class _CannotRerun(Exception):
    """An input of the stored evidence is not available as it was (the message says which)."""


@dataclass
class VerifyResult:
    """The outcome of re-running stored evidence: status, reason, and one check per file."""

    id: str
    kind: str  # backtest, sweep or walkforward
    path: Path
    status: str  # one of STATUSES
    reason: str | None = None  # why it could not be re-run
    checks: list[FileCheck] = field(default_factory=list)
    rerun_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "verified"

    @property
    def exit_code(self) -> int:
        """0 verified, 1 differs, 2 cannot re-run."""
        return EXIT_CODES[self.status]

    @property
    def differences(self) -> list[Difference]:
        return [d for c in self.checks for d in c.differences]

    @property
    def first_difference(self) -> Difference | None:
        found = self.differences
        return found[0] if found else None

    @property
    def message(self) -> str:
        """One line saying what was found."""
        what = f"{self.kind.replace('walkforward', 'walk-forward')} {self.id}"
        if self.status == "cannot_rerun":
            return f"{what}: cannot re-run: {self.reason}"
        if self.status == "differs":
            n = len(self.differences)
            return f"{what} differs ({n} difference{'s' * (n != 1)}): {self.first_difference}"
        return f"{what} verified: {len(self.checks)} files equal to a fresh re-run"

    def to_dict(self) -> dict[str, Any]:
        first = self.first_difference
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "exit_code": self.exit_code,
            "message": self.message,
            "reason": self.reason,
            "rerun_id": self.rerun_id,
            "first_difference": first.to_dict() if first else None,
            "files": [c.to_dict() for c in self.checks],
        }


def verify(
    ref: str | Path,
    evidence_dir: str | Path | None = None,
    data_dir: str | Path | None = None,
    *,
    strategy: str | None = None,
) -> VerifyResult:
    """Re-run the stored evidence ``ref`` (id, unique id prefix or folder) and compare.

    ``data_dir`` is the candle store to look in (default ``$SPARKBT_DATA_DIR`` or
    ``./data``; the packaged samples are looked at too). ``strategy`` names the
    strategy where its recorded name is not discoverable (``path/file.py:func``);
    its source must still hash as recorded. Raises EvidenceNotFound for an
    unknown ``ref``; every other outcome is the result's ``status``.
    """
    ev = read_evidence(ref, evidence_dir)
    rerun: Callable[..., Path] = {
        "backtest": _rerun_backtest,
        "sweep": _rerun_sweep,
        "walkforward": _rerun_walk_forward,
    }[ev.kind]
    out = VerifyResult(id=ev.id, kind=ev.kind, path=Path(ev.path), status="verified")
    with tempfile.TemporaryDirectory(prefix="sparkbt-verify-") as tmp:
        try:
            folder = rerun(ev, Path(tmp), data_dir, strategy)
        except _CannotRerun as exc:
            out.status, out.reason = "cannot_rerun", str(exc)
            return out
        ignore = _SWEEP_PRESENTATION if ev.kind == "sweep" else frozenset()
        out.rerun_id = folder.name
        out.checks = compare_folders(Path(ev.path), folder, ignore)
    if out.differences:
        out.status = "differs"
    return out


# --------------------------------------------------------------------------- inputs
def _check_engine(version: Any, expected: str, what: str) -> None:
    if str(version) != expected:
        raise _CannotRerun(
            f"other engine version: {what} names engine v{version}; this sparkbt reproduces "
            f"v{TARGETS_VERSION} single-symbol target runs and v{ENGINE_VERSION} portfolio "
            "and order runs"
        )


def _strategy(name: str, recorded_sha: str | None, override: str | None) -> Strategy:
    try:
        strat = get_strategy(override or name)
    except InputError as exc:
        raise _CannotRerun(f"strategy {name} not found ({exc})") from None
    if recorded_sha and strat.source_sha256 != recorded_sha:
        raise _CannotRerun(
            f"strategy source changed: {strat.name} in {strat.origin or '(unknown file)'} hashes "
            f"{strat.source_sha256[:12]}…, the evidence recorded {recorded_sha[:12]}…"
        )
    return strat


def _sources(
    symbol: str, timeframe: str, data_dir: str | Path | None, path: str | None
) -> list[tuple[str, Callable[[], pd.DataFrame]]]:
    """Where the candles of ``symbol`` may be: the recorded file, the store, the samples."""
    out: list[tuple[str, Callable[[], pd.DataFrame]]] = []
    if path and Path(path).is_file():
        out.append((f"file {path}", lambda: load_candles(path, timeframe=timeframe, symbol=symbol)))
    try:
        sym = normalise_symbol(symbol)
    except InputError:
        return out
    store = CandleStore(data_dir)
    if store.exists(sym, timeframe):
        out.append((f"store {store.path(sym, timeframe)}", lambda: store.read(sym, timeframe)))
    if sample_path(sym, timeframe) is not None:
        out.append(("packaged sample", lambda: sample_candles(sym, timeframe)))
    return out


def _candles(
    symbol: str | None,
    timeframe: str | None,
    expected: str,
    data_dir: str | Path | None,
    *,
    span: tuple[str, str] | None = None,
    attrs: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """The candles whose fingerprint is ``expected`` (cut to ``span`` when given)."""
    attrs = attrs or {}
    if not symbol or not timeframe:
        raise _CannotRerun(
            "candles missing: the evidence names no symbol and timeframe to find its candles by "
            f"(fingerprint {expected[:12]}…)"
        )
    found: list[str] = []
    for where, load in _sources(symbol, timeframe, data_dir, attrs.get("path")):
        try:
            frame = load()
        except InputError as exc:
            found.append(f"{where}: unreadable ({exc})")
            continue
        cut = frame.loc[pd.Timestamp(span[0]) : pd.Timestamp(span[1])] if span else frame
        fingerprint = data_fingerprint(cut)
        if fingerprint == expected:
            cut = cut.copy()
            cut.attrs = {**frame.attrs, **{k: v for k, v in attrs.items() if v is not None}}
            return cut
        found.append(f"{where} has fingerprint {fingerprint[:12]}…")
    if not found:
        raise _CannotRerun(
            f"candles missing: no {symbol} {timeframe} candles in the store "
            f"({CandleStore(data_dir).root}) or the packaged samples "
            f"(expected fingerprint {expected[:12]}…)"
        )
    raise _CannotRerun(
        f"candles changed: {symbol} {timeframe}: expected fingerprint {expected[:12]}…, "
        f"found: {'; '.join(found)}"
    )


# --------------------------------------------------------------------------- re-runs
_RUN_ENGINES = {"targets": TARGETS_VERSION, "orders": ENGINE_VERSION, "portfolio": ENGINE_VERSION}
"""The contract of each kind of run (a target run with a v3 option: v3, see contract_version)."""


def _rerun_backtest(
    ev: RunEvidence, tmp: Path, data_dir: str | Path | None, override: str | None
) -> Path:
    from sparkbt.engine.simulate import backtest

    report, meta = ev.report, ev.report.get("metadata") or {}
    kind = report.get("kind") or "targets"
    expected = _RUN_ENGINES.get(kind)
    if expected is None:
        raise _CannotRerun(f"run {ev.id} is of kind {kind!r}, which this sparkbt does not know")
    if kind == "targets":
        expected = contract_version(report.get("config") or {})
    _check_engine(report.get("engine_version"), expected, f"run {ev.id}")
    strat = _strategy(report["strategy"], meta.get("strategy_sha256"), override)
    span = (meta.get("warmup_start") or meta["start"], meta["end"])
    candles: Any
    if kind == "portfolio":
        sources = meta.get("sources") or {}
        candles = {
            s: _candles(
                s,
                meta.get("timeframe"),
                fp,
                data_dir,
                span=span,
                attrs={"source": sources.get(s), "path": (meta.get("paths") or {}).get(s)},
            )
            for s, fp in (meta.get("data_sha256_by_symbol") or {}).items()
        }
    else:
        candles = _candles(
            meta.get("symbol"),
            meta.get("timeframe"),
            meta["data_sha256"],
            data_dir,
            span=span,
            attrs={"source": meta.get("source"), "path": meta.get("path")},
        )
    trade_from = meta["start"] if meta.get("warmup_bars") else None
    keywords = {**report.get("params", {}), **_config_given(report.get("config", {}), meta)}
    try:
        res = backtest(candles, strat, trade_from=trade_from, data_dir=data_dir, **keywords)
    except SparkbtError as exc:
        raise _CannotRerun(f"the re-run failed: {exc}") from None
    return Path(res.save(tmp))


def _config_given(config: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """A run's config as it was given: without the rule options its exchange rules' snapshots
    filled in (the re-run takes them from the snapshots again, and records that it did)."""
    taken = set((meta.get("exchange_rules") or {}).get("taken") or ())
    return {k: v for k, v in config.items() if k not in taken}


def _sweep_inputs(
    ident: dict[str, Any], what: str, data_dir: str | Path | None, override: str | None
) -> tuple[Any, Strategy, dict[str, Any]]:
    """Candles, strategy and keywords (grid, config, options, where, samples) of an identity."""
    portfolio = ident.get("run_kind") == "portfolio"
    _check_engine(
        ident.get("engine_version"), ENGINE_VERSION if portfolio else identity_version(ident), what
    )
    strat = _strategy(ident["strategy"], ident.get("strategy_sha256"), override)
    tf = ident.get("timeframe")
    candles: Any
    if portfolio:
        candles = {s: _candles(s, tf, fp, data_dir) for s, fp in ident["data_sha256"].items()}
    else:
        candles = _candles(ident.get("symbol"), tf, ident["data_sha256"], data_dir)
    keywords: dict[str, Any] = {
        **ident.get("grid", {}),
        **ident.get("config", {}),
        **ident.get("options", {}),
        "where": ident.get("where"),
        "workers": 1,
        "data_dir": data_dir,
    }
    if ident.get("samples") is not None:
        keywords |= {"samples": ident["samples"], "seed": ident.get("seed")}
    return candles, strat, keywords


def _rerun_sweep(ev: Any, tmp: Path, data_dir: str | Path | None, override: str | None) -> Path:
    from sparkbt.research.sweep import sweep
    from sparkbt.research.sweep_evidence import save_sweep

    candles, strat, keywords = _sweep_inputs(
        ev.meta["identity"], f"sweep {ev.id}", data_dir, override
    )
    try:
        results = sweep(candles, strat, **keywords)
    except SparkbtError as exc:
        raise _CannotRerun(f"the re-run failed: {exc}") from None
    top = len(ev.meta.get("top") or [])
    return save_sweep(results, tmp, metric=ev.meta.get("metric", "sharpe"), top=top, plot=False)


def _rerun_walk_forward(
    ev: Any, tmp: Path, data_dir: str | Path | None, override: str | None
) -> Path:
    from sparkbt.research.sweep_evidence import save_walk_forward
    from sparkbt.research.walkforward import walk_forward

    ident = ev.meta["identity"]
    what = f"walk-forward {ev.id}"
    candles, strat, keywords = _sweep_inputs(ident, what, data_dir, override)
    try:
        wf = walk_forward(
            candles,
            strat,
            train=ident["train"],
            test=ident["test"],
            step=ident["step"],
            metric=ident["metric"],
            **keywords,
        )
    except SparkbtError as exc:
        raise _CannotRerun(f"the re-run failed: {exc}") from None
    return save_walk_forward(wf, tmp)
