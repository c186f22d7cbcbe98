"""Benchmark: a monthly rebalance of 50 symbols over 100,000 daily bars, sparkbt vs vectorbt.

sparkbt's portfolio kernel (``simulate_portfolio``: equity, cash, units, fills,
trades) against vectorbt 1.2 ``Portfolio.from_orders(close, weights,
size_type="targetpercent", cash_sharing=True, group_by=True, call_seq="auto")``
with the same weights, fees and cash (when installed). Prices are synthetic
random walks with a few gaps (symbols listed late, delisted early, or missing
a stretch of bars); on the first bar of each month every symbol with a candle
gets 1/50. Each side runs in its own process, first once to compile (numba on
both sides), then ``--repeat`` times: the times are warm. Peak memory is the
process's peak RSS during the warm runs above its RSS before them (the prices
and weights are already built, the compiled code loaded). Target: sparkbt at
most 1/3 of vectorbt's time. The two sides' final values are printed too (they
agree).

    python tests/benchmarks/bench_portfolio.py [--bars 100000] [--symbols 50] [--repeat 5]
        [--skip-vectorbt]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
from benchlib import best_of, import_vectorbt

FEES = 0.001
CASH = 1_000_000.0
TARGET = 1 / 3  # sparkbt's time / vectorbt's, at most


def market(bars: int, symbols: int, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Random-walk closes (NaN where a symbol has no candle) and monthly equal weights."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("1970-01-01", periods=bars, freq="D")
    steps = rng.normal(0.00002, 0.01, size=(bars, symbols))
    close = 100.0 * np.exp(np.cumsum(steps, axis=0))
    for c in range(0, symbols, 7):  # a few symbols list late, delist early or pause
        start = int(rng.integers(0, bars // 4))
        close[:start, c] = np.nan
        end = int(rng.integers(3 * bars // 4, bars))
        close[end:, c + 1 if c + 1 < symbols else c] = np.nan
        pause = int(rng.integers(bars // 4, 3 * bars // 4))
        close[pause : pause + 500, min(c + 2, symbols - 1)] = np.nan
    frame = pd.DataFrame(close, index=index, columns=[f"S{c:02d}" for c in range(symbols)])
    period = index.to_period("M")
    starts = np.flatnonzero(np.r_[True, period[1:] != period[:-1]])
    w = np.full(close.shape, np.nan)
    w[starts] = np.where(np.isnan(close[starts]), np.nan, 1.0 / symbols)
    return frame, pd.DataFrame(w, index=index, columns=frame.columns)


def sparkbt_side(close: pd.DataFrame, w: pd.DataFrame):
    from sparkbt.engine.kernels import SimOptions
    from sparkbt.engine.portfolio_kernels import simulate_portfolio

    c = np.ascontiguousarray(close.to_numpy())  # as ``Panel.arrays()`` gives them
    weights = w.to_numpy()  # a strategy's weights frame, copied by the kernel
    day = np.arange(len(c), dtype=np.int64)
    options = SimOptions(cash=CASH, fees=FEES)

    def run():
        return simulate_portfolio(c, c, c, c, day, weights, options)

    return run, lambda out: (float(out.equity[-1]), len(out.fills))


def vectorbt_side(close: pd.DataFrame, w: pd.DataFrame):
    vbt = import_vectorbt()

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return vbt.Portfolio.from_orders(
                close,
                w,
                size_type="targetpercent",
                direction="both",
                cash_sharing=True,
                group_by=True,
                call_seq="auto",
                fees=FEES,
                init_cash=CASH,
            )

    return run, lambda pf: (float(pf.value().iloc[-1]), len(pf.orders.values))


def reset_peak_rss() -> int:
    """Start measuring the peak RSS afresh (Linux); returns the RSS now."""
    Path("/proc/self/clear_refs").write_text("5")
    return int(psutil.Process().memory_info().rss)


def peak_rss() -> int:
    """Peak RSS since the last reset (Linux ``VmHWM``), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def child(side: str, bars: int, symbols: int, repeat: int) -> None:
    """One side's warm timing and peak memory, as one JSON line on stdout."""
    close, w = market(bars, symbols)
    run, summary = (sparkbt_side if side == "sparkbt" else vectorbt_side)(close, w)
    run()  # compile (both sides are numba) and warm up
    base = reset_peak_rss()
    best, median, worst, out = best_of(run, repeat)
    peak = peak_rss()
    final, orders = summary(out)
    print(
        json.dumps(
            {
                "best": best,
                "median": median,
                "worst": worst,
                "peak_mb": max(peak - base, 0) / 2**20,
                "final_value": final,
                "orders": orders,
            }
        )
    )


def measure(side: str, args: argparse.Namespace) -> dict[str, float]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", side]
    cmd += ["--bars", str(args.bars), "--symbols", str(args.symbols), "--repeat", str(args.repeat)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=100_000)
    ap.add_argument("--symbols", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--skip-vectorbt", action="store_true")
    ap.add_argument("--child", choices=("sparkbt", "vectorbt"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.bars, args.symbols, args.repeat)
        return
    print(f"monthly rebalance: {args.symbols} symbols x {args.bars:,} bars, fees {FEES}")
    sides = ["sparkbt"]
    if not args.skip_vectorbt and import_vectorbt() is not None:
        sides.append("vectorbt")
    got = {side: measure(side, args) for side in sides}
    for side, r in got.items():
        print(
            f"{side:8}: best {r['best']:.3f}s  median {r['median']:.3f}s  worst {r['worst']:.3f}s"
            f"  peak +{r['peak_mb']:.0f} MB  orders {r['orders']:,}"
            f"  final value {r['final_value']:,.2f}"
        )
    if "vectorbt" in got:
        ratio = got["sparkbt"]["best"] / got["vectorbt"]["best"]
        verdict = "met" if ratio <= TARGET else "MISSED"
        print(f"sparkbt / vectorbt (best): {ratio:.3f}  target <= {TARGET:.3f}: {verdict}")


if __name__ == "__main__":
    main()
