"""Build tools of the repository (run from its root, e.g. `python -m tools.openapi`)."""
