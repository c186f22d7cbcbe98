"""Built-in sparkbt strategies: plain functions returning target-position series.

Each module defines one function of the same name. sparkbt loads these files
by path (see ``sparkbt.registry``), so this package needs no imports.
"""
