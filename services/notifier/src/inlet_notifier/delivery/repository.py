"""The delivery worker's named SQL (delivery/sql), run on a given connection."""

from __future__ import annotations

from inlet_common.sqlfiles import NamedQueries

_QUERIES = NamedQueries("inlet_notifier.delivery", "sql")
rows = _QUERIES.rows
row = _QUERIES.row
execute = _QUERIES.execute
