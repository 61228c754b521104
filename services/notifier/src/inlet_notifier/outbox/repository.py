"""Where the outbox consumer takes events from: the port, and its SQL adapter."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from psycopg import AsyncConnection, errors
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from inlet_common.sqlfiles import NamedQueries
from inlet_notifier.errors import wrap_exceptions

_QUERIES = NamedQueries("inlet_notifier.outbox", "sql")


@dataclass(frozen=True)
class Taken:
    """One batch taken: how many events left the outbox, and the deliveries they made."""

    events: int
    deliveries: int


class OutboxRepository(Protocol):
    async def take(self, limit: int) -> Taken:
        """Move up to `limit` of the oldest events into deliveries (keeping as webhook
        events those that have one), atomically; Taken(0, 0) when the outbox is empty (or
        all of it is being taken)."""
        ...


# The take's webhook-event insert, and the same for a batch with an id already kept.
_INSERT = "RETURNING id\n"
_INSERT_NEW_ONLY = "ON CONFLICT (id) DO NOTHING " + _INSERT


@cache
def _take_sql(new_only: bool) -> str:
    sql = _QUERIES.sql["take_outbox_events"]
    assert sql.count(_INSERT) == 1
    return sql.replace(_INSERT, _INSERT_NEW_ONLY) if new_only else sql


async def take_batch(conn: AsyncConnection[Any], limit: int) -> Taken:
    """The one statement that takes a batch, on `conn` (in the caller's transaction, if any)."""
    # On an autocommit connection a failed take leaves nothing and can simply run again; in
    # a transaction it would abort the caller's, so there it skips kept ids at once.
    plain = conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE
    try:
        found = await _take(conn, limit, new_only=not plain)
    except errors.UniqueViolation:
        if not plain:
            raise
        found = await _take(conn, limit, new_only=True)
    return Taken(int(found["taken"]), int(found["deliveries"]))


async def _take(conn: AsyncConnection[Any], limit: int, *, new_only: bool) -> dict[str, Any]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_take_sql(new_only), {"limit": limit})
        found = await cur.fetchone()
    assert found is not None
    return found


class SqlOutbox:
    """OutboxRepository over the shared database: one statement per batch."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool

    async def take(self, limit: int) -> Taken:
        async with wrap_exceptions(), self.pool.connection() as conn:
            return await take_batch(conn, limit)
