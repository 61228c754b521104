"""The store's named SQL queries, from sql/queries/*.sql (one file per capability)."""

from __future__ import annotations

from inlet_common.sqlfiles import NamedQueries

STORE = NamedQueries("inlet_store")


def queries() -> dict[str, str]:
    return STORE.sql


def q(name: str) -> str:
    """The SQL of the named query."""
    return STORE.sql[name]
