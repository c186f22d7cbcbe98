"""Regenerate ``sma_cross_sample.json``: vectorbt 1.2's figures on the packaged sample.

Run from the repository root with the test extra installed::

    python tests/golden/regenerate.py          # rewrite the file
    python tests/golden/regenerate.py --check  # exit 1 if the stored numbers differ

Each case is sma_cross 10/30 with fees 0.001 on the packaged ETHUSDT 4h sample,
simulated by vectorbt ``Portfolio.from_signals`` on sparkbt's own targets
(entries and exits as the signal's edges, open/high/low given for stops).
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import sparkbt as sb

HERE = Path(__file__).resolve().parent
OUT = HERE / "sma_cross_sample.json"
CASES = {
    "long": {"direction": "long", "slippage": 0.0005},
    "both": {"direction": "both", "slippage": 0.0005},
    "long_trailing_stop_take_profit": {
        "direction": "long",
        "sl_stop": 0.03,
        "sl_trail": True,
        "tp_stop": 0.06,
    },
    "both_next_open": {"direction": "both", "fill": "next_open"},
}


def vectorbt_figures(candles: pd.DataFrame, targets: pd.Series, opts: dict) -> dict:
    import vectorbt as vbt

    prev = targets.shift(1, fill_value=0.0)
    sig = {"entries": (targets > 0) & (prev <= 0), "exits": (targets <= 0) & (prev > 0)}
    if opts["direction"] == "both":
        sig["short_entries"] = (targets < 0) & (prev >= 0)
        sig["short_exits"] = (targets >= 0) & (prev < 0)
    kw = {k: opts[k] for k in ("slippage", "sl_stop", "sl_trail", "tp_stop") if k in opts}
    naive = candles.tz_localize(None)
    if opts.get("fill") == "next_open":
        sig = {k: v.shift(1, fill_value=False) for k, v in sig.items()}
        kw["price"] = naive["open"]
    sig = {k: v.tz_localize(None) for k, v in sig.items()}
    vbt.settings.returns["year_freq"] = "365 days"  # the sample has weekend bars
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pf = vbt.Portfolio.from_signals(
            naive["close"],
            open=naive["open"],
            high=naive["high"],
            low=naive["low"],
            **sig,
            size=np.inf,
            fees=0.001,
            init_cash=10_000.0,
            freq="4h",
            **kw,
        )
        closed = pf.trades.closed
        return {
            "total_return": float(pf.total_return()),
            "total_trades": int(pf.trades.count()),
            "win_rate": float(closed.win_rate()),
            "max_drawdown": float(-pf.max_drawdown()),
            "sharpe": float(pf.sharpe_ratio()),
            "sortino": float(pf.sortino_ratio()),
            "profit_factor": float(closed.profit_factor()),
            "expectancy": float(closed.expectancy()),
            "total_fees": float(pf.orders.fees.sum()),
        }


def main() -> int:
    sample = sb.resolve_candles("ETHUSDT", "4h", "/nonexistent-store")
    out = {}
    for name, opts in CASES.items():
        res = sb.backtest(sample, "sma_cross", fast=10, slow=30, fees=0.001, **opts)
        out[name] = {"options": opts, "vectorbt": vectorbt_figures(sample, res.targets, opts)}
    text = json.dumps(out, indent=2, sort_keys=True) + "\n"
    if "--check" in sys.argv:
        same = OUT.exists() and OUT.read_text() == text
        print("golden numbers are current" if same else f"{OUT} differs from vectorbt's figures")
        return 0 if same else 1
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
