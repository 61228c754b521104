"""Named SQL queries from sql/queries/*.sql (`-- name: x` blocks), a file per capability."""

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
    found: dict[str, str] = {}
    folder = resources.files("inlet_store").joinpath("sql/queries")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql"):
            continue
        for name, sql in parse(entry.read_text()).items():
            if name in found:
                raise ValueError(f"query {name!r} defined in more than one file")
            found[name] = sql
    return found


def q(name: str) -> str:
    """The SQL of the named query."""
    return queries()[name]
