"""``python -m sparkbt``: the same CLI as the ``sparkbt`` console script."""

from sparkbt.adapters.cli.app import main

main()
