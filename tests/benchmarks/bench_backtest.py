"""Benchmark: one sma_cross backtest on 1,000,000 candles, in-process, plain and with stops.

Two cases, each sparkbt ``sb.backtest`` (signals + simulation + all stats, the
candles already loaded) against vectorbt 1.2 (when installed) computing the
same SMA signals, the portfolio and the same statistics after a warm-up call,
so neither side's JIT compilation is counted:

* plain: sma_cross 10/30, fees 0.001, all in at the close (sparkbt's closed
  form); vectorbt ``from_signals(close, fast > slow, fast <= slow, size=inf)``.
* stops: the same plus a 2% trailing stop and a 4% take-profit (sparkbt's
  compiled per-bar kernel); vectorbt ``from_signals`` with open/high/low, the
  signal edges as entries and exits, ``sl_stop=0.02, sl_trail=True,
  tp_stop=0.04``.

vectorbt runs on a tz-naive index: it is about 100x slower on a UTC index
under pandas 3, and it is measured at its best. The candles are hourly so the
stops fire on most trades. Then agreement (same signals on both sides, outside
the timing) and, in fresh processes with an empty numba cache directory, the
one-off compile time of the per-bar kernel and its load time from the cache.

    python tests/benchmarks/bench_backtest.py [--candles 1000000] [--repeat 5]
        [--skip-vectorbt] [--skip-compile] [--timeframe 1h]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from benchlib import best_of, import_vectorbt, vectorbt_stats

import sparkbt as sb

FEES = 0.001
CASH = 10_000.0
STOPS = {"sl_stop": 0.02, "sl_trail": True, "tp_stop": 0.04}
TARGETS = {"plain": 1 / 5, "stops": 1 / 3}  # sparkbt's time / vectorbt's, at most


def edges(targets):
    """Entries and exits of a long-only target series: the bars where it turns on and off."""
    on = targets > 0
    prev = on.shift(1, fill_value=False)
    return on & ~prev, ~on & prev


def vectorbt_run(vbt, naive, freq, case, entries=None, exits=None):
    """vectorbt's side of a case; ``entries``/``exits`` given: skip the SMAs (agreement runs)."""
    close = naive["close"]
    if entries is None:
        fast = vbt.MA.run(close, 10).ma
        slow = vbt.MA.run(close, 30).ma
        if case == "plain":
            entries, exits = fast > slow, fast <= slow
        else:
            entries, exits = edges(fast > slow)
    extra = {}
    if case == "stops":
        extra = {"open": naive["open"], "high": naive["high"], "low": naive["low"], **STOPS}
    return vbt.Portfolio.from_signals(
        close,
        entries,
        exits,
        size=np.inf,
        fees=FEES,
        init_cash=CASH,
        freq=freq,
        **extra,
    )


def agreement(vbt, naive, freq, case, res) -> str:
    """Both engines on sparkbt's own targets (the two SMA codes may break a near-tie apart)."""
    targets = res.targets.tz_convert(None)
    if case == "plain":
        entries, exits = targets > 0, targets <= 0
    else:
        entries, exits = edges(targets)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pf = vectorbt_run(vbt, naive, freq, case, entries, exits)
        ref = pf.trades.records_readable
    ours = res.equity.to_numpy()
    theirs = pf.value().to_numpy()
    # vectorbt stops trading once the cash is dust: compare where equity > 0.1% of the cash
    alive = ours > 1e-3 * CASH
    end = int(np.argmin(alive)) if not alive.all() else len(alive)
    rel = float(np.abs(ours[:end] / theirs[:end] - 1).max())
    gap = float(np.abs(ours - theirs).max())
    cut = naive.index[end - 1]
    ours_in = res.trades[res.trades["entry_time"].dt.tz_localize(None) <= cut]
    theirs_in = ref[ref["Entry Timestamp"] <= cut]
    same = len(ours_in) == len(theirs_in)
    if same:
        for mine, other in (("entry_time", "Entry Timestamp"), ("exit_time", "Exit Timestamp")):
            same &= np.array_equal(
                ours_in[mine].dt.tz_localize(None).to_numpy(), theirs_in[other].to_numpy()
            )
        for mine, other in (("entry_price", "Avg Entry Price"), ("exit_price", "Avg Exit Price")):
            same &= np.allclose(ours_in[mine], theirs_in[other], rtol=1e-12, atol=0.0)
    by_stop = ours_in["exit_reason"].isin(["stop_loss", "trailing_stop", "take_profit"])
    stop_exits = int(by_stop.sum())
    return (
        f"  {case:6s} equity equal to {rel:.1e} relative over the first {end:,} bars "
        f"(equity > 0.1% of the cash; {len(alive) - end:,} bars after it);\n"
        f"         trades opened in that window {len(ours_in):,} vs {len(theirs_in):,}, "
        f"{stop_exits:,} of them closed by a stop; same entry/exit bars and prices: "
        f"{'yes' if same else 'NO'};\n"
        f"         max |equity difference| over all bars {gap:.3g} (of {CASH:,.0f} cash); "
        f"final equity {ours[-1]:.3g} vs {theirs[-1]:.3g}; all trades {len(res.trades):,} "
        f"vs {len(ref):,}"
    )


def compile_child() -> None:
    """One process: a plain backtest (no numba), then the first two that need the kernel."""
    candles = sb.synthetic_candles(1000, timeframe="1h", seed=11)
    sb.backtest(candles, "sma_cross", fees=FEES)
    times = []
    for _ in range(2):
        started = time.perf_counter()
        sb.backtest(candles, "sma_cross", fees=FEES, **STOPS)
        times.append(time.perf_counter() - started)
    print(json.dumps({"first": times[0], "second": times[1]}))


def compile_times() -> list[tuple[str, dict]]:
    """Cold (empty cache) and cached first calls, each in a fresh process and cache folder."""
    out = []
    with tempfile.TemporaryDirectory(prefix="sparkbt-numba-") as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        cmd = [sys.executable, str(Path(__file__).resolve()), "--compile-child"]
        for label in ("empty cache (compiles)", "cache on disk"):
            done = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"compile-time child failed:\n{done.stderr[-2000:]}")
            out.append((label, json.loads(done.stdout.strip().splitlines()[-1])))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candles", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--timeframe", default="1h")
    ap.add_argument("--skip-vectorbt", action="store_true", help="only time sparkbt")
    ap.add_argument("--skip-compile", action="store_true", help="skip the compile-time runs")
    ap.add_argument("--compile-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.compile_child:
        compile_child()
        return
    candles = sb.synthetic_candles(args.candles, timeframe=args.timeframe, seed=11)
    print(
        f"{args.candles:,} candles (synthetic {args.timeframe}), sma_cross fast=10 slow=30, "
        f"fees={FEES}; stops case: sl_stop=0.02 trailing, tp_stop=0.04; best of {args.repeat}"
    )
    # import/discovery warm-up, and the per-bar kernel loaded from numba's cache
    sb.backtest(candles.iloc[:1000], "sma_cross", fees=FEES, **STOPS)

    cases = {"plain": {}, "stops": STOPS}
    ours: dict[str, tuple] = {}
    for case, extra in cases.items():
        ours[case] = best_of(
            lambda extra=extra: sb.backtest(
                candles, "sma_cross", fast=10, slow=30, fees=FEES, **extra
            ),
            args.repeat,
        )
    vbt = None if args.skip_vectorbt else import_vectorbt()
    theirs: dict[str, tuple] = {}
    if vbt is not None:
        naive = candles.tz_convert(None)
        freq = candles.attrs.get("timeframe", args.timeframe)
        freq = {"1m": "1min", "5m": "5min", "15m": "15min"}.get(freq, freq)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for case in cases:

                def run(case=case):
                    return vectorbt_stats(vectorbt_run(vbt, naive, freq, case))

                run()  # JIT warm-up
                theirs[case] = best_of(run, args.repeat)

    print(
        f"\n{'case':6s} {'engine':9s} {'best ms':>9s} {'median':>9s} {'worst':>9s} "
        f"{'trades':>8s} {'total return':>14s}"
    )
    for case in cases:
        b, med, worst, res = ours[case]
        print(
            f"{case:6s} {'sparkbt':9s} {b * 1e3:9.1f} {med * 1e3:9.1f} {worst * 1e3:9.1f} "
            f"{res.stats['total_trades']:8,} {res.stats['total_return']:14.10f}"
        )
        if case in theirs:
            vb, vmed, vworst, vres = theirs[case]
            print(
                f"{'':6s} {'vectorbt':9s} {vb * 1e3:9.1f} {vmed * 1e3:9.1f} {vworst * 1e3:9.1f} "
                f"{int(vres['trades']):8,} {float(vres['total_return']):14.10f}"
            )
    if theirs:
        print("\nratio (best of each): sparkbt's time / vectorbt's")
        for case in cases:
            b, vb = ours[case][0], theirs[case][0]
            ok = "met" if b / vb <= TARGETS[case] else "MISSED"
            print(
                f"  {case:6s} {b / vb:.2f}x ({vb / b:.1f}x faster); "
                f"target <= {TARGETS[case]:.2f}x: {ok}"
            )
        print(
            "agreement (sparkbt's targets fed to vectorbt; trade counts differ once equity is "
            "dust, where vectorbt skips orders)"
        )
        for case in cases:
            print(agreement(vbt, naive, freq, case, ours[case][3]))
    if not args.skip_compile:
        print(
            "\nper-bar kernel start-up: a stops backtest of 1,000 candles in a fresh process with "
            "its own NUMBA_CACHE_DIR\n(the first call imports numba and compiles the kernel or "
            "loads it from the cache)"
        )
        for label, t in compile_times():
            print(
                f"  {label:24s} first call {t['first']:6.2f} s, second {t['second'] * 1e3:6.1f} ms"
            )


if __name__ == "__main__":
    main()
