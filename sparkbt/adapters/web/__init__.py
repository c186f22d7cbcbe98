"""Web UI: pages, charts and the static assets they load, served offline."""
