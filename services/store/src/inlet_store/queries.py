"""Named SQL queries loaded from sql/queries.sql (`-- name: x` blocks)."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def parse(text: str) -> dict[str, str]:
    """Split a queries file into {name: sql}; comments above a block stay with the previous."""
    parts = _NAME.split(text)
    found: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        sql = "\n".join(
            line for line in body.strip().splitlines() if not line.startswith("--")
        ).strip()
        if name in found:
            raise ValueError(f"query {name!r} defined twice")
        found[name] = sql.rstrip(";")
    return found


@cache
def queries() -> dict[str, str]:
    return parse(resources.files("inlet_store").joinpath("sql/queries.sql").read_text())


def q(name: str) -> str:
    """The SQL of the named query."""
    return queries()[name]
