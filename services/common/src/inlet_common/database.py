"""One way to open a PostgreSQL pool: autocommit, and jsonb read and written exactly."""

from __future__ import annotations

import weakref
from typing import Any

import psycopg
from psycopg.types.json import set_json_dumps, set_json_loads
from psycopg_pool import AsyncConnectionPool

from inlet_common import exactjson, metrics, tracing


async def _exact_json(conn: psycopg.AsyncConnection[Any]) -> None:
    # psycopg's default json module reads 0.1 as a float and 1.50 as 1.5; PostgreSQL's
    # jsonb keeps every digit, so read and write it with exact numbers.
    set_json_loads(exactjson.loads, conn)
    set_json_dumps(exactjson.dumps, conn)


# What each connection's inlet.traceparent holds now, so an unchanged one is not re-sent.
_CARRIED: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], str] = weakref.WeakKeyDictionary()


async def _carry_trace(conn: psycopg.AsyncConnection[Any]) -> None:
    """On every checkout (tracing on only): the caller's traceparent becomes the session's
    inlet.traceparent, which column defaults keep (outbox events, activity entries)."""
    current = tracing.traceparent() or ""
    if _CARRIED.get(conn, "") != current:
        await conn.execute("SELECT set_config('inlet.traceparent', %s, false)", (current,))
        _CARRIED[conn] = current


async def open_pool(
    url: str,
    *,
    min_size: int = 2,
    max_size: int = 20,
    name: str = "main",
    carry_trace: bool = False,
) -> AsyncConnectionPool[Any]:
    """An open pool on `url` (waits up to 30 s for its first connections); its usage is
    exported as inlet_db_pool_* metrics labelled `name`. `carry_trace`: with tracing on,
    each checkout sets inlet.traceparent (the store's columns default to it)."""
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        open=False,
        kwargs={"autocommit": True},
        configure=_exact_json,
        # Only with tracing on: one statement per checkout whose trace changed.
        check=_carry_trace if carry_trace and tracing.enabled() else None,
    )
    await pool.open(wait=True, timeout=30)
    metrics.POOLS.watch(name, pool)
    return pool
