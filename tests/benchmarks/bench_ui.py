"""Benchmark of the web UI's run report on 1,000,000 candles (a script, not collected by pytest).

Builds a 1M-candle synthetic series (as ``bench_backtest.py`` does), stores it
in a candle store, backtests sma_cross 10/30 with fees on the stored candles
(so the report finds them and draws the candle chart) and saves the run. Then
starts the real server (``python -m sparkbt.adapters.cli.app serve --evidence-dir ...
--data-dir ...``) and measures:

* served: the time to fetch ``/ui/runs/<id>`` with httpx, the first request
  (cold: the run and its candles are read and the payload built) and warm ones
  (the payload is cached); and the page's size in bytes;
* drawn: in headless Chromium, from navigation start to the moment every chart
  (equity, drawdown, candles) has a non-empty canvas and the trade table has
  rows, read with ``performance.now()`` inside the page, averaged over
  ``--loads`` loads (a fresh browser context each, so nothing is cached).

Then, in this process, where the cold time goes: reading the run, reading the
candles, building the payload (split by part) and its JSON size by part.

    python tests/benchmarks/bench_ui.py [--candles 1000000] [--timeframe 1h] [--loads 3]
        [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import benchlib
import httpx

import sparkbt as sb

TARGET_SERVED_S = 1.0
TARGET_DRAWN_S = 3.0
SYMBOL = "SYNTH"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CHARTS = ["#equity-chart", "#drawdown-chart", "#price-chart"]

# performance.now() (ms since navigation start) of the first animation frame at which every
# chart holds a canvas with more than one colour and the trade table has rows; false before.
DRAWN_JS = """
(sels) => {
  const drawn = (sel) => {
    const box = document.querySelector(sel);
    if (!box) return false;
    for (const c of box.querySelectorAll("canvas")) {
      if (!c.width || !c.height) continue;
      const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      for (let i = 4; i < px.length; i += 4)
        if (px[i] !== px[0] || px[i + 1] !== px[1] || px[i + 2] !== px[2] || px[i + 3] !== px[3])
          return true;
    }
    return false;
  };
  if (!document.querySelector("#trade-table tbody tr")) return false;
  return sels.every(drawn) ? performance.now() : false;
}
"""
TIMING_JS = """() => {
  const n = performance.getEntriesByType("navigation")[0];
  return {response_end: n.responseEnd, dom_interactive: n.domInteractive,
          dom_content_loaded: n.domContentLoadedEventEnd, load: n.loadEventEnd,
          transfer_bytes: n.transferSize, body_bytes: n.decodedBodySize};
}"""


def make_run(root: Path, n: int, timeframe: str) -> tuple[str, dict[str, float]]:
    """Store ``n`` synthetic candles, backtest them from the store, save the run; its id."""
    took: dict[str, float] = {}
    t = time.perf_counter()
    candles = sb.synthetic_candles(n, timeframe=timeframe, seed=11, symbol=SYMBOL)
    store = sb.CandleStore(root / "data")
    store.merge(SYMBOL, timeframe, candles)
    stored = store.read(SYMBOL, timeframe)
    took["candles"] = time.perf_counter() - t
    t = time.perf_counter()
    run = sb.backtest(stored, "sma_cross", fast=10, slow=30, fees=0.001)
    took["backtest"] = time.perf_counter() - t
    t = time.perf_counter()
    run_id = run.save(root / "evidence").name
    took["save"] = time.perf_counter() - t
    return run_id, took


def start_server(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARKBT_", "BACKTEST_"))}
    env["SPARKBT_ADMIN_TOKEN"] = "bench-ui-token-0123456789abcdef"
    dirs = ["--evidence-dir", str(root / "evidence"), "--data-dir", str(root / "data")]
    return benchlib.start_server(
        root, env, ["--workers", "1", *dirs], lambda h: h["ready"] == h["workers"] > 0
    )


def served(url: str, warm: int = 5) -> dict[str, Any]:
    """Seconds to fetch the report page: the first request and the median of ``warm`` more."""
    times, size = [], 0
    with httpx.Client(timeout=120) as client:
        for _ in range(1 + warm):
            t = time.perf_counter()
            resp = client.get(url)
            times.append(time.perf_counter() - t)
            resp.raise_for_status()
            size = len(resp.content)
    return {"cold": times[0], "warm": statistics.median(times[1:]), "bytes": size}


def drawn(url: str, loads: int) -> list[dict[str, float]]:
    """Per load: ms from navigation start until everything is drawn, and navigation timings."""
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            for _ in range(loads):
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                page = context.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
                page.goto(url, wait_until="commit", timeout=120_000)
                handle = page.wait_for_function(
                    DRAWN_JS, arg=CHARTS, polling="raf", timeout=120_000
                )
                row = {"drawn": float(handle.json_value())}
                row |= page.evaluate(TIMING_JS)
                row["rows"] = page.locator("#trade-table tbody tr").count()
                if errors:
                    raise SystemExit(f"page errors: {errors}")
                out.append(row)
                context.close()
        finally:
            browser.close()
    return out


def profile(root: Path, run_id: str) -> dict[str, Any]:
    """Where the cold request's time goes, measured in this process."""
    from sparkbt.adapters.web import reportdata as rd
    from sparkbt.adapters.web import tradetable as tt
    from sparkbt.adapters.web.web import render

    prof: dict[str, Any] = {}
    t = time.perf_counter()
    run = sb.read_evidence(run_id, root / "evidence")
    prof["read run s"] = time.perf_counter() - t
    t = time.perf_counter()
    meta = run.report["metadata"]
    candles = sb.CandleStore(root / "data").read(meta["symbol"], meta["timeframe"])
    prof["read candles s"] = time.perf_counter() - t
    t = time.perf_counter()
    payload = rd.report_payload(run, rd.CandleSource(candles))
    prof["report_payload s"] = time.perf_counter() - t
    t = time.perf_counter()
    found = rd.window_candles(run, rd.CandleSource(candles))
    prof["  window + fingerprint s"] = time.perf_counter() - t
    equity = run.equity["equity"]
    head = run.trades.iloc[:2000]
    parts = (  # (label, module, function name, arguments); a part missing is skipped
        ("  buy-and-hold s", rd, "_buy_and_hold", (run, found.candles)),
        ("  series s", rd, "_series", (run, found.candles)),
        ("  candles s", rd, "_candles", (run, found.candles)),
        ("  trade rows s", tt, "trade_rows", (head,)),
        ("  monthly s", rd, "monthly_returns", (equity, 1e4)),
        ("  drawdowns s", rd, "drawdown_periods", (equity,)),
    )
    for label, module, name, fn_args in parts:
        fn = getattr(module, name, None)
        if fn is None:
            continue
        t = time.perf_counter()
        fn(*fn_args)
        prof[label] = time.perf_counter() - t
    t = time.perf_counter()
    html = render(
        "report.html",
        standalone=False,
        data=payload,
        csv_url="",
        trades_url="",
        request=SimpleNamespace(url=SimpleNamespace(path=f"/ui/runs/{run_id}")),
        user=None,
        csrf_field="",
        csrf_token="",
        private=False,
    )
    prof["render s"] = time.perf_counter() - t
    prof["html bytes"] = len(html.encode())
    prof["JSON bytes by part"] = {
        k: len(json.dumps(v)) for k, v in payload.items() if len(json.dumps(v)) > 2000
    }
    prof["trades"] = payload["trade_count"]
    prof["trade rows in page"] = len(payload["trades"])
    return prof


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candles", type=int, default=1_000_000)
    ap.add_argument("--timeframe", default="1h")
    ap.add_argument("--loads", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="build in this folder and keep it")
    args = ap.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-ui-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        run_id, setup = make_run(root, args.candles, args.timeframe)
        print(f"run {run_id}: {args.candles:,} {args.timeframe} candles; setup", end="")
        print("".join(f" {k} {v:.1f}s" for k, v in setup.items()))
        proc, url = start_server(root)
        try:
            page_url = f"{url}/ui/runs/{run_id}"
            s = served(page_url)
            loads = drawn(page_url, args.loads)
        finally:
            benchlib.stop_server(proc)
        avg = statistics.mean(r["drawn"] for r in loads) / 1000
        ok_served = s["cold"] < TARGET_SERVED_S
        ok_drawn = avg < TARGET_DRAWN_S
        print(f"page size            {s['bytes']:,} bytes")
        print(
            f"served, first (cold) {s['cold']:.3f} s   target < {TARGET_SERVED_S:.0f} s  "
            f"{'ok' if ok_served else 'MISSED'}"
        )
        print(f"served, warm (median){s['warm']:.3f} s")
        print(
            f"drawn in Chromium    {avg:.3f} s (mean of {len(loads)})   "
            f"target < {TARGET_DRAWN_S:.0f} s  {'ok' if ok_drawn else 'MISSED'}"
        )
        for i, r in enumerate(loads, 1):
            print(
                f"  load {i}: response end {r['response_end']:.0f} ms, DOM interactive "
                f"{r['dom_interactive']:.0f} ms, DOMContentLoaded {r['dom_content_loaded']:.0f}"
                f" ms, load {r['load']:.0f} ms, drawn {r['drawn']:.0f} ms ({r['rows']} rows)"
            )
        print("profile (in process, cold):")
        for k, v in profile(root, run_id).items():
            print(f"  {k:26} {v:.3f}" if isinstance(v, float) else f"  {k:26} {v}")
        if not (ok_served and ok_drawn):
            sys.exit(1)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
