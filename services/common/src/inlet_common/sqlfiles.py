"""Named SQL queries kept in .sql files (`-- name: x` blocks), loaded from a package."""

from __future__ import annotations

import re
from functools import cached_property
from importlib import resources
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def parse(text: str) -> dict[str, str]:
    """Split a queries file into {name: sql}; comment lines are dropped."""
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


def load(package: str, folder: str = "sql/queries") -> dict[str, str]:
    """Every named query in `package`'s `folder`/*.sql; a name used twice is an error."""
    found: dict[str, str] = {}
    directory = resources.files(package).joinpath(folder)
    for entry in sorted(directory.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql"):
            continue
        for name, sql in parse(entry.read_text()).items():
            if name in found:
                raise ValueError(f"query {name!r} defined in more than one file")
            found[name] = sql
    return found


class NamedQueries:
    """A package's named queries, run by name on a given psycopg connection.

    Loaded on first use (no I/O at import); one instance per package.
    """

    def __init__(self, package: str, folder: str = "sql/queries") -> None:
        self.package = package
        self.folder = folder

    @cached_property
    def sql(self) -> dict[str, str]:
        return load(self.package, self.folder)

    async def rows(
        self, conn: AsyncConnection[Any], name: str, **params: Any
    ) -> list[dict[str, Any]]:
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(self.sql[name], params)
            return await cur.fetchall()

    async def row(
        self, conn: AsyncConnection[Any], name: str, **params: Any
    ) -> dict[str, Any] | None:
        found = await self.rows(conn, name, **params)
        return found[0] if found else None

    async def execute(self, conn: AsyncConnection[Any], name: str, **params: Any) -> int:
        async with conn.cursor() as cur:
            await cur.execute(self.sql[name], params)
            return cur.rowcount
