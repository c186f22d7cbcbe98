"""Benchmark: the web UI's downsampling kernels on 1,000,000 points.

A random walk of ``--points`` values (with a sprinkling of NaN for ``minmax_indices``) and
matching one-minute candles: ``minmax_indices`` into ``--buckets`` buckets and
``ohlc_buckets`` into ``--buckets`` bars. Prints best-of-N wall times
and each output's size.

    python tests/benchmarks/bench_downsample.py [--points 1000000] [--buckets 2000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from sparkbt.adapters.web.downsample import bucket_of, minmax_indices, ohlc_buckets


def best_of(repeat: int, fn: Callable[[], object]) -> tuple[float, object]:
    """Fastest of ``repeat`` calls in seconds, after one warm-up call, and the last result."""
    result = fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--buckets", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    rng = np.random.default_rng(42)
    n, buckets = args.points, args.buckets
    close = 100 + np.cumsum(rng.normal(size=n))
    open_ = np.concatenate([[100.0], close[:-1]])[:n]
    high = np.maximum(open_, close) + rng.random(n)
    low = np.minimum(open_, close) - rng.random(n)
    times = np.arange(n, dtype=np.int64) * 60
    with_nans = close.copy()
    with_nans[rng.random(n) < 0.001] = np.nan

    bars = ohlc_buckets(times, open_, high, low, close, buckets)
    trades = np.sort(rng.choice(times, size=min(n, 10_000), replace=False))
    cases: list[tuple[str, Callable[[], object]]] = [
        (f"minmax_indices  {buckets} buckets", lambda: minmax_indices(close, buckets)),
        (f"minmax_indices  {buckets} buckets, NaN", lambda: minmax_indices(with_nans, buckets)),
        (
            f"ohlc_buckets    {buckets} bars",
            lambda: ohlc_buckets(times, open_, high, low, close, buckets),
        ),
        (f"bucket_of       {len(trades)} trades", lambda: bucket_of(bars.time, trades)),
    ]
    print(f"{n:,} points, best of {args.repeat}")
    for label, fn in cases:
        seconds, result = best_of(args.repeat, fn)
        size = len(result[0]) if isinstance(result, tuple) else len(result)
        print(f"  {label:<40} {seconds * 1e3:8.2f} ms  -> {size:,}")


if __name__ == "__main__":
    main()
