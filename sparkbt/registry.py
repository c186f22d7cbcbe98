"""What a strategy module imports to declare its parameters: ``Param`` and ``constraint``.

Strategies are plain modules (``from sparkbt.registry import Param, constraint``);
the registry itself is :mod:`sparkbt.engine.registry`.
"""

from sparkbt.engine.registry import Param, constraint

__all__ = ["Param", "constraint"]
