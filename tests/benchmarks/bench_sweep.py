"""Sweep benchmark: sparkbt vs vectorbt 1.2 on the issue-3 grid, scaling, and a 1M x 10k run.

    python tests/benchmarks/bench_sweep.py                 # grid vs vectorbt + scaling
    python tests/benchmarks/bench_sweep.py --skip-vectorbt # sparkbt only
    python tests/benchmarks/bench_sweep.py --big           # 1,000,000 candles x 10,000 combos

Grid: sma_cross fast 5..50 (step 1) x slow 20..200 (step 5) with fast < slow, on
100,000 hourly synthetic candles, fees 0.001. vectorbt computes total return,
max drawdown, trade count and win rate with ``from_signals`` (``size=np.inf``)
on the same signals. Each engine runs in its own subprocess; peak memory is
the peak summed RSS of that process tree (workers included), sampled every 20 ms.
Not collected by pytest (the file name does not start with ``test_``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FAST, SLOW = "5:50", "20:200:5"


def _tree_rss(pid: int) -> int:
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return total


def run_child(*args: str) -> dict:
    """Run this script as ``--child ...``; returns its JSON plus the peak tree RSS."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=ROOT)
    peak = 0
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            time.sleep(0.02)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    out, _ = proc.communicate()
    done.set()
    t.join()
    if proc.returncode:
        raise SystemExit(f"child {args} failed with exit code {proc.returncode}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    result["peak_rss_gb"] = peak / 2**30
    return result


def child_sparkbt(n: int, fast: str, slow: str, progress: bool, max_memory: str | None) -> dict:
    sys.path.insert(0, str(ROOT))
    import sparkbt as sb
    from sparkbt.sweep import sweep

    candles = sb.synthetic_candles(n, timeframe="1h", seed=1)
    from sparkbt.sweep.cli import _progress_bar

    started = time.perf_counter()
    with _progress_bar(progress, f"sweep {n:,} candles") as update:  # None when off
        out = sweep(
            candles,
            "sma_cross",
            fast=fast,
            slow=slow,
            where="fast < slow",
            fees=0.001,
            progress=update,
            max_memory=max_memory,
        )
    seconds = time.perf_counter() - started
    keys = ["total_return", "max_drawdown", "total_trades", "win_rate"]
    return {
        "seconds": seconds,
        "combos": len(out),
        "candles": n,
        "workers": out.attrs["timing"]["workers"],
        "stats": {k: out[k].astype(float).tolist() for k in keys},
    }


def child_vectorbt(n: int) -> dict:
    import warnings

    import numpy as np
    import pandas as pd

    sys.path.insert(0, str(ROOT))
    import sparkbt as sb
    from sparkbt.indicators import sma

    warnings.simplefilter("ignore")
    import vectorbt as vbt

    candles = sb.synthetic_candles(n, timeframe="1h", seed=1)
    close = candles["close"]
    c = close.to_numpy()
    pairs = [(f, s) for f in range(5, 51) for s in range(20, 201, 5) if f < s]
    fast_ma = {w: sma(c, w) for w in range(5, 51)}
    slow_ma = {w: sma(c, w) for w in range(20, 201, 5)}
    started = time.perf_counter()
    targets = pd.DataFrame(
        {p: np.nan_to_num(np.sign(fast_ma[p[0]] - slow_ma[p[1]])) for p in pairs},
        index=candles.index,
    )
    pf = vbt.Portfolio.from_signals(
        close, targets > 0, targets <= 0, size=np.inf, fees=0.001, init_cash=10_000.0, freq="1h"
    )
    stats = {
        "total_return": pf.total_return().to_numpy(),
        "max_drawdown": -pf.max_drawdown().to_numpy(),
        "total_trades": pf.trades.count().to_numpy().astype(float),
        "win_rate": pf.trades.closed.win_rate().to_numpy(),
    }
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "combos": len(pairs),
        "candles": n,
        "stats": {k: v.tolist() for k, v in stats.items()},
    }


def _max_rel_diff(a: dict, b: dict) -> float:
    import numpy as np

    worst = 0.0
    for k in a:
        x, y = np.asarray(a[k], float), np.asarray(b[k], float)
        both = np.isfinite(x) & np.isfinite(y)
        assert np.array_equal(np.isfinite(x), np.isfinite(y)), k
        rel = np.abs(x[both] - y[both]) / np.maximum(np.abs(y[both]), 1e-12)
        worst = max(worst, float(rel.max(initial=0.0)))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--skip-vectorbt", action="store_true", help="only time sparkbt")
    ap.add_argument("--skip-scaling", action="store_true", help="skip the 10k..1M scaling runs")
    ap.add_argument("--big", action="store_true", help="only the 1M candles x 10k combos run")
    ap.add_argument("--max-memory", default="2GB", help="sparkbt budget (default 2GB)")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, n = args.child[0], int(args.child[1])
        if kind == "vectorbt":
            res = child_vectorbt(n)
        else:
            fast, slow, prog, mem = args.child[2:6]
            res = child_sparkbt(n, fast, slow, prog == "1", None if mem == "-" else mem)
        print(json.dumps(res))
        return
    if args.big:
        print(
            "1,000,000 hourly candles x 10,000 combinations (fast 5..104 x slow 110..1100:10), "
            f"max_memory {args.max_memory}"
        )
        r = run_child("sparkbt", "1000000", "5:104", "110:1100:10", "1", args.max_memory)
        cc = r["candles"] * r["combos"]
        print(
            f"sparkbt: {r['combos']:,} combos in {r['seconds']:.1f}s, peak RSS "
            f"{r['peak_rss_gb']:.2f} GB, {cc / r['seconds']:,.0f} candle·combos/s"
        )
        return
    n = 100_000
    print(
        f"grid: sma_cross fast {FAST} x slow {SLOW} where fast < slow, {n:,} hourly candles, "
        f"fees 0.001, max_memory {args.max_memory}"
    )
    sp = run_child("sparkbt", str(n), FAST, SLOW, "0", args.max_memory)
    cc = sp["candles"] * sp["combos"]
    print(
        f"sparkbt : {sp['combos']:,} combos in {sp['seconds']:7.2f}s  peak RSS "
        f"{sp['peak_rss_gb']:.2f} GB  ({cc / sp['seconds']:,.0f} candle·combos/s, "
        f"{sp['workers']} workers)"
    )
    if not args.skip_vectorbt:
        vb = run_child("vectorbt", str(n))
        print(
            f"vectorbt: {vb['combos']:,} combos in {vb['seconds']:7.2f}s  peak RSS "
            f"{vb['peak_rss_gb']:.2f} GB"
        )
        print(
            f"speed-up {vb['seconds'] / sp['seconds']:.1f}x, memory "
            f"{vb['peak_rss_gb'] / sp['peak_rss_gb']:.1f}x less; max relative difference of "
            f"the 4 stats: {_max_rel_diff(sp['stats'], vb['stats']):.2e}"
        )
    if not args.skip_scaling:
        print("scaling (same grid):")
        for size in (10_000, 100_000, 1_000_000):
            r = (
                sp
                if size == n
                else run_child("sparkbt", str(size), FAST, SLOW, "0", args.max_memory)
            )
            cc = r["candles"] * r["combos"]
            print(
                f"  {size:>9,} candles: {r['seconds']:7.2f}s  peak RSS {r['peak_rss_gb']:.2f} GB"
                f"  {cc / r['seconds']:,.0f} candle·combos/s"
            )


if __name__ == "__main__":
    main()
