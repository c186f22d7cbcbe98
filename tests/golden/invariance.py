"""Run ids, evidence bytes and CLI output of a fixed set of commands on the packaged sample.

``invariance.json`` pins, for each command, its exit code, its standard output
(with the evidence folder written as ``<EVIDENCE>``) and the sha256 of every
file it writes under the evidence folder. Any change to those is a change of
what users see, so it must be deliberate. Rewrite the file from the repository
root with::

    python tests/golden/invariance.py          # rewrite
    python tests/golden/invariance.py --check  # exit 1 if anything differs
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "invariance.json"

COMMANDS: dict[str, list[str]] = {
    "run_default": ["run", "--fast", "10", "--slow", "30", "--json"],
    "run_fees_both": [
        "run",
        "--strategy",
        "sma_cross",
        "--fast",
        "8",
        "--slow",
        "40",
        "--fees",
        "0.001",
        "--slippage",
        "0.0005",
        "--direction",
        "both",
        "--json",
    ],
    "run_stops_next_open": [
        "run",
        "--fast",
        "10",
        "--slow",
        "30",
        "--sl-stop",
        "0.03",
        "--sl-trail",
        "--tp-stop",
        "0.06",
        "--fill",
        "next_open",
        "--json",
    ],
    "run_gates_year": [
        "run",
        "--strategy",
        "rsi_reversion",
        "--window",
        "14",
        "--direction",
        "both",
        "--gate",
        "max_drawdown=0.2",
        "--gate",
        "cooldown=10",
        "--year-days",
        "252",
        "--json",
    ],
    "run_trade_from": [
        "run",
        "--fast",
        "10",
        "--slow",
        "30",
        "--trade-from",
        "2023-01-01",
        "--json",
    ],
    "run_table": ["run", "--fast", "12", "--slow", "26", "--fees", "0.001"],
    "sweep": [
        "sweep",
        "--fast",
        "5:20:5",
        "--slow",
        "30,40",
        "--fees",
        "0.001",
        "--workers",
        "1",
        "--quiet",
        "--json",
    ],
    "sweep_stop_grid": [
        "sweep",
        "--fast",
        "10",
        "--slow",
        "30",
        "--sl-stop",
        "0.02,0.04",
        "--workers",
        "1",
        "--quiet",
        "--json",
    ],
    "walk_forward": [
        "walk-forward",
        "--train",
        "180d",
        "--test",
        "60d",
        "--fast",
        "5:20:5",
        "--slow",
        "30,40",
        "--workers",
        "1",
        "--quiet",
        "--json",
    ],
    "bad_option": ["run", "--fast", "10", "--slow", "30", "--direction", "sideways"],
}


VOLATILE = ("created_at", "duration_ms", "timing")
"""Keys that record when a run happened and how fast it went, not what it computed."""


def _without_volatile(value):
    if isinstance(value, dict):
        return {k: _without_volatile(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_without_volatile(v) for v in value]
    return value


def _stable_output(text: str) -> str:
    """Standard output as printed; a JSON document without its volatile keys."""
    try:
        return json.dumps(_without_volatile(json.loads(text)), indent=1)
    except ValueError:
        return text


def digest(path: Path) -> str:
    """sha256 of a file's bytes; of a JSON file's or Parquet table's content without
    volatile keys (a sweep's Parquet metadata carries its timing)."""
    data = path.read_bytes()
    if path.suffix == ".json":
        data = json.dumps(_without_volatile(json.loads(data))).encode()
    elif path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        meta = {
            k.decode(): _without_volatile(json.loads(v))
            for k, v in (table.schema.metadata or {}).items()
        }
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema.remove_metadata()) as writer:
            writer.write_table(table.replace_schema_metadata(None))
        data = sink.getvalue().to_pybytes() + json.dumps(meta, sort_keys=True).encode()
    return hashlib.sha256(data).hexdigest()


def run_all() -> dict[str, dict]:
    out: dict[str, dict] = {}
    for name, args in COMMANDS.items():
        with tempfile.TemporaryDirectory() as tmp:
            ev = Path(tmp) / "evidence"
            env = {
                **os.environ,
                "SPARKBT_EVIDENCE_DIR": str(ev),
                "COLUMNS": "120",
                "NO_COLOR": "1",
                "TERM": "dumb",
            }
            proc = subprocess.run(
                [sys.executable, "-m", "sparkbt", *args],
                capture_output=True,
                text=True,
                env=env,
                cwd=tmp,
                timeout=300,
            )
            files = {}
            if ev.exists():
                for f in sorted(ev.rglob("*")):
                    if f.is_file():
                        files[f.relative_to(ev).as_posix()] = digest(f)
            out[name] = {
                "args": args,
                "exit_code": proc.returncode,
                "stdout": _stable_output(proc.stdout.replace(str(ev), "<EVIDENCE>")),
                "stderr": proc.stderr.replace(str(ev), "<EVIDENCE>") if proc.returncode else "",
                "files": files,
            }
    return out


def main() -> int:
    fresh = run_all()
    if "--check" in sys.argv:
        stored = json.loads(OUT.read_text())
        bad = [k for k in stored if stored[k] != fresh.get(k)]
        print("differs: " + ", ".join(bad) if bad else "same")
        return 1 if bad else 0
    OUT.write_text(json.dumps(fresh, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
