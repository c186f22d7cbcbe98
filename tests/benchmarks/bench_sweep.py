"""Sweep benchmark: sparkbt vs vectorbt 1.2 on the sma grid, with stops, scaling, and 1M x 10k.

    python tests/benchmarks/bench_sweep.py                 # grid vs vectorbt + scaling
    python tests/benchmarks/bench_sweep.py --stops         # grid x 3 stop levels vs vectorbt
    python tests/benchmarks/bench_sweep.py --skip-vectorbt # sparkbt only
    python tests/benchmarks/bench_sweep.py --big           # 1,000,000 candles x 10,000 combos

Grid: sma_cross fast 5..50 (step 1) x slow 20..200 (step 5) with fast < slow
(1,590 combinations) on 100,000 hourly synthetic candles, fees 0.001. vectorbt
computes total return, max drawdown, trade count and win rate with one
``from_signals`` call over all columns (``size=np.inf``) on the same signals.

``--stops``: the same grid x ``sl_stop`` 0.01, 0.02, 0.05 (4,770 combinations)
on 20,000 hourly candles. sparkbt sweeps the stop as an engine option (its
compiled per-bar kernel); vectorbt gets open/high/low, the signal edges as
entries and exits (how sparkbt's stops re-enter: on a new signal) and
``sl_stop`` as one value per column.

Each engine runs in its own subprocess and is warmed up there first (sparkbt's
kernel loaded from numba's cache, vectorbt's functions compiled on a small
input), so the times hold no compilation. Peak memory is the peak summed RSS
of that process tree (workers included), sampled every 20 ms. Not collected by
pytest (the file name does not start with ``test_``).
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
FAST, SLOW = "5:50", "20:200:5"
STOP_LEVELS = [0.01, 0.02, 0.05]
KEYS = ["total_return", "max_drawdown", "total_trades", "win_rate"]


def run_child(**spec) -> dict:
    """Run this script as ``--child SPEC``; returns its JSON plus the peak tree RSS."""
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


def _print_progress(done: int, total: int) -> None:
    print(f"\r  {done:,}/{total:,} combinations", end="" if done < total else "\n", file=sys.stderr)


def child_sparkbt(
    n: int, fast: str, slow: str, progress: bool, max_memory: str | None, stops: list | None
) -> dict:
    sys.path.insert(0, str(ROOT))
    import sparkbt as sb

    candles = sb.synthetic_candles(n, timeframe="1h", seed=1)
    options = {"sl_stop": stops} if stops else {}
    # warm-up: discovery, and the per-bar kernel loaded before the workers fork
    first = {k: v[0] for k, v in options.items()}
    sb.backtest(candles.iloc[:500], "sma_cross", fees=0.001, **first)
    started = time.perf_counter()
    out = sb.sweep(
        candles,
        "sma_cross",
        fast=fast,
        slow=slow,
        where="fast < slow",
        fees=0.001,
        progress=_print_progress if progress else None,
        max_memory=max_memory,
        **options,
    )
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "combos": len(out),
        "candles": n,
        "workers": out.attrs["timing"]["workers"],
        "stats": {k: out[k].astype(float).tolist() for k in KEYS},
        "params": out[["fast", "slow", *options]].astype(float).values.tolist(),
    }


def child_vectorbt(n: int, stops: list | None) -> dict:
    import warnings

    import numpy as np
    import pandas as pd

    sys.path.insert(0, str(ROOT))
    import sparkbt as sb
    from sparkbt.indicators import sma

    warnings.simplefilter("ignore")
    import vectorbt as vbt

    # tz-naive: vectorbt is many times slower on a UTC index, and is measured at its best
    candles = sb.synthetic_candles(n, timeframe="1h", seed=1).tz_convert(None)
    close = candles["close"]
    c = close.to_numpy()
    pairs = [(f, s) for f in range(5, 51) for s in range(20, 201, 5) if f < s]
    levels = stops or [None]
    fast_ma = {w: sma(c, w) for w in range(5, 51)}
    slow_ma = {w: sma(c, w) for w in range(20, 201, 5)}

    def run(bars: int, pairs: list) -> dict:
        if not stops:
            targets = pd.DataFrame(
                {p: np.nan_to_num(np.sign(fast_ma[p[0]] - slow_ma[p[1]]))[:bars] for p in pairs},
                index=candles.index[:bars],
            )
            pf = vbt.Portfolio.from_signals(
                close.iloc[:bars],
                targets > 0,
                targets <= 0,
                size=np.inf,
                fees=0.001,
                init_cash=10_000.0,
                freq="1h",
            )
        else:
            # one column per (pair, stop level), the stop level varying fastest (sparkbt's order)
            on = np.empty((bars, len(pairs) * len(levels)), dtype=bool)
            for k, (f, s) in enumerate(pairs):
                on[:, k * len(levels) : (k + 1) * len(levels)] = (fast_ma[f] > slow_ma[s])[
                    :bars, None
                ]
            prev = np.zeros_like(on)
            prev[1:] = on[:-1]
            ohlc = candles.iloc[:bars]
            pf = vbt.Portfolio.from_signals(
                ohlc["close"],
                pd.DataFrame(on & ~prev, index=ohlc.index),
                pd.DataFrame(~on & prev, index=ohlc.index),
                open=ohlc["open"],
                high=ohlc["high"],
                low=ohlc["low"],
                sl_stop=np.tile(levels, len(pairs))[None, :],
                size=np.inf,
                fees=0.001,
                init_cash=10_000.0,
                freq="1h",
            )
        return {
            "total_return": pf.total_return().to_numpy(),
            "max_drawdown": -pf.max_drawdown().to_numpy(),
            "total_trades": pf.trades.count().to_numpy().astype(float),
            "win_rate": pf.trades.closed.win_rate().to_numpy(),
        }

    run(300, pairs[:2])  # JIT warm-up on a small input
    started = time.perf_counter()
    stats = run(n, pairs)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "combos": len(pairs) * len(levels),
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


def _sample_rows(sp: dict, vb: dict, rows: list[int]) -> None:
    print(
        f"  {'row':>5s} {'fast':>4s} {'slow':>4s} {'sl':>5s}  {'engine':8s} "
        f"{'return':>12s} {'max dd':>9s} {'trades':>6s} {'win rate':>8s}"
    )
    for r in rows:
        f, s, sl = sp["params"][r]
        for name, res in (("sparkbt", sp), ("vectorbt", vb)):
            st = res["stats"]
            lead = f"{r:5d} {int(f):4d} {int(s):4d} {sl:5.2f}" if name == "sparkbt" else " " * 21
            print(
                f"  {lead}  {name:8s} {st['total_return'][r]:12.8f} "
                f"{st['max_drawdown'][r]:9.6f} {int(st['total_trades'][r]):6d} "
                f"{st['win_rate'][r]:8.5f}"
            )


def sparkbt_line(sp: dict) -> str:
    """The report line of a sparkbt child run: combos, time, peak memory and throughput."""
    cc = sp["candles"] * sp["combos"]
    return (
        f"sparkbt : {sp['combos']:,} combos in {sp['seconds']:7.2f}s  peak RSS "
        f"{sp['peak_rss_gb']:.2f} GB  ({cc / sp['seconds']:,.0f} candle·combos/s, "
        f"{sp['workers']} workers)"
    )


def run_stops(args: argparse.Namespace) -> None:
    n = 20_000
    print(
        f"grid x stops: sma_cross fast {FAST} x slow {SLOW} where fast < slow x sl_stop "
        f"{STOP_LEVELS}, {n:,} hourly candles, fees 0.001, max_memory {args.max_memory}"
    )
    sp = run_child(
        engine="sparkbt",
        n=n,
        fast=FAST,
        slow=SLOW,
        progress=False,
        max_memory=args.max_memory,
        stops=STOP_LEVELS,
    )
    print(f"{sparkbt_line(sp)}  target < 2 GB: {'met' if sp['peak_rss_gb'] < 2 else 'MISSED'}")
    if args.skip_vectorbt:
        return
    vb = run_child(engine="vectorbt", n=n, stops=STOP_LEVELS)
    print(
        f"vectorbt: {vb['combos']:,} combos in {vb['seconds']:7.2f}s  peak RSS "
        f"{vb['peak_rss_gb']:.2f} GB  (one from_signals call, {vb['combos']:,} columns)"
    )
    speed = vb["seconds"] / sp["seconds"]
    print(
        f"speed-up {speed:.1f}x (target >= 20x: {'met' if speed >= 20 else 'MISSED'}), memory "
        f"{vb['peak_rss_gb'] / sp['peak_rss_gb']:.1f}x less; max relative difference of "
        f"the 4 stats over all {sp['combos']:,} rows: {_max_rel_diff(sp['stats'], vb['stats']):.2e}"
    )
    last = sp["combos"] - 1
    _sample_rows(sp, vb, [0, 1, 2, sp["combos"] // 2, last])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--skip-vectorbt", action="store_true", help="only time sparkbt")
    ap.add_argument("--skip-scaling", action="store_true", help="skip the 10k..1M scaling runs")
    ap.add_argument("--stops", action="store_true", help="only the grid x 3 stop levels run")
    ap.add_argument("--big", action="store_true", help="only the 1M candles x 10k combos run")
    ap.add_argument("--max-memory", default="2GB", help="sparkbt budget (default 2GB)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        spec = json.loads(args.child)
        if spec["engine"] == "vectorbt":
            res = child_vectorbt(spec["n"], spec.get("stops"))
        else:
            res = child_sparkbt(
                spec["n"],
                spec["fast"],
                spec["slow"],
                spec["progress"],
                spec["max_memory"],
                spec.get("stops"),
            )
        print(json.dumps(res))
        return
    if args.stops:
        run_stops(args)
        return
    if args.big:
        print(
            "1,000,000 hourly candles x 10,000 combinations (fast 5..104 x slow 110..1100:10), "
            f"max_memory {args.max_memory}"
        )
        r = run_child(
            engine="sparkbt",
            n=1_000_000,
            fast="5:104",
            slow="110:1100:10",
            progress=True,
            max_memory=args.max_memory,
        )
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

    def ours(size: int) -> dict:
        return run_child(
            engine="sparkbt",
            n=size,
            fast=FAST,
            slow=SLOW,
            progress=False,
            max_memory=args.max_memory,
        )

    sp = ours(n)
    print(sparkbt_line(sp))
    if not args.skip_vectorbt:
        vb = run_child(engine="vectorbt", n=n)
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
            r = sp if size == n else ours(size)
            cc = r["candles"] * r["combos"]
            print(
                f"  {size:>9,} candles: {r['seconds']:7.2f}s  peak RSS {r['peak_rss_gb']:.2f} GB"
                f"  {cc / r['seconds']:,.0f} candle·combos/s"
            )


if __name__ == "__main__":
    main()
