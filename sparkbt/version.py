"""Package and engine versions.

``ENGINE_VERSION`` names the simulation/statistics contract (docs/semantics.md).
It is part of every run id, so a change in the numbers sparkbt prints must bump it.
"""

__version__ = "0.1.0"
ENGINE_VERSION = "3"
TARGETS_VERSION = "2"
"""The contract a single-symbol target run is made under.

Engine v3 adds portfolios, orders and exchange rules, and gives a single-symbol
target run v2's numbers bit for bit; such a run therefore keeps naming v2 in its
run id and evidence, so every id and file made before v3 stays valid.
"""
