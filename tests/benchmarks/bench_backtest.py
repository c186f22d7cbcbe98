"""Benchmark: one sma_cross backtest with fees on 1,000,000 candles, in-process.

sparkbt: signals + simulation + all stats (``sb.backtest``), candles already
loaded. vectorbt 1.2 (when installed): the same SMA signals, ``from_signals``
(close, size=inf, fees) and the same statistics, after a warm-up call so its
JIT compilation is not counted. Prints best-of-N wall times and the ratio.

    python tests/benchmarks/bench_backtest.py [--candles 1000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import sparkbt as sb


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), float(np.median(times)), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candles", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    candles = sb.synthetic_candles(args.candles, timeframe="1m", seed=11)
    print(f"{args.candles:,} candles (synthetic 1m), sma_cross fast=10 slow=30, fees=0.001")
    sb.backtest(candles.iloc[:1000], "sma_cross", fees=0.001)  # import/discovery warm-up

    def ours():
        return sb.backtest(candles, "sma_cross", fast=10, slow=30, fees=0.001)

    best, med, res = best_of(ours, args.repeat)
    print(
        f"sparkbt   best {best * 1e3:8.1f} ms   median {med * 1e3:8.1f} ms   "
        f"trades {res.stats['total_trades']:,}  return {res.stats['total_return']:.6f}"
    )
    try:
        import vectorbt as vbt
    except ImportError:
        print("vectorbt not installed: no ratio")
        return
    # a tz-naive index: vectorbt is many times slower on tz-aware indexes, and
    # we measure it at its best
    close = candles["close"].tz_convert(None)

    def theirs():
        fast = vbt.MA.run(close, 10).ma
        slow = vbt.MA.run(close, 30).ma
        pf = vbt.Portfolio.from_signals(
            close,
            fast > slow,
            fast <= slow,
            size=np.inf,
            fees=0.001,
            init_cash=10_000.0,
            freq="1min",
        )
        closed = pf.trades.closed
        return {
            "total_return": pf.total_return(),
            "sharpe": pf.sharpe_ratio(),
            "sortino": pf.sortino_ratio(),
            "max_drawdown": pf.max_drawdown(),
            "trades": pf.trades.count(),
            "win_rate": closed.win_rate(),
            "profit_factor": closed.profit_factor(),
            "expectancy": closed.expectancy(),
            "fees": pf.orders.fees.sum(),
        }

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs()  # JIT warm-up
        vbest, vmed, vres = best_of(theirs, args.repeat)
    print(
        f"vectorbt  best {vbest * 1e3:8.1f} ms   median {vmed * 1e3:8.1f} ms   "
        f"trades {vres['trades']:,}  return {vres['total_return']:.6f}"
    )
    ours_eq = res.equity.to_numpy()
    # same signals on both sides (the two SMA implementations may round a near-tie
    # differently and flip a crossover), outside the timing
    ours_targets = res.targets.tz_convert(None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        same = vbt.Portfolio.from_signals(
            close,
            ours_targets > 0,
            ours_targets <= 0,
            size=np.inf,
            fees=0.001,
            init_cash=10_000.0,
            freq="1min",
        )
    theirs_eq = same.value().to_numpy()
    alive = ours_eq > 1e-3 * 10_000.0  # vectorbt stops trading once cash is dust
    rel = np.abs(ours_eq[alive] / theirs_eq[alive] - 1).max()
    print(
        f"agreement equity curves equal to {rel:.1e} relative over the {alive.sum():,} bars "
        "where equity > 0.1% of the starting cash"
    )
    print(
        f"ratio     sparkbt takes {best / vbest:.2f}x vectorbt's time "
        f"({vbest / best:.1f}x faster); target <= 0.33x"
    )


if __name__ == "__main__":
    main()
