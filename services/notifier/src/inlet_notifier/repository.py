"""SQL access for the notifier: every statement runs here, by name, on a given connection."""

from __future__ import annotations

from functools import cache
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from inlet_common import sqlfiles

Conn = AsyncConnection[Any]


@cache
def queries() -> dict[str, str]:
    return sqlfiles.load("inlet_notifier")


async def rows(conn: Conn, name: str, **params: Any) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(queries()[name], params)
        return await cur.fetchall()


async def row(conn: Conn, name: str, **params: Any) -> dict[str, Any] | None:
    found = await rows(conn, name, **params)
    return found[0] if found else None


async def execute(conn: Conn, name: str, **params: Any) -> int:
    async with conn.cursor() as cur:
        await cur.execute(queries()[name], params)
        return cur.rowcount


def jsonb(value: Any) -> Jsonb:
    return Jsonb(value)
