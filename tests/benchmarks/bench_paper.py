"""Benchmark: CPU time per closed candle of a 1-minute paper session, and its memory.

A session of sma_cross 10/30 on one symbol starts after 10,000 stored candles
(its warm-up) and is fed ``--bars`` more, one closed candle at a time, as a
feed hook does (:meth:`PaperSession.add_candles`, then ``advance``): each
advance re-runs the backtest kernel on the whole history, checks the journaled
bars are unchanged and commits the new bar (SQLite WAL, synchronous=FULL).
Reported: process CPU time per candle (median and p95 of the advances), the
wall time of the same, and the session's memory (tracemalloc peak of the
Python heap over the last 50 advances, which are not timed, and the in-memory
candles and journal arrays).

    python tests/benchmarks/bench_paper.py [--bars 300] [--history 10000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import tracemalloc

import numpy as np

TARGET_MS = 20.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bars", type=int, default=300)
    ap.add_argument("--history", type=int, default=10_000)
    args = ap.parse_args()

    import sparkbt as sb
    from sparkbt.data.store import CandleStore
    from sparkbt.research.paper import start_session

    frame = sb.synthetic_candles(n=args.history + args.bars, timeframe="1m", seed=11)
    with tempfile.TemporaryDirectory() as tmp:
        store = CandleStore(f"{tmp}/data")
        store.merge("BTCTRY", "1m", frame.iloc[: args.history])
        session = start_session(
            "sma_cross",
            symbols="BTCTRY",
            timeframe="1m",
            params={"fast": 10, "slow": 30},
            start=frame.index[args.history],
            warmup_bars=args.history,
            data_dir=store.root,
            evidence_dir=f"{tmp}/ev",
        )
        session.add_candles("BTCTRY", frame.iloc[args.history : args.history + 1])
        session.advance()  # first call: compiled kernels loaded
        cpu, wall = [], []
        traced = args.history + args.bars - 50  # the last 50 candles: heap traced, not timed
        for k in range(args.history + 1, args.history + args.bars):
            if k == traced:
                tracemalloc.start()
            c0, w0 = time.process_time(), time.perf_counter()
            session.add_candles("BTCTRY", frame.iloc[k : k + 1])
            done = session.advance()
            if k < traced:
                cpu.append((time.process_time() - c0) * 1e3)
                wall.append((time.perf_counter() - w0) * 1e3)
            assert len(done.written) == 1
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        held = sum(f.memory_usage(deep=True).sum() for f in session.frames.values())
        held += session._equity.nbytes + session._ts.nbytes
        fills = sum(len(r.fills) for r in session._rows)
        session.close()
    out = {
        "history_bars": args.history,
        "bars_timed": len(cpu),
        "fills": fills,
        "cpu_ms_per_candle_median": round(float(np.median(cpu)), 3),
        "cpu_ms_per_candle_p95": round(float(np.percentile(cpu, 95)), 3),
        "wall_ms_per_candle_median": round(float(np.median(wall)), 3),
        "target_ms": TARGET_MS,
        "python_heap_peak_mb": round(peak / 2**20, 2),
        "session_arrays_mb": round(held / 2**20, 2),
    }
    print(json.dumps(out, indent=2))
    return 0 if out["cpu_ms_per_candle_median"] < TARGET_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
