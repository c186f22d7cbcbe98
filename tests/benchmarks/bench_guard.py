"""Benchmark: ``sparkbt.research.assess`` of a param change on the 6,000-candle packaged sample.

The proposed version (sma_cross 12/40, fees 0.001) is assessed against the
approved one (10/30) with the default policy and no sweep: the full-window,
in-sample and out-of-sample runs of both sides and one run per neighbour, all
stored, a four-fold walk-forward of the neighbourhood (stored too), the
deflated Sharpe ratio and a 20-cut look-ahead check. Each call writes into a
fresh evidence folder, so the runs are really saved. The first call of the
process is reported apart (it loads the compiled kernels from the numba cache);
the target applies to it too. ``--stops`` adds a 3% trailing stop (the per-bar kernel); ``--sweep``
also times a call with an attached 8 x 6 sweep (DSR trials and PBO by CSCV).

    python tests/benchmarks/bench_guard.py [--repeat 5] [--stops] [--sweep]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_SECONDS = 5.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--stops", action="store_true", help="add a 3%% trailing stop")
    ap.add_argument("--sweep", action="store_true", help="also time a call with a sweep")
    args = ap.parse_args()

    started = time.perf_counter()
    import sparkbt as sb
    from sparkbt.research.assess import assess
    from sparkbt.research.paramsets import version_of
    from sparkbt.research.policy import default_policy
    from sparkbt.research.sweep_evidence import save_sweep

    imported = time.perf_counter() - started
    options = {"fees": 0.001}
    if args.stops:
        options |= {"sl_stop": 0.03, "sl_trail": True}
    proposed = version_of(
        "eth-sma-4h", "sma_cross", "ETHUSDT", "4h", {"fast": 12, "slow": 40}, options
    )
    base = version_of("eth-sma-4h", "sma_cross", "ETHUSDT", "4h", {"fast": 10, "slow": 30}, options)
    policy = default_policy()
    out: dict = {"candles": len(sb.sample_candles()), "import_seconds": round(imported, 3)}

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)

        def once(i: int, **kw):
            t = time.perf_counter()
            a = assess(proposed, base, policy=policy, evidence_dir=root / f"ev{i}", **kw)
            return time.perf_counter() - t, a

        first, a = once(0)
        times = [once(i + 1)[0] for i in range(args.repeat)]
        out |= {
            "first_call_seconds": round(first, 3),
            "best_seconds": round(min(times), 3),
            "median_seconds": round(float(np.median(times)), 3),
            "steps_seconds": a.timing,
            "decision": a.decision,
            "gates": {r.gate: r.result for r in a.results},
        }
        if args.sweep:
            grid = sb.sweep(
                sb.sample_candles(),
                "sma_cross",
                fast=range(5, 45, 5),
                slow=range(20, 140, 20),
                where="fast < slow",
                workers=1,
                **options,
            )
            sid = save_sweep(grid, root / "ev0", plot=False).name
            t, s = once(0, sweep_id=sid)
            out["with_sweep"] = {
                "combinations": len(grid),
                "seconds": round(t, 3),
                "pbo": s.pbo.get("pbo"),
                "steps_seconds": s.timing,
            }
    worst = max(first, *times)
    out["target_seconds"] = TARGET_SECONDS
    out["within_target"] = worst < TARGET_SECONDS
    print(json.dumps(out, indent=2))
    return 0 if out["within_target"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
