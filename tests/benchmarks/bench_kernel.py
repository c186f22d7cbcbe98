"""Benchmark: CPU time of the per-bar kernel alone (``run_loop``) on 1,000,000 bars.

Two cases on the same synthetic hourly candles and sma_cross 10/30 long-only targets:

* stops: fees, a 2% trailing stop and a 4% take-profit, fills at the close;
* gates: fees, next-open fills, max drawdown, daily loss, loss streak and a
  cooldown, so orders, fills, trades and locks are many.

Only the compiled call is timed (``time.process_time``, so other processes on
the machine count less), after a warm-up call; the figure is the median of
``--repeat`` runs. ``--against REV`` also times the kernel of a git revision
(its ``sparkbt/engine/loop.py`` and ``loop_state.py``, loaded as a temporary
module), interleaved with the current one, and prints the ratio; its results
must equal the current kernel's bit for bit.

    python tests/benchmarks/bench_kernel.py [--bars 1000000] [--repeat 41] [--against REV ...]
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import sparkbt as sb
from sparkbt.engine.codes import LONG
from sparkbt.engine.kernels import SimOptions, prepare_targets

ROOT = Path(__file__).resolve().parents[2]
CASES = {
    "stops": SimOptions(fees=0.001, sl_stop=0.02, sl_trail=True, tp_stop=0.04),
    "gates": SimOptions(
        fees=0.001, next_open=True, max_drawdown=0.08, daily_loss=0.03, loss_streak=4, cooldown=3
    ),
}


def inputs(bars: int) -> tuple[tuple, np.ndarray]:
    """The kernel's array arguments and its ``(m, n)`` target rows."""
    c = sb.synthetic_candles(bars, timeframe="1h", seed=11)
    close = c["close"].to_numpy()
    fast = c["close"].rolling(10).mean().to_numpy()
    slow = c["close"].rolling(30).mean().to_numpy()
    raw = np.where(np.isnan(slow), np.nan, (fast > slow).astype(float))
    rows = np.ascontiguousarray(prepare_targets(raw[:, None], LONG).T)
    day = (pd.DatetimeIndex(c.index).asi8 // 86_400_000_000_000).astype(np.int64)
    prices = tuple(
        np.ascontiguousarray(c[k].to_numpy(), np.float64) for k in ("open", "high", "low")
    )
    return (*prices, np.ascontiguousarray(close), day), rows


def capacity(rows: np.ndarray) -> np.ndarray:
    """Record rows to allocate, as :func:`sparkbt.engine.kernels.simulate_loop` sizes them."""
    changes = int(np.count_nonzero(rows[:, 1:] != rows[:, :-1])) + int(np.count_nonzero(rows[:, 0]))
    cap = changes + rows.shape[0]
    return np.array([4 * cap, cap, 3 * cap])


def load_revision(rev: str, into: Path):
    """``run_loop`` of the kernel at git revision ``rev``, as a module of its own."""
    name = "kernel_" + rev.replace("/", "_").replace("~", "_").replace("^", "_")
    pkg = into / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for part in ("loop", "loop_state"):
        try:
            text = subprocess.run(
                ["git", "show", f"{rev}:sparkbt/engine/{part}.py"],
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        except subprocess.CalledProcessError:
            continue  # an older layout without loop_state
        text = text.replace("sparkbt.engine.loop_state", f"{name}.loop_state")
        (pkg / f"{part}.py").write_text(text)
    sys.path.insert(0, str(into))
    spec = importlib.util.find_spec(f"{name}.loop")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.run_loop


def caller(run_loop, arrays: tuple, rows: np.ndarray, sl, tp, o: SimOptions):
    """A no-argument call of ``run_loop`` in whichever signature it has."""
    o_, h, lo, c, day = arrays
    cap = capacity(rows)
    params = list(inspect.signature(run_loop.py_func).parameters)
    args: tuple = (o_, h, lo, c, day, rows, sl, tp, o.plain(), True, cap)
    if "cash" in params:  # options as separate scalars, rows before day
        args = (o_, h, lo, c, rows, day, sl, tp, *o.plain(), True, cap)
    return lambda: run_loop(*args)


def timed(fn) -> tuple[float, tuple]:
    t = time.process_time()
    out = fn()
    return time.process_time() - t, out


def same(a: tuple, b: tuple) -> bool:
    """Bit-identical outputs (records compared up to the rows each needed)."""
    na, nb = a[5], b[5]
    if not np.array_equal(na, nb):
        return False
    pairs = [(a[0], b[0]), (a[1], b[1])]
    pairs += [(a[k][: na[k - 2]], b[k][: nb[k - 2]]) for k in (2, 3, 4)]
    return all(x.tobytes() == y.tobytes() for x, y in pairs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=41)
    ap.add_argument("--against", nargs="*", default=[], help="git revisions to compare")
    args = ap.parse_args()
    from sparkbt.engine.loop import run_loop

    arrays, rows = inputs(args.bars)
    none = np.zeros((0, 0))
    with tempfile.TemporaryDirectory() as tmp:
        kernels = {"current": run_loop}
        for rev in args.against:
            kernels[rev] = load_revision(rev, Path(tmp))
        print(f"{args.bars:,} bars, kernel CPU time, median of {args.repeat} (min-max)")
        for case, o in CASES.items():
            calls = {k: caller(f, arrays, rows, none, none, o) for k, f in kernels.items()}
            outs = {k: fn() for k, fn in calls.items()}  # warm-up (compiles or loads the cache)
            used = outs["current"][5]
            times: dict[str, list[float]] = {k: [] for k in calls}
            for _ in range(args.repeat):
                for k, fn in calls.items():
                    times[k].append(timed(fn)[0])
            base = float(np.median(times["current"]))
            print(f"  {case}: fills {used[0]:,}, trades {used[1]:,}, locks {used[2]:,}")
            for k, ts in times.items():
                med = float(np.median(ts))
                ratio = "" if k == "current" else f"  current/this {base / med:.3f}"
                ident = "" if k == "current" else f"  identical: {same(outs['current'], outs[k])}"
                print(
                    f"    {k:10s} {med * 1e3:7.2f} ms ({min(ts) * 1e3:.2f}-{max(ts) * 1e3:.2f})"
                    f"{ratio}{ident}"
                )


if __name__ == "__main__":
    main()
