"""Endpoint push: one call per push, concurrent pushes committed together."""
