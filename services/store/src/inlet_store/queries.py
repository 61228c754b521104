"""The store's named SQL queries, from sql/queries/*.sql (one file per capability)."""

from __future__ import annotations

from functools import cache

from inlet_common import sqlfiles


@cache
def queries() -> dict[str, str]:
    return sqlfiles.load("inlet_store")


def q(name: str) -> str:
    """The SQL of the named query."""
    return queries()[name]
