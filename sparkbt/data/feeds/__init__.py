"""Exchange market data feeds into the local candle store.

``sparkbt.data.feeds.btcturk`` holds the BTCTurk clients (REST history, live
WebSocket trades). Importing this package is cheap: httpx and websockets are
imported only when a client is used (``pip install sparkbt[feeds]``).
"""

from __future__ import annotations

__all__: list[str] = []
