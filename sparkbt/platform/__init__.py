"""The application layer: every action of the HTTP API, the web UI and the CLI (jobs,
users, proposals, decisions), its SQLite stores, workers, audit and metrics.
"""
