"""The ``sparkbt`` command line: typer commands that parse, hand off and print."""
