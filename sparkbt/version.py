"""Package and engine versions.

``ENGINE_VERSION`` names the simulation/statistics contract (docs/semantics.md).
It is part of every run id, so a change in the numbers sparkbt prints must bump it.
"""

__version__ = "0.1.0"
ENGINE_VERSION = "2"
