"""A fake BTCTurk on loopback: klines/exchangeinfo/trades over HTTP and the trade
channel over WebSocket, from one trade tape, with fault injection.

One websockets server on 127.0.0.1 answers plain GETs through
``process_request`` (REST, byte-for-byte BTCTurk-shaped JSON) and upgrades ``/``
to the WebSocket feed. It runs in its own thread and event loop so both the
async library API and the synchronous CLI can be tested against it.
"""

from __future__ import annotations

import asyncio
import http
import json
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
from websockets.asyncio.server import ServerConnection, serve

TAPE_COLUMNS = ("open", "high", "low", "close", "volume")


class ScaledClock:
    """Unix seconds that start at ``start`` and run ``speed`` times faster than real time."""

    def __init__(self, start: float | None = None, speed: float = 1.0) -> None:
        self.start = time.time() if start is None else start
        self.speed = speed
        self._m0 = time.monotonic()

    def __call__(self) -> float:
        return self.start + (time.monotonic() - self._m0) * self.speed


# ----------------------------------------------------------------------------- tape
@dataclass
class Tape:
    """Every trade of every pair, as the exchange would report it (``D`` ms, ``I`` id)."""

    trades: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_id: int = 100_000_000

    def add(self, symbol: str, ts_ms: int, price: str, amount: str, side: int) -> dict[str, Any]:
        with self.lock:
            self.next_id += 1
            trade = {"D": ts_ms, "I": str(self.next_id), "A": amount, "P": price, "S": side}
            self.trades.setdefault(symbol, []).append(trade)
            return trade

    def of(self, symbol: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.trades.get(symbol, []))


def tape_candles(trades: Iterable[dict[str, Any]], period_s: int) -> pd.DataFrame:
    """Reference candles from a trade list (pandas group-by; exact decimal volumes)."""
    rows = sorted(trades, key=lambda t: (t["D"], int(t["I"])))
    if not rows:
        index = pd.DatetimeIndex([], tz="UTC", name="timestamp").as_unit("ns")
        return pd.DataFrame({c: np.array([], dtype="float64") for c in TAPE_COLUMNS}, index=index)
    df = pd.DataFrame(
        {
            "start": [(t["D"] // 1000) // period_s * period_s for t in rows],
            "price": [float(t["P"]) for t in rows],
            "amount": [Decimal(t["A"]) for t in rows],
        }
    )
    g = df.groupby("start", sort=True)
    out = pd.DataFrame(
        {
            "open": g["price"].first(),
            "high": g["price"].max(),
            "low": g["price"].min(),
            "close": g["price"].last(),
            "volume": g["amount"].apply(lambda s: float(sum(s, Decimal(0)))),
        }
    )
    out.index = pd.DatetimeIndex(
        pd.to_datetime(out.index.to_numpy(), unit="s", utc=True), name="timestamp"
    ).as_unit("ns")
    return out.astype("float64")


def history_tape(
    tape: Tape,
    symbol: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
    period_s: int,
    seed: int = 1,
    quiet_every: int = 7,
) -> None:
    """Random trades from ``start`` to ``end``; every ``quiet_every``-th period has none (a gap)."""
    rng = random.Random(seed)
    price = 250.0
    t0, t1 = int(start.timestamp()), int(end.timestamp())
    for k, p in enumerate(range(t0, t1, period_s)):
        if quiet_every and k % quiet_every == 3:
            continue
        for ts in sorted(rng.randrange(p * 1000, (p + period_s) * 1000) for _ in range(3)):
            price = max(1.0, price + rng.uniform(-2, 2))
            tape.add(
                symbol, ts, f"{price:.2f}", f"{rng.randint(1, 9999) / 1000:.3f}", rng.randint(0, 1)
            )


# ----------------------------------------------------------------------------- faults
@dataclass
class Faults:
    """What the fake does wrong. Counters are consumed as requests arrive."""

    http_429: int = 0  # next N klines requests answer 429 + Retry-After
    retry_after: str = "1"
    http_503: int = 0  # next N klines requests answer 503 (maintenance)
    empty: str = "null"  # shape of an empty klines answer: "null" | "no_data" | "ok"
    float32: bool = False  # klines numbers go through float32, printed with 14 digits
    cap: int = 11_000  # klines return at most this many candles (the latest ones)
    zero_volume_gaps: bool = False  # emit flat zero-volume candles for periods without trades
    duplicates: bool = False  # re-send the newest snapshot trades and every 5th trade as 422
    snapshot_size: int = 50
    # per WebSocket connection, in order: "ok", "drop@S" (abort TCP after S real seconds,
    # no close frame), "silent@S" (stop sending after S seconds, keep the socket open),
    # "refuse" (HTTP 503 at the handshake)
    ws_plan: list[str] = field(default_factory=list)


def _num(value: float, f32: bool) -> str:
    return format(float(np.float32(value)) if f32 else value, ".14g")


def _resolution_seconds(res: str) -> int | None:
    res = res.replace(" ", "").upper()
    if res.isdigit():
        return int(res) * 60 if int(res) in (1, 5, 15, 30, 60, 240) else None
    return {"1D": 86400, "1W": 604800}.get(res)


# ----------------------------------------------------------------------------- server
class FakeBtcturk:
    """``with FakeBtcturk(tape, symbols) as fake:`` → ``fake.url`` / ``fake.ws_url``."""

    def __init__(
        self,
        tape: Tape,
        symbols: Iterable[str],
        *,
        faults: Faults | None = None,
        clock: ScaledClock | None = None,
        live: dict[str, float] | None = None,
        trade_every: float = 0.02,
        quiet: dict[str, tuple[int, int]] | None = None,
        seed: int = 7,
    ) -> None:
        self.tape, self.symbols = tape, list(symbols)
        self.faults = faults or Faults()
        self.clock = clock or ScaledClock()
        self.live = live or {}  # symbol -> starting price of generated live trades
        self.trade_every = trade_every  # real seconds between generated trades
        self.quiet = quiet or {}  # symbol -> (every, phase): no trades in those fake minutes
        self.rng = random.Random(seed)
        self.requests: list[tuple[str, dict[str, str], int]] = []
        self.connections: list[str] = []
        self.subscriptions: list[list[Any]] = []
        self._subscribers: dict[str, set[ServerConnection]] = {}
        self._silent: set[ServerConnection] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: Any = None
        self._gen: asyncio.Task[None] | None = None
        self.generating = threading.Event()

    # -- lifecycle
    def __enter__(self) -> FakeBtcturk:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        self._server = await serve(
            self._ws_handler,
            "127.0.0.1",
            0,
            process_request=self._http,
            ping_interval=None,
            compression=None,
        )
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}/"
        if self.live:
            self._gen = asyncio.create_task(self._generate())

    async def _stop(self) -> None:
        await self._halt()
        self._server.close()
        await self._server.wait_closed()

    async def _halt(self) -> None:
        if self._gen is not None:
            self._gen.cancel()
            await asyncio.gather(self._gen, return_exceptions=True)
            self._gen = None

    def stop_trading(self) -> None:
        """Stop generating trades (the tape is final after this returns)."""
        asyncio.run_coroutine_threadsafe(self._halt(), self._loop).result(10)

    # -- REST
    def _http(self, conn: ServerConnection, request: Any) -> Any:
        parts = urlsplit(request.path)
        if parts.path == "/" and "upgrade" in request.headers.get("Connection", "").lower():
            if self._next_plan(peek=True) == "refuse":
                self._next_plan()
                return self._json(conn, 503, {"message": "Service Unavailable"})
            return None
        params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        status, body, headers = self._route(parts.path, params)
        self.requests.append((parts.path, params, status))
        return self._json(conn, status, body, headers)

    @staticmethod
    def _json(
        conn: ServerConnection, status: int, body: Any, headers: dict[str, str] | None = None
    ) -> Any:
        text = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
        resp = conn.respond(http.HTTPStatus(status), text)
        resp.headers["Content-Type"] = "application/json; charset=utf-8"
        for k, v in (headers or {}).items():
            resp.headers[k] = v
        return resp

    def _route(self, path: str, q: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        f = self.faults
        if path == "/v1/klines/history":
            if f.http_429 > 0:
                f.http_429 -= 1
                body = {"message": "TOO_MANY_REQUESTS", "success": False, "code": 429, "data": None}
                return 429, body, {"Retry-After": f.retry_after}
            if f.http_503 > 0:
                f.http_503 -= 1
                return 503, "<html><body>Service Unavailable</body></html>", {}
            return 200, self._klines(q), {}
        if path == "/api/v2/server/exchangeinfo":
            info = {
                "timeZone": "UTC",
                "serverTime": int(self.clock() * 1000),
                "symbols": [self._symbol_info(s) for s in self.symbols],
            }
            return 200, self._envelope(info), {}
        if path == "/api/v2/trades":
            sym = q.get("pairSymbol", "").upper().replace("_", "")
            if sym not in self.symbols:
                return 400, {"success": False, "message": "Invalid pair symbol", "code": 1002}, {}
            last = int(q.get("last", 50))
            items = [self._rest_trade(sym, t) for t in reversed(self.tape.of(sym)[-last:])]
            return 200, self._envelope(items), {}
        return 404, {"success": False, "message": "Not Found", "code": 404}, {}

    @staticmethod
    def _envelope(data: Any) -> dict[str, Any]:
        return {"success": True, "message": None, "code": 0, "data": data}

    @staticmethod
    def _symbol_info(sym: str) -> dict[str, Any]:
        num, den = sym[:-3], sym[-3:]
        if sym.endswith("USDT"):
            num, den = sym[:-4], "USDT"
        return {
            "id": abs(hash(sym)) % 1000,
            "name": sym,
            "nameNormalized": f"{num}_{den}",
            "status": "TRADING",
            "numerator": num,
            "denominator": den,
            "numeratorScale": 8,
            "denominatorScale": 2,
            "hasFraction": False,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": "0.0000000000001",
                    "maxPrice": "10000000",
                    "tickSize": "1" if den == "TRY" else "0.01",
                    "minExchangeValue": "99.91" if den == "TRY" else "10",
                    "minAmount": None,
                    "maxAmount": None,
                }
            ],
            "orderMethods": ["MARKET", "LIMIT"],
            "displayFormat": "#,###",
            "commissionFromNumerator": False,
            "order": 1,
            "priceRounding": False,
            "isNew": False,
            "marketPriceWarningThresholdPercentage": 0.25,
            "maximumOrderAmount": None,
            "maximumLimitOrderPrice": 0,
            "minimumLimitOrderPrice": 0,
        }

    @staticmethod
    def _rest_trade(sym: str, t: dict[str, Any]) -> dict[str, Any]:
        return {
            "pair": sym,
            "pairNormalized": f"{sym[:-3]}_{sym[-3:]}",
            "numerator": sym[:-3],
            "denominator": sym[-3:],
            "date": t["D"],
            "tid": t["I"],
            "price": t["P"],
            "amount": t["A"],
            "side": "buy" if t["S"] == 0 else "sell",
        }

    def _klines(self, q: dict[str, str]) -> str:
        f = self.faults
        sym = q.get("symbol", "").upper()
        step = _resolution_seconds(q.get("resolution", ""))
        if sym not in self.symbols or step is None:
            return '{"s":"error","errmsg":"Invalid symbol or resolution"}'
        lo, hi = int(q["from"]), int(q["to"])
        trades = [t for t in self.tape.of(sym) if lo * 1000 <= t["D"] < (hi + step) * 1000]
        frame = tape_candles(trades, step)
        frame = frame[
            (frame.index >= pd.Timestamp(lo, unit="s", tz="UTC"))
            & (frame.index <= pd.Timestamp(hi, unit="s", tz="UTC"))
        ]
        if f.zero_volume_gaps and len(frame):
            full = pd.date_range(frame.index[0], frame.index[-1], freq=pd.Timedelta(seconds=step))
            frame = frame.reindex(full)
            frame["close"] = frame["close"].ffill()
            for c in ("open", "high", "low"):
                frame[c] = frame[c].fillna(frame["close"])
            frame["volume"] = frame["volume"].fillna(0.0)
        frame = frame.iloc[-f.cap :] if f.cap else frame
        if frame.empty:
            if f.empty == "no_data":
                return '{"s":"no_data"}'
            s = "null" if f.empty == "null" else '"ok"'
            return '{"s":' + s + ',"t":[],"h":[],"o":[],"l":[],"c":[],"v":[]}'
        cols = {
            k: ",".join(_num(v, f.float32) for v in frame[c])
            for k, c in (
                ("h", "high"),
                ("o", "open"),
                ("l", "low"),
                ("c", "close"),
                ("v", "volume"),
            )
        }
        ts = ",".join(str(int(x) // 10**9) for x in frame.index.asi8)
        arrays = ",".join(f'"{k}":[{cols[k]}]' for k in "holcv")
        return f'{{"s":"ok","t":[{ts}],{arrays}}}'

    # -- WebSocket
    def _next_plan(self, peek: bool = False) -> str:
        k = len(self.connections)
        plan = self.faults.ws_plan[k] if k < len(self.faults.ws_plan) else "ok"
        if not peek:
            self.connections.append(plan)
        return plan

    async def _ws_handler(self, ws: ServerConnection) -> None:
        plan = self._next_plan()
        killer = None
        if "@" in plan:
            action, after = plan.split("@")
            killer = asyncio.create_task(self._fault_later(ws, action, float(after)))
        try:
            await ws.send('[991,{"type":991,"current":"5.1.0","min":"2.3.0"}]')
            async for raw in ws:
                msg = json.loads(raw)
                self.subscriptions.append(msg)
                body = msg[1]
                if msg[0] != 151 or body.get("channel") != "trade":
                    continue
                sym = str(body.get("event", "")).upper()
                if not body.get("join"):
                    self._subscribers.get(sym, set()).discard(ws)
                    continue
                await ws.send(
                    json.dumps([100, {"type": 100, "ok": True, "message": f"join|trade:{sym}"}])
                )
                recent = self.tape.of(sym)[-self.faults.snapshot_size :]
                items = [dict(t) for t in reversed(recent)]  # newest first
                await ws.send(
                    json.dumps(
                        [
                            421,
                            {
                                "type": 421,
                                "symbol": sym,
                                "items": items,
                                "channel": "trade",
                                "event": sym,
                                "join": True,
                            },
                        ]
                    )
                )
                self._subscribers.setdefault(sym, set()).add(ws)
                if self.faults.duplicates:
                    for t in recent[-3:]:  # overlap between the snapshot and the stream
                        await ws.send(self._frame_422(sym, t))
        except Exception:
            pass
        finally:
            for subs in self._subscribers.values():
                subs.discard(ws)
            self._silent.discard(ws)
            if killer is not None:
                killer.cancel()

    async def _fault_later(self, ws: ServerConnection, action: str, after: float) -> None:
        await asyncio.sleep(after)
        if action == "drop":
            ws.transport.abort()  # TCP reset: no close frame
        elif action == "silent":
            self._silent.add(ws)

    @staticmethod
    def _frame_422(sym: str, t: dict[str, Any]) -> str:
        return json.dumps(
            [
                422,
                {
                    "type": 422,
                    "PS": sym,
                    "D": t["D"],
                    "I": t["I"],
                    "A": t["A"],
                    "P": t["P"],
                    "S": t["S"],
                },
            ]
        )

    async def _generate(self) -> None:
        prices = dict(self.live)
        n = 0
        while True:
            await asyncio.sleep(self.trade_every)
            sym = self.rng.choice(list(prices))
            now_ms = int(self.clock() * 1000)
            every, phase = self.quiet.get(sym, (0, 0))
            if every and (now_ms // 60_000) % every == phase:
                continue
            prices[sym] = max(1.0, prices[sym] + self.rng.uniform(-1, 1))
            trade = self.tape.add(
                sym,
                now_ms,
                f"{prices[sym]:.2f}",
                f"{self.rng.randint(1, 5000) / 1000:.3f}",
                self.rng.randint(0, 1),
            )
            n += 1
            frame = self._frame_422(sym, trade)
            for ws in list(self._subscribers.get(sym, ())):
                if ws in self._silent:
                    continue
                try:
                    await ws.send(frame)
                    if self.faults.duplicates and n % 5 == 0:
                        await ws.send(frame)
                except Exception:
                    continue
