"""Portfolio sweep benchmark: momentum_rotation over 60 combinations, 20 symbols x 50,000 bars.

    python tests/benchmarks/bench_sweep_portfolio.py [--bars 50000] [--symbols 20]
        [--workers N] [--max-memory 2GB]

Grid: ``lookback`` 10..120 (step 10) x ``k`` 1..5 (60 combinations), weekly
rebalance, fees 0.001, on hourly synthetic candles (one seeded random walk per
symbol; every third symbol is listed late). Each combination is one shared-cash
backtest (``portfolio_weights`` + ``simulate_weights``). The sweep runs in its
own subprocess, warmed up first (the portfolio kernel loaded before the workers
fork), so the time holds no compilation; peak memory is the peak summed RSS of
that process tree (workers included), sampled every 20 ms, and must stay under
2 GB. Not collected by pytest (the file name does not start with ``test_``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchlib import tree_rss

ROOT = Path(__file__).resolve().parents[2]
LOOKBACK, K = "10:120:10", "1:5"
LIMIT_GB = 2.0


def candles(bars: int, symbols: int) -> dict:
    """``{symbol: frame}``: seeded hourly random walks, every third symbol listed late."""
    sys.path.insert(0, str(ROOT))
    import sparkbt as sb

    out = {}
    for j in range(symbols):
        frame = sb.synthetic_candles(bars, timeframe="1h", seed=100 + j)
        out[f"S{j:02d}USDT"] = frame.iloc[bars // 10 :] if j % 3 == 2 else frame
    return out


def child(spec: dict) -> dict:
    sys.path.insert(0, str(ROOT))
    import sparkbt as sb

    frames = candles(spec["bars"], spec["symbols"])
    panel = sb.load_panel(frames, timeframe="1h")
    small = {s: f.iloc[:500] for s, f in list(frames.items())[:3]}
    sb.backtest(small, "momentum_rotation", lookback=10, fees=0.001)  # kernel loaded
    started = time.perf_counter()
    out = sb.sweep(
        panel,
        "momentum_rotation",
        lookback=LOOKBACK,
        k=K,
        fees=0.001,
        workers=spec["workers"],
        max_memory=spec["max_memory"],
    )
    seconds = time.perf_counter() - started
    best = out.sort_values("sharpe", ascending=False).iloc[0]
    return {
        "seconds": seconds,
        "combos": len(out),
        "bars": len(panel),
        "symbols": len(panel.symbols),
        "workers": out.attrs["timing"]["workers"],
        "chunks": out.attrs["timing"]["chunks"],
        "best": {"lookback": int(best["lookback"]), "k": int(best["k"])},
        "best_sharpe": float(best["sharpe"]),
    }


def run_child(spec: dict) -> dict:
    """Run this script as ``--child SPEC``; its JSON plus the peak RSS of its process tree."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=ROOT)
    peak = 0
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss(proc.pid))
            time.sleep(0.02)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    out, _ = proc.communicate()
    done.set()
    t.join()
    if proc.returncode:
        raise SystemExit(f"child {spec} failed with exit code {proc.returncode}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    result["peak_rss_gb"] = peak / 2**30
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=50_000)
    ap.add_argument("--symbols", type=int, default=20)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--max-memory", default=None)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    spec = {
        "bars": args.bars,
        "symbols": args.symbols,
        "workers": args.workers,
        "max_memory": args.max_memory,
    }
    print(
        f"momentum_rotation lookback {LOOKBACK} x k {K}, {args.symbols} symbols x "
        f"{args.bars:,} hourly bars, fees 0.001"
    )
    r = run_child(spec)
    print(
        f"sparkbt : {r['combos']} combos in {r['seconds']:.2f}s wall "
        f"({r['combos'] / r['seconds']:.2f} combos/s, "
        f"{r['bars'] * r['symbols'] * r['combos'] / r['seconds']:,.0f} bar·symbol·combos/s), "
        f"peak RSS {r['peak_rss_gb']:.2f} GB, {r['workers']} workers, {r['chunks']} chunks"
    )
    print(f"best by sharpe: {r['best']} (sharpe {r['best_sharpe']:.3f})")
    if r["peak_rss_gb"] >= LIMIT_GB:
        raise SystemExit(f"peak RSS {r['peak_rss_gb']:.2f} GB is not under {LIMIT_GB} GB")


if __name__ == "__main__":
    main()
