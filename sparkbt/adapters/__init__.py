"""Adapters: the command line, the HTTP API and the web UI, thin layers over
``sparkbt.platform``."""
