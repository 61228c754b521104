"""SQL access for the notifier: every statement runs here, by name, on a given connection."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Json, Jsonb

from inlet_common.sqlfiles import NamedQueries

Conn = AsyncConnection[Any]


# Run a named query on a connection (inlet_common.sqlfiles holds the one implementation).
QUERIES = NamedQueries("inlet_notifier")
rows = QUERIES.rows
row = QUERIES.row
execute = QUERIES.execute


def jsonb(value: Any) -> Jsonb:
    return Jsonb(value)


def json(value: Any) -> Json:
    """For json columns: what clients sent, kept as text (jsonb would rewrite numbers)."""
    return Json(value)
