"""``python -m sparkbt``: the same CLI as the ``sparkbt`` console script."""

from sparkbt.cli import main

main()
