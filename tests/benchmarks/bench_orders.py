"""Benchmark: an OCO bracket on every breakout edge of 1,000,000 candles, sparkbt's order
kernel against vectorbt and backtesting.py.

The strategy is the built-in ``breakout_stop`` (lookback 20): on each bar whose close
crosses above the prior 20-bar high, a buy stop at the channel high (good for 5 bars)
and an OCO pair of exits, a sell stop 2% under the entry and a sell limit 5% over it.
Timed after a warm-up call, so no JIT compilation is counted:

* sparkbt ``sb.backtest(candles, "breakout_stop")``: the strategy's orders frame,
  its checks, the order kernel and statistics (the readable orders table is built
  when first read);
* sparkbt kernel alone: ``simulate_orders`` on the checked orders;
* vectorbt 1.2 ``Portfolio.from_signals`` of the nearest equivalent it has: the
  breakout edges as entries at the close (it has no stop entry), ``sl_stop=0.02``
  and ``tp_stop=0.05`` checked on open/high/low, the same units per entry, computing
  the same edges and the same statistics;
* backtesting.py 0.6.6 on the first 20,000 candles (it is far slower): a Strategy
  whose ``next`` places ``buy(stop=level, sl=..., tp=...)`` on the same edges and
  cancels an entry not triggered within 5 bars; sparkbt on the same 20,000 candles.

Then a portfolio: ``--portfolio-symbols`` synthetic symbols of 1/k of the candles
each, sharing one cash, each trading its own ``breakout_stop`` orders (sparkbt only).

vectorbt runs on a tz-naive index (it is much slower on a UTC one under pandas 3).

    python tests/benchmarks/bench_orders.py [--candles 1000000] [--repeat 5]
        [--bt-candles 20000] [--skip-vectorbt] [--skip-backtesting] [--portfolio-symbols 4]
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd
from benchlib import best_of, import_vectorbt, vectorbt_stats

import sparkbt as sb
from sparkbt.data.timeframes import time_index
from sparkbt.engine.order_kernels import simulate_orders
from sparkbt.engine.orders import order_table
from sparkbt.engine.simulate import market_of

CASH = 10_000_000.0  # every bracket can fill: the run never runs out of cash
FEES = 0.001
MAKER = 0.0005
PARAMS = {"lookback": 20, "take_profit": 0.05, "stop_loss": 0.02, "qty": 1.0, "bars": 5}
TARGET = 1 / 3  # sparkbt's time / vectorbt's, at most


def edges(candles: pd.DataFrame, lookback: int) -> tuple[np.ndarray, np.ndarray]:
    """Breakout edges (bool per bar) and the channel high of each bar, as the strategy has them."""
    high = candles["high"].to_numpy()
    close = candles["close"].to_numpy()
    channel = pd.Series(high).rolling(lookback).max().to_numpy()
    prior = np.concatenate([[np.nan], channel[:-1]])
    above = close > prior
    return above & ~np.concatenate([[False], above[:-1]]), channel


def sparkbt_run(candles: pd.DataFrame):
    return sb.backtest(candles, "breakout_stop", cash=CASH, fees=FEES, maker_fees=MAKER, **PARAMS)


def kernel_inputs(candles: pd.DataFrame):
    """The order kernel's inputs: market arrays, checked orders, options."""
    config = sb.Config(cash=CASH, fees=FEES, maker_fees=MAKER)
    raw = sb.get_strategy("breakout_stop").func(candles, **PARAMS)
    table = order_table("breakout_stop", raw, time_index(candles))
    return market_of(candles), table.orders, config.sim_options(), config.order_options()


def vectorbt_run(vbt, naive: pd.DataFrame, freq: str):
    entries, _ = edges(naive, PARAMS["lookback"])
    pf = vbt.Portfolio.from_signals(
        naive["close"],
        pd.Series(entries, index=naive.index),
        False,
        open=naive["open"],
        high=naive["high"],
        low=naive["low"],
        size=PARAMS["qty"],
        sl_stop=PARAMS["stop_loss"],
        tp_stop=PARAMS["take_profit"],
        fees=FEES,
        init_cash=CASH,
        freq=freq,
    )
    return vectorbt_stats(pf)


def backtesting_run(candles: pd.DataFrame):
    """backtesting.py's side: one bracket per edge, entries cancelled after ``bars`` bars."""
    from backtesting import Backtest, Strategy

    edge, channel = edges(candles, PARAMS["lookback"])
    sl, tp, bars = PARAMS["stop_loss"], PARAMS["take_profit"], PARAMS["bars"]

    class Bracket(Strategy):
        def init(self) -> None:
            pass

        def next(self) -> None:
            i = len(self.data) - 1
            for order in self.orders:
                if not order.is_contingent and order.tag is not None and i - order.tag >= bars:
                    order.cancel()
            if edge[i]:
                level = channel[i]
                self.buy(size=1, stop=level, sl=level * (1 - sl), tp=level * (1 + tp), tag=i)

    data = candles.tz_convert(None).rename(columns=str.capitalize)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = Backtest(data, Bracket, cash=CASH, commission=FEES, finalize_trades=True)
        return bt.run()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candles", type=int, default=1_000_000)
    ap.add_argument("--bt-candles", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--skip-vectorbt", action="store_true")
    ap.add_argument("--skip-backtesting", action="store_true")
    ap.add_argument(
        "--portfolio-symbols", type=int, default=4, help="also a portfolio of this many (1: none)"
    )
    args = ap.parse_args()
    candles = sb.synthetic_candles(args.candles, timeframe="1h", seed=11)
    edge, _ = edges(candles, PARAMS["lookback"])
    print(
        f"{args.candles:,} candles (synthetic 1h), breakout_stop {PARAMS}, fees {FEES}, "
        f"maker fees {MAKER}: {int(edge.sum()):,} edges, {3 * int(edge.sum()):,} orders; "
        f"best of {args.repeat}"
    )
    sparkbt_run(candles.iloc[:2000])  # imports, discovery and the kernel from numba's cache
    inputs = kernel_inputs(candles)
    simulate_orders(*kernel_inputs(candles.iloc[:2000]))
    rows = [("sparkbt backtest", best_of(lambda: sparkbt_run(candles), args.repeat))]
    rows.append(("sparkbt kernel", best_of(lambda: simulate_orders(*inputs), args.repeat)))
    vbt = None if args.skip_vectorbt else import_vectorbt()
    if vbt is not None:
        naive = candles.tz_convert(None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vectorbt_run(vbt, naive, "1h")  # JIT warm-up
            rows.append(("vectorbt", best_of(lambda: vectorbt_run(vbt, naive, "1h"), args.repeat)))
    print(f"\n{'engine':18s} {'best ms':>9s} {'median':>9s} {'worst':>9s}")
    for name, (b, med, worst, _) in rows:
        print(f"{name:18s} {b * 1e3:9.1f} {med * 1e3:9.1f} {worst * 1e3:9.1f}")
    res = rows[0][1][3]
    counts = res.orders["status"].value_counts().to_dict()
    print(f"sparkbt: {res.stats['total_trades']:,} trades, order statuses {counts}")
    if vbt is not None:
        vres = rows[-1][1][3]
        print(f"vectorbt: {int(vres['trades']):,} trades (one position at a time)")
        for name, (b, *_rest) in rows[:2]:
            ratio = b / rows[-1][1][0]
            ok = "met" if ratio <= TARGET else "MISSED"
            print(f"  {name} / vectorbt {ratio:.2f}x; target <= {TARGET:.2f}x: {ok}")
    if not args.skip_backtesting:
        small = candles.iloc[: args.bt_candles]
        sparkbt_run(small)
        ours = best_of(lambda: sparkbt_run(small), args.repeat)
        theirs = best_of(lambda: backtesting_run(small), max(1, args.repeat // 2))
        print(
            f"\n{len(small):,} candles: sparkbt backtest {ours[0] * 1e3:.1f} ms, "
            f"backtesting.py {theirs[0] * 1e3:.1f} ms ({theirs[3]['# Trades']} trades): "
            f"{theirs[0] / ours[0]:.0f}x faster"
        )
    if args.portfolio_symbols > 1:
        k = args.portfolio_symbols
        each = args.candles // k
        panel = {f"S{j}": sb.synthetic_candles(each, timeframe="1h", seed=11 + j) for j in range(k)}
        sparkbt_run({s: f.iloc[:2000] for s, f in panel.items()})
        best, med, _, res = best_of(lambda: sparkbt_run(panel), args.repeat)
        print(
            f"\nportfolio of {k} symbols x {each:,} candles (one cash, the orders of each "
            f"symbol's own breakout_stop, {len(res.orders):,} orders): "
            f"best {best * 1e3:.1f} ms, median {med * 1e3:.1f} ms"
        )


if __name__ == "__main__":
    main()
